"""Single-decree Paxos in Lamport's message-set formulation (the TLA+ module Paxos).

Acceptors remember the highest ballot they promised (``max_bal``) and the last vote they cast
(``max_vbal``, ``max_val``). Every message ever sent stays in the set ``msgs``, so a message can be
received any number of times, in any order, or never: loss, duplication and reordering come for
free. Phase 1a: a leader asks for promises for ballot b. Phase 1b: an acceptor that has not
promised a higher ballot promises b and reports its last vote. Phase 2a: once a quorum has
promised b, the leader proposes the value of the highest vote those promises report, or any
value if they report none (at most one 2a message per ballot). Phase 2b: an acceptor that has not
promised a higher ballot votes for the proposal. A value is chosen when a quorum has voted for it
in the same ballot.

Source: L. Lamport, "Paxos Made Simple" (2001), and the TLA+ module Paxos.tla from the TLA+
examples. With 3 acceptors, 2 values, ballots 0..1 and majority quorums TLC finds 3,921 distinct
states; so does this model without symmetry.

Abstraction: leaders are not modelled as processes (any 1a and 2a message may be sent when its
guard holds), which covers every behaviour of any number of proposers. Ballots are bounded by
``ballots``; safety for bounded ballots is what an exhaustive check can establish.

Parameters: ``acceptors``, ``values``, ``ballots`` (ballots 0..ballots-1), and the quorum
sizes ``q1`` (phase 1) and ``q2`` (phase 2), a majority of the acceptors by default. Any sizes
with ``q1 + q2 > acceptors`` are safe (Flexible Paxos, Howard, Malkhi and Spiegelman 2016):
``python -m checker params models/paxos.py --query intersect:phase1,phase2 --all`` lists the
points where they are not. Acceptors and values are interchangeable (symmetric).

Properties: ``agreement`` (at most one value is chosen) and ``value_chosen`` (sometimes).
To see a failure, run with ``-p q1=1 -p q2=2`` (with 3 acceptors the quorums need not intersect).
"""

from itertools import combinations

from checker import Map, Model, Record, action, ids, invariant, param, sometimes
from checker.params import formula, quorum


class Msg1a(Record):
    bal: int


class Msg1b(Record):
    acc: object
    bal: int
    mbal: int
    mval: object


class Msg2a(Record):
    bal: int
    val: object


class Msg2b(Record):
    acc: object
    bal: int
    val: object


class State(Record):
    max_bal: Map
    max_vbal: Map
    max_val: Map
    msgs: frozenset


def sent(msgs: frozenset, msg: Record) -> frozenset:
    """``msgs`` with ``msg``: the same object when it is already there, so that a step that
    changes nothing returns the state itself (which the checker need not fingerprint)."""
    return msgs if msg in msgs else msgs | {msg}


class Paxos(Model):
    acceptors = param(3, range(1, 8), "number of acceptors")
    values = param(2, range(1, 5), "number of values that may be proposed")
    ballots = param(2, range(1, 6), "number of ballots (0..ballots-1)")
    q1 = param(formula("acceptors // 2 + 1"), range(1, 8), "phase-1 quorum size")
    q2 = param(formula("acceptors // 2 + 1"), range(1, 8), "phase-2 quorum size")
    assume = ("q1 <= acceptors", "q2 <= acceptors")
    quorums = {"phase1": quorum("q1", of="acceptors"), "phase2": quorum("q2", of="acceptors")}
    symmetric = ("acceptor", "value")

    def setup(self):
        self.A = ids("acceptor", self.acceptors)
        self.V = ids("value", self.values)
        self.B = tuple(range(self.ballots))
        self.phase2_quorums = [frozenset(q) for q in combinations(self.A, self.q2)]
        # Messages the guards look for, built once: the same objects every time.
        self.msg1a = {b: Msg1a(b) for b in self.B}
        self.msg2a = {(b, v): Msg2a(b, v) for b in self.B for v in self.V}
        self.proposals = {b: frozenset(Msg2a(b, v) for v in self.V) for b in self.B}

    def init(self):
        return State(
            max_bal=Map({a: -1 for a in self.A}),
            max_vbal=Map({a: -1 for a in self.A}),
            max_val=Map({a: None for a in self.A}),
            msgs=frozenset(),
        )

    @action(over="B")
    def phase1a(self, s, b):
        return s.replace(msgs=sent(s.msgs, self.msg1a[b]))

    @action(over=("A", "B"))
    def phase1b(self, s, a, b):
        if self.msg1a[b] in s.msgs and b > s.max_bal[a]:
            reply = Msg1b(a, b, s.max_vbal[a], s.max_val[a])
            return s.replace(max_bal=s.max_bal.set(a, b), msgs=s.msgs | {reply})

    @action(over=("B", "V"))
    def phase2a(self, s, b, v):
        if not self.proposals[b].isdisjoint(s.msgs):
            return None
        promises = [m for m in s.msgs if type(m) is Msg1b and m.bal == b]
        if len(promises) < self.q1:
            return None
        for promised in combinations(promises, self.q1):
            voted = [m for m in promised if m.mbal >= 0]
            if not voted:
                return s.replace(msgs=s.msgs | {self.msg2a[b, v]})
            highest = max(m.mbal for m in voted)
            if any(m.mval == v and m.mbal == highest for m in voted):
                return s.replace(msgs=s.msgs | {self.msg2a[b, v]})
        return None

    @action(over=("A", "B", "V"))
    def phase2b(self, s, a, b, v):
        if self.msg2a[b, v] in s.msgs and b >= s.max_bal[a]:
            return s.replace(
                max_bal=s.max_bal.set(a, b),
                max_vbal=s.max_vbal.set(a, b),
                max_val=s.max_val.set(a, v),
                msgs=sent(s.msgs, Msg2b(a, b, v)),
            )

    def chosen(self, s):
        """The values some phase-2 quorum voted for in one ballot."""
        votes = {}
        for m in s.msgs:
            if type(m) is Msg2b:
                votes.setdefault((m.bal, m.val), set()).add(m.acc)
        return {val for (_, val), accs in votes.items() if len(accs) >= self.q2}

    @invariant
    def agreement(self, s):
        return len(self.chosen(s)) <= 1

    @sometimes
    def value_chosen(self, s):
        return len(self.chosen(s)) > 0
