"""Single-decree Paxos with proposer and acceptor processes exchanging real messages.

Each proposer runs one ballot per round: it sends Prepare(b) to every acceptor; an acceptor that
has promised no higher ballot promises b and reports the last proposal it accepted. With
promises from a majority, the proposer sends Accept(b, v) where v is the value of the
highest-ballot accepted proposal among the promises, or its own value if there is none. An
acceptor accepts Accept(b, v) unless it has promised a higher ballot. A value is chosen once a
majority of acceptors has accepted it in one ballot; acceptors keep the set of proposals they
accepted as a history (``votes``) so the properties can name chosen values.

Source: L. Lamport, "Paxos Made Simple" (2001). This is the actor-layer twin of
``models/paxos.py``: the same properties over explicit processes, a network and faults.

Abstraction: proposer i owns ballots i+1, i+1+P, ... (P proposers, ``rounds`` ballots each),
which keeps ballots unique without a ballot service; a proposer starts a round when its
``propose`` timer fires. Messages travel on an unordered network; the fault budgets
(``--max-drops``, ``--max-duplicates``, ``--max-crashes``) add loss, duplication and acceptor
crashes (promises and votes are durable, so a crash-restart keeps them).

Parameters: ``proposers`` (2), ``acceptors`` (3), ``rounds`` (1), ``bug`` (``none``).
Properties: ``agreement`` (at most one value is chosen), ``value_chosen`` (sometimes).

To see a failure, set ``-p bug=no_promise_check`` (acceptors accept proposals of ballots lower
than they promised) or ``-p bug=ignore_promised_value`` (a proposer proposes its own value even
when a promise reports an accepted one): both break ``agreement``.
"""

from checker import Id, Record, invariant, param, sometimes
from checker.actors import ActorModel, Role


class Prepare(Record):
    ballot: int


class Promise(Record):
    ballot: int
    accepted_ballot: int
    accepted_value: object


class Accept(Record):
    ballot: int
    value: object


class Accepted(Record):
    ballot: int
    value: object


class ProposerState(Record):
    value: object
    round: int = 0
    ballot: int = 0
    promises: frozenset = frozenset()
    proposed: bool = False


class AcceptorState(Record):
    promised: int = 0
    accepted_ballot: int = 0
    accepted_value: object = None
    votes: frozenset = frozenset()


class Proposer(Role):
    def start(self, me, ctx):
        ctx.set_timer("propose")
        return ProposerState(Id("value", me.index))

    def on_timer(self, me, local, timer, ctx):
        model = self.model
        ballot = local.round * model.proposers + me.index + 1
        ctx.broadcast("acceptor", Prepare(ballot))
        if local.round + 1 < model.rounds:
            ctx.set_timer("propose")
        return local.replace(round=local.round + 1, ballot=ballot, promises=frozenset(),
                             proposed=False)

    def on_message(self, me, local, src, msg, ctx):
        if type(msg) is not Promise or msg.ballot != local.ballot or local.proposed:
            return local
        promises = local.promises | {(src, msg.accepted_ballot, msg.accepted_value)}
        if len(promises) < self.model.majority:
            return local.replace(promises=promises)
        value = local.value
        reported = [p for p in promises if p[1] > 0]
        if reported and self.model.bug != "ignore_promised_value":
            value = max(reported, key=lambda p: p[1])[2]
        ctx.broadcast("acceptor", Accept(local.ballot, value))
        return local.replace(promises=promises, proposed=True)


class Acceptor(Role):
    symmetric = True
    durable = ("promised", "accepted_ballot", "accepted_value", "votes")

    def start(self, me, ctx):
        return AcceptorState()

    def on_message(self, me, local, src, msg, ctx):
        if type(msg) is Prepare:
            if msg.ballot <= local.promised:
                return local
            ctx.send(src, Promise(msg.ballot, local.accepted_ballot, local.accepted_value))
            return local.replace(promised=msg.ballot)
        if type(msg) is Accept:
            if msg.ballot < local.promised and self.model.bug != "no_promise_check":
                return local
            ctx.send(src, Accepted(msg.ballot, msg.value))
            return local.replace(
                promised=max(local.promised, msg.ballot),
                accepted_ballot=msg.ballot,
                accepted_value=msg.value,
                votes=local.votes | {(msg.ballot, msg.value)},
            )
        return local


class PaxosActors(ActorModel):
    network = "unordered"
    proposers = param(2, range(1, 4), "number of proposers (proposer i proposes value i)")
    acceptors = param(3, range(1, 6), "number of acceptors")
    rounds = param(1, range(1, 4), "ballots each proposer may try")
    bug = param("none", ("none", "no_promise_check", "ignore_promised_value"),
                "which mistake to make (none: correct Paxos)")

    def roles(self):
        return {Proposer: self.proposers, Acceptor: self.acceptors}

    def setup(self):
        self.majority = self.acceptors // 2 + 1

    def chosen(self, world):
        """Values a majority of acceptors accepted in one ballot."""
        count = {}
        for _, acceptor in world.of("acceptor"):
            for vote in acceptor.votes:
                count[vote] = count.get(vote, 0) + 1
        return {value for (_, value), n in count.items() if n >= self.majority}

    @invariant
    def agreement(self, world):
        return len(self.chosen(world)) <= 1

    @sometimes
    def value_chosen(self, world):
        return len(self.chosen(world)) > 0
