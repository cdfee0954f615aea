"""Two-phase commit, as in Gray and Lamport's TLA+ specification TwoPhase.

A transaction manager (TM) and a set of resource managers (RMs) decide together whether a
transaction commits. Each RM is working, then either prepares (and tells the TM) or chooses to
abort on its own. The TM commits once every RM has told it that it is prepared, or aborts at any
time before that; it broadcasts its decision and the RMs follow it.

Source: L. Lamport, "Consensus on Transaction Commit" (Gray and Lamport, 2004), TLA+ module
TwoPhase. The semantics here are exactly those of TwoPhase: messages live in one set ``msgs`` that
only grows (so any message may be received any number of times, in any order, or never), and
the TM's knowledge of prepared RMs is the set ``tm_prepared``.

Abstraction: there is one transaction and no failures beyond what the message set already
allows (a message that is never received is a lost message). Nothing is bounded, so the check is
exhaustive for the given number of RMs. With 3 RMs there are 288 distinct states, with 5 there are
8,832 (the figures TLC reports for TwoPhase).

Property: ``consistent``: no RM has committed while another has aborted.

To see a failure, drop the guard ``tm_prepared == all RMs`` from ``tm_commit``: the TM then
commits while an RM may still choose to abort.
"""

from checker import Map, Model, Record, action, ids, invariant, param, sometimes


class Prepared(Record):
    rm: object


class Commit(Record):
    pass


class Abort(Record):
    pass


COMMIT = Commit()
ABORT = Abort()


class State(Record):
    rm_state: Map
    tm_state: str
    tm_prepared: frozenset
    msgs: frozenset


class TwoPhaseCommit(Model):
    rms = param(3, range(1, 12), "number of resource managers")
    symmetric = ("rm",)

    def setup(self):
        self.RM = ids("rm", self.rms)
        self.all_rms = frozenset(self.RM)
        self.prepared = {rm: Prepared(rm) for rm in self.RM}

    def init(self):
        return State(
            rm_state=Map({rm: "working" for rm in self.RM}),
            tm_state="init",
            tm_prepared=frozenset(),
            msgs=frozenset(),
        )

    @action(over="RM")
    def tm_rcv_prepared(self, s, rm):
        if s.tm_state == "init" and self.prepared[rm] in s.msgs:
            # Receiving a prepared message again changes nothing: the state itself.
            return s if rm in s.tm_prepared else s.replace(tm_prepared=s.tm_prepared | {rm})

    @action
    def tm_commit(self, s):
        if s.tm_state == "init" and s.tm_prepared == self.all_rms:
            return s.replace(tm_state="committed", msgs=s.msgs | {COMMIT})

    @action
    def tm_abort(self, s):
        if s.tm_state == "init":
            return s.replace(tm_state="aborted", msgs=s.msgs | {ABORT})

    @action(over="RM")
    def rm_prepare(self, s, rm):
        if s.rm_state[rm] == "working":
            return s.replace(rm_state=s.rm_state.set(rm, "prepared"),
                             msgs=s.msgs | {self.prepared[rm]})

    @action(over="RM")
    def rm_choose_to_abort(self, s, rm):
        if s.rm_state[rm] == "working":
            return s.replace(rm_state=s.rm_state.set(rm, "aborted"))

    @action(over="RM")
    def rm_rcv_commit_msg(self, s, rm):
        if COMMIT in s.msgs:
            return s.replace(rm_state=s.rm_state.set(rm, "committed"))

    @action(over="RM")
    def rm_rcv_abort_msg(self, s, rm):
        if ABORT in s.msgs:
            return s.replace(rm_state=s.rm_state.set(rm, "aborted"))

    @invariant
    def consistent(self, s):
        states = set(s.rm_state.values())
        return not ("committed" in states and "aborted" in states)

    @sometimes
    def committed(self, s):
        return s.tm_state == "committed"
