"""Naive consensus: acceptors keep whatever proposal arrived last.

Each proposer sends its own value to every acceptor. An acceptor overwrites its value with each
proposal it receives and reports the value back to the proposer. A proposer decides its value
once a majority of acceptors has reported it. This is the "obvious" protocol that Paxos exists
to fix: with two proposers, a majority can report one value, then a majority (sharing an
acceptor with the first) can be overwritten by the other value, and the two proposers decide
differently.

Source: the naive consensus sketched in this project's origin material, the usual first attempt
before Paxos (Lamport, "Paxos Made Simple", section 2.2, shows why acceptors must not simply
take the last proposal).

Abstraction: one decision, messages on an unordered network (any delivery order), no failures:
the bug needs none. Proposer i proposes value i.

Property ``agreement``: no two proposers decide different values. It breaks with the default
parameters (2 proposers, 3 acceptors): the shortest counterexample has 9 states.
"""

from checker import Id, Record, invariant, param, sometimes
from checker.actors import ActorModel, Role


class Propose(Record):
    value: object


class Report(Record):
    value: object


class ProposerState(Record):
    value: object
    reported_by: frozenset = frozenset()
    decided: object = None


class AcceptorState(Record):
    value: object = None


class Proposer(Role):
    def start(self, me, ctx):
        value = Id("value", me.index)
        ctx.broadcast("acceptor", Propose(value))
        return ProposerState(value)

    def on_message(self, me, local, src, msg, ctx):
        if msg.value != local.value:
            return local
        reported_by = local.reported_by | {src}
        decided = local.decided
        if decided is None and len(reported_by) >= self.model.majority:
            decided = local.value
        return local.replace(reported_by=reported_by, decided=decided)


class Acceptor(Role):
    symmetric = True

    def start(self, me, ctx):
        return AcceptorState()

    def on_message(self, me, local, src, msg, ctx):
        ctx.send(src, Report(msg.value))
        return local.replace(value=msg.value)


class NaivePaxos(ActorModel):
    network = "unordered"
    proposers = param(2, range(1, 4), "number of proposers (proposer i proposes value i)")
    acceptors = param(3, range(1, 6), "number of acceptors")

    def roles(self):
        return {Proposer: self.proposers, Acceptor: self.acceptors}

    def setup(self):
        self.majority = self.acceptors // 2 + 1

    def decisions(self, world):
        return {p.decided for _, p in world.of("proposer") if p.decided is not None}

    @invariant
    def agreement(self, world):
        return len(self.decisions(world)) <= 1

    @sometimes
    def decided(self, world):
        return len(self.decisions(world)) > 0
