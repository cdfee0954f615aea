"""Raft: leader election and log replication, with crash-restarts and an unreliable network.

Each server is a follower, a candidate or a leader, in a numbered term. A follower whose
election timer fires becomes a candidate in the next term, votes for itself and asks every
other server for its vote (RequestVote); a server grants at most one vote per term (votedFor),
and only to a candidate whose log is at least as up to date as its own (last term, then
length). A candidate with votes from a majority leads the term: it sends AppendEntries to every
follower, appends client values to its log and sends them on. A follower accepts AppendEntries
only if its log holds the entry just before the new ones (prevLogIndex, prevLogTerm), deletes a
conflicting suffix, appends what it lacks and learns the leader's commit index. A leader
decrements a follower's nextIndex and retries when the check fails, and commits an index once a
majority stores it and the entry there is of its own term (section 5.4.2). A server seeing a
higher term in any message adopts it and becomes a follower. currentTerm, votedFor and the log
survive a crash; everything else is lost.

Source: D. Ongaro and J. Ousterhout, "In Search of an Understandable Consensus Algorithm
(Extended Version)", 2014: Figure 2 (state, RPCs, rules), Figure 3 (the properties) and
Figure 8 (committing entries of an earlier term). Messages carry Figure 2's fields; the sender's
id is the envelope's, and AppendEntries replies also carry the index they acknowledge (the
leader's matchIndex; for a rejection, the prevLogIndex that failed), since on a network replies
are not paired with requests.

Network and faults: every message sent stays in the network ("unordered-duplicating"), so any
message can be delivered late, in any order, any number of times, or never (loss). Crash-restarts
come from the fault budgets (``restarts`` sets ``max_crashes`` and ``max_restarts``). Replies that
can no longer change their receiver (of an older term, votes to a server no longer a candidate
in that term, acknowledgements the leader already has) are forgotten by the network, and a vote
denial in the current term is not sent at all: delivering any of them changes nothing, so this
removes no behaviour. AppendEntries is sent when a leader is elected (its first heartbeat), for
each client value, for each retry, and when the leader's commit index advances (the heartbeat
that tells followers); idle heartbeats would only repeat a message already in the network.
With ``stale_replies=False`` a server does not answer a request of an older term: the reply is
lost, as the network may lose any message, so every run is still a run of Raft, only with
fewer of them (a deposed leader then learns the new term from that term's RequestVote).

Bounds, and what they cover. Terms up to ``max_term`` and at most ``elections`` election
timeouts in all (a constraint: states beyond are checked but not expanded), ``values`` client
values (a leader appends a value only if its log lacks it, so logs hold at most ``values``
entries; a new leader may append a value an old one lost, which is how logs diverge), and
``restarts``. ``elections`` bounds split votes and re-elections together: with 2, either two
terms with one candidate each or one term with two. One value gives logs of at most one entry,
so logs conflict at index 1 only; a log grows past a conflict only with two values. Each bound
removes runs, never adds any. All five properties are safety properties, so a violation found
within the bounds is a real execution, and a pass holds for every execution within them. The
defaults of the correct protocol (3 servers, terms up to 2, 2 elections, 1 value, 1 restart)
cover a leader elected, a value replicated and committed, a second election that must keep it,
and a server that crashes, restarts and catches up. Each bug variant takes by default the
smallest bounds that expose it (``max_term``, ``elections``, ``values``, ``restarts`` and
``stale_replies`` are formulas of ``bug``). Figure 8 needs four elections, and there the stale
replies multiply the states beyond reach (over 1.8 million orbits by depth 15 of 24, doubling
per level); without them the search finds it in 864,177 orbits.

Parameters: ``bug`` (none), ``servers`` (3), ``max_term``, ``elections``, ``values``,
``restarts``, ``stale_replies`` (True but for figure8). Servers are symmetric, and so are
values.

Properties (Figure 3): ``election_safety`` (at most one leader per term), ``log_matching``,
``leader_completeness`` (an entry committed in a term, i.e. a leader's entry of its own term
stored by a majority and everything before it, is in the log of every leader of a later term),
``state_machine_safety`` (no two servers apply different entries at one index), and the action
invariant ``leader_append_only``; ``leader_elected``, ``entry_committed`` and
``restarted_server_catches_up`` must be reachable. Ghost fields of the servers keep the history
the properties need (terms won with the log at election, entries committed, entries applied).

To see a failure: ``-p bug=volatile_vote`` (votedFor is not persisted: a server votes twice in
a term across a restart and the term gets two leaders: election_safety, 9 states);
``-p bug=no_up_to_date_check`` (votes without the log comparison: a leader without a committed
entry, leader_completeness, 10 states); ``-p bug=no_prev_log_check`` (AppendEntries accepted
without comparing prevLogTerm: log_matching, 15 states); ``-p bug=figure8`` (a leader commits
an entry of an earlier term by counting replicas, the paper's Figure 8: state_machine_safety,
25 states, four elections, about 100 s on one core, 60 s with --workers 2).
"""

from checker import (
    Map,
    Record,
    action_invariant,
    constraint,
    ids,
    invariant,
    param,
    sometimes,
)
from checker.actors import ActorModel, Role, node_action
from checker.params import formula

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"
BUGS = ("none", "figure8", "volatile_vote", "no_up_to_date_check", "no_prev_log_check")


class RequestVote(Record):
    term: int
    last_log_index: int
    last_log_term: int


class RequestVoteResponse(Record):
    term: int
    vote_granted: bool


class AppendEntries(Record):
    term: int
    prev_log_index: int
    prev_log_term: int
    entries: tuple
    leader_commit: int


class AppendEntriesResponse(Record):
    term: int
    success: bool
    match_index: int


class Server(Record):
    """A server's local state; the fields after ``match_index`` are ghost history."""

    term: int = 0
    voted_for: object = None
    log: tuple = ()
    role: str = FOLLOWER
    commit_index: int = 0
    votes: frozenset = frozenset()
    next_index: Map = Map()
    match_index: Map = Map()
    elected: frozenset = frozenset()
    committed: frozenset = frozenset()
    applied: frozenset = frozenset()
    timeouts: int = 0
    restarted: bool = False


def last_term(log):
    return log[-1][0] if log else 0


class RaftServer(Role):
    name = "server"
    symmetric = True
    durable = ("term", "voted_for", "log",
               "elected", "committed", "applied", "timeouts", "restarted")

    def start(self, me, ctx):
        ctx.set_timer("election")
        return Server()

    def on_restart(self, me, local, ctx):
        ctx.set_timer("election")
        return local.replace(restarted=True)

    def on_timer(self, me, local, timer, ctx):
        term = local.term + 1
        ctx.broadcast(self.model.peers[me], RequestVote(term, len(local.log), last_term(local.log)))
        ctx.set_timer("election")
        local = local.replace(term=term, role=CANDIDATE, voted_for=me, votes=frozenset((me,)),
                              timeouts=local.timeouts + 1)
        return self.become_leader(me, local, ctx) if self.model.majority == 1 else local

    def become_leader(self, me, local, ctx):
        peers = self.model.peers[me]
        local = local.replace(
            role=LEADER,
            next_index=Map({peer: len(local.log) + 1 for peer in peers}),
            match_index=Map({peer: 0 for peer in peers}),
            elected=local.elected | {(local.term, local.log)},
        )
        ctx.cancel_timer("election")
        for peer in peers:
            self.send_entries(local, peer, ctx)
        return local

    @node_action(over=lambda model: ids("value", model.values))
    def client_request(self, me, local, ctx, value):
        """The leader appends a client value its log lacks and sends it to every follower."""
        if local.role != LEADER or any(value == logged for _, logged in local.log):
            return None
        local = local.replace(log=local.log + ((local.term, value),))
        for peer in self.model.peers[me]:
            self.send_entries(local, peer, ctx)
        return self.commit(local, self.leader_commit_index(local))

    def send_entries(self, local, peer, ctx):
        next_index = local.next_index[peer]
        prev_term = local.log[next_index - 2][0] if next_index > 1 else 0
        ctx.send(peer, AppendEntries(local.term, next_index - 1, prev_term,
                                     local.log[next_index - 1:], local.commit_index))

    def on_message(self, me, local, src, msg, ctx):
        if msg.term > local.term:
            if local.role == LEADER:
                ctx.set_timer("election")
            local = local.replace(term=msg.term, voted_for=None, role=FOLLOWER,
                                  votes=frozenset(), next_index=Map(), match_index=Map())
        kind = type(msg)
        if kind is RequestVote:
            return self.on_request_vote(local, src, msg, ctx)
        if kind is AppendEntries:
            return self.on_append_entries(local, src, msg, ctx)
        if msg.term < local.term:
            return local
        if kind is RequestVoteResponse:
            return self.on_vote(me, local, src, msg, ctx)
        return self.on_append_response(me, local, src, msg, ctx)

    def on_request_vote(self, local, src, msg, ctx):
        grant = (msg.term == local.term and local.voted_for in (None, src)
                 and (self.model.bug == "no_up_to_date_check"
                      or (msg.last_log_term, msg.last_log_index) >= (last_term(local.log),
                                                                     len(local.log))))
        if grant or (local.term > msg.term and self.model.stale_replies):
            ctx.send(src, RequestVoteResponse(local.term, grant))
        return local.replace(voted_for=src) if grant and local.voted_for != src else local

    def on_vote(self, me, local, src, msg, ctx):
        if local.role != CANDIDATE or not msg.vote_granted:
            return local
        local = local.replace(votes=local.votes | {src})
        if len(local.votes) < self.model.majority:
            return local
        return self.become_leader(me, local, ctx)

    def on_append_entries(self, local, src, msg, ctx):
        if msg.term < local.term:
            if self.model.stale_replies:
                ctx.send(src, AppendEntriesResponse(local.term, False, 0))
            return local
        if local.role == CANDIDATE:
            local = local.replace(role=FOLLOWER, votes=frozenset())
        log = local.log
        prev = msg.prev_log_index
        consistent = prev <= len(log) and (
            prev == 0 or log[prev - 1][0] == msg.prev_log_term
            or self.model.bug == "no_prev_log_check")
        if not consistent:
            ctx.send(src, AppendEntriesResponse(local.term, False, prev))
            return local
        for offset, entry in enumerate(msg.entries):
            index = prev + offset
            if index == len(log) or log[index][0] != entry[0]:
                log = log[:index] + msg.entries[offset:]
                break
        last_new = prev + len(msg.entries)
        if last_new:
            ctx.send(src, AppendEntriesResponse(local.term, True, last_new))
        commit_index = max(local.commit_index, min(msg.leader_commit, last_new))
        if log is not local.log:
            local = local.replace(log=log)
        return self.commit(local, commit_index)

    def on_append_response(self, me, local, src, msg, ctx):
        if local.role != LEADER:
            return local
        if msg.success:
            if msg.match_index <= local.match_index[src]:
                return local
            local = local.replace(match_index=local.match_index.set(src, msg.match_index),
                                  next_index=local.next_index.set(src, msg.match_index + 1))
            committed = self.commit(local, self.leader_commit_index(local))
            if committed is not local:
                for peer in self.model.peers[me]:
                    self.send_entries(committed, peer, ctx)
            return committed
        next_index = max(1, min(local.next_index[src], msg.match_index))
        if next_index == local.next_index[src]:
            return local
        local = local.replace(next_index=local.next_index.set(src, next_index))
        self.send_entries(local, src, ctx)
        return local

    def leader_commit_index(self, local):
        """The largest index a majority stores whose entry is of the leader's own term
        (section 5.4.2); the figure8 bug drops the term condition."""
        majority = self.model.majority
        matches = local.match_index.values()
        for index in range(len(local.log), local.commit_index, -1):
            if local.log[index - 1][0] != local.term and self.model.bug != "figure8":
                continue
            if 1 + sum(1 for match in matches if match >= index) >= majority:
                return index
        return local.commit_index

    def commit(self, local, commit_index):
        """Advance commitIndex and record the entries applied and, when a leader commits an
        entry of its own term, the entries committed in its term."""
        if commit_index <= local.commit_index:
            return local
        log = local.log
        applied = local.applied | {(index, log[index - 1])
                                   for index in range(local.commit_index + 1, commit_index + 1)}
        committed = local.committed
        if local.role == LEADER and log[commit_index - 1][0] == local.term:
            committed = committed | {(local.term, index, log[index - 1])
                                     for index in range(1, commit_index + 1)}
        return local.replace(commit_index=commit_index, applied=applied, committed=committed)


class ForgetfulServer(RaftServer):
    """The volatile_vote bug: votedFor is not persisted, so a restart forgets the vote."""

    name = "server"
    durable = tuple(field for field in RaftServer.durable if field != "voted_for")


class Raft(ActorModel):
    network = "unordered-duplicating"
    bug = param("none", BUGS, "which mistake to make (none: correct Raft)")
    servers = param(3, range(1, 6), "number of servers")
    max_term = param(formula("4 if bug == 'figure8' else 3 if bug == 'no_prev_log_check' "
                             "else 1 if bug == 'volatile_vote' else 2"),
                     range(1, 7), "largest term explored")
    elections = param(formula("2 if bug == 'volatile_vote' else max_term"), range(1, 9),
                      "election timeouts in all, over every server")
    values = param(formula("2 if bug == 'no_prev_log_check' else 1"), range(1, 4),
                   "client values; a leader appends a value its log lacks")
    restarts = param(formula("1 if bug == 'none' or bug == 'volatile_vote' else 0"),
                     range(0, 4), "crash-restarts (the default of max_crashes, max_restarts)")
    stale_replies = param(formula("bug != 'figure8'"), (True, False),
                          "answer requests of an older term (False: those replies are lost)")
    max_crashes = param(formula("restarts"), range(0, 10), "crash budget")
    max_restarts = param(formula("restarts"), range(0, 10), "restart budget")

    def roles(self):
        return {ForgetfulServer if self.bug == "volatile_vote" else RaftServer: self.servers}

    def setup(self):
        self.majority = self.servers // 2 + 1
        nodes = self.nodes_of("server")
        self.peers = {me: tuple(peer for peer in nodes if peer != me) for me in nodes}
        self.symmetric = (*self.symmetric, "value")

    def obsolete(self, envelope, receiver):
        """A reply its receiver ignores now and in every later state: of an older term, a vote
        to a server no longer a candidate in that term (a server is a candidate at most once
        per term), an acknowledgement its leader already has (matchIndex only grows while a
        server leads a term, and it leads a term at most once)."""
        msg = envelope.msg
        kind = type(msg)
        if kind is RequestVote or kind is AppendEntries or msg.term > receiver.term:
            return False
        if msg.term < receiver.term:
            return True
        if kind is RequestVoteResponse:
            return (receiver.role != CANDIDATE or not msg.vote_granted
                    or envelope.src in receiver.votes)
        return receiver.role != LEADER or (
            msg.success and msg.match_index <= receiver.match_index[envelope.src])

    @constraint
    def within_bounds(self, world):
        servers = world.nodes.values()
        return (max(server.term for server in servers) <= self.max_term
                and sum(server.timeouts for server in servers) <= self.elections)

    @invariant
    def election_safety(self, world):
        terms = [term for server in world.nodes.values() for term, _ in server.elected]
        return len(terms) == len(set(terms))

    @invariant
    def log_matching(self, world):
        # Equal logs match and an empty log matches any, so compare distinct non-empty ones.
        logs = list({server.log for server in world.nodes.values() if server.log})
        for i, log in enumerate(logs):
            for other in logs[i + 1:]:
                for index in range(min(len(log), len(other)) - 1, -1, -1):
                    if log[index][0] == other[index][0]:
                        if log[:index + 1] != other[:index + 1]:
                            return False
                        break
        return True

    @invariant
    def leader_completeness(self, world):
        servers = world.nodes.values()
        committed = [entry for server in servers for entry in server.committed]
        return not committed or all(
            index <= len(log) and log[index - 1] == entry
            for server in servers for term, log in server.elected
            for committed_term, index, entry in committed if term > committed_term
        )

    @invariant
    def state_machine_safety(self, world):
        applied = {}
        for server in world.nodes.values():
            for index, entry in server.applied:
                if applied.setdefault(index, entry) != entry:
                    return False
        return True

    @action_invariant
    def leader_append_only(self, world, successor):
        before_nodes = world.nodes
        if successor.nodes is before_nodes:
            return True  # no server changed
        for node, after in successor.nodes.items():
            before = before_nodes[node]
            if (after is not before and after.role == LEADER and before.role == LEADER
                    and after.term == before.term and after.log[:len(before.log)] != before.log):
                return False
        return True

    @sometimes
    def leader_elected(self, world):
        return any(server.role == LEADER for server in world.nodes.values())

    @sometimes
    def entry_committed(self, world):
        return any(server.committed for server in world.nodes.values())

    @sometimes
    def restarted_server_catches_up(self, world):
        return any(server.restarted and server.commit_index > 0 and world.alive(node)
                   for node, server in world.nodes.items())
