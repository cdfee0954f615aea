"""Consistent hashing with replication, and the data handoffs that membership changes need.

Nodes and keys sit at positions on a ring. A key's owner is the first member clockwise from the
key; the owner and the next ``replicas - 1`` members hold it, and the owner acknowledges a write
only once all of them have it. Every node and the client keep their own copy of the ring, with
an epoch number; a node serves a key only if it owns it in its own copy, and accepts a replica
only if it holds the key in its own copy, so a node with a stale ring refuses rather than
diverges. A directory decides membership changes one at a time. When a node joins, its successor
hands it the keys it will hold and from then on considers it a member; when a node leaves, it
hands its keys to the members that take its place and stops serving. Only when every receiver
has its data does the directory announce the new ring. A crashed node is taken out of the ring
without a handoff: its successor already holds a replica of every key it owned.

Source: the ring, replication and handoff of Dynamo (DeCandia et al., SOSP 2007) and Chord
(Stoica et al., SIGCOMM 2001), with membership decided by a directory, as in systems that keep
their ring in a configuration service, instead of gossip. Why not gossip: when every node applied
join announcements and crash notices on its own, a crash racing with a join left two nodes each
owning key 0 in its own view; this model's first version had that flaw, and the checker showed
it with a ten-state counterexample.

Abstractions, and why they are sound here. Node i sits at position 2i+1 and key j at position
-2j (modulo the ring of 2 * ``nodes`` positions): only who succeeds whom matters, and this layout
puts the interesting ranges in play first. The first ``joiners`` nodes start outside the ring
(node0 first: key 0 changes owner when it joins, and node0 becomes a replica of key 1's owner)
and the last ``leavers`` nodes may leave. The directory cannot crash (a real one is itself
replicated); it learns of crashes from a perfect failure detector (``crash_notices``), late and
in any order. False suspicion is the subject of ``models/primary_backup.py``. One client makes
one request at a time, so "the latest acknowledged write" of a key is well defined; a write is
the key's next version number. A node that does not serve a key answers ``NotOwner``; the client
may try again, which adds nothing to safety. A request sent to a node that then crashes stays
unanswered, and a crash during a handoff stalls the directory: both lose liveness, not safety.
There is no re-replication after a crash: one crash is what ``replicas = 2`` must survive.

Parameters: ``nodes`` (3), ``joiners`` (1), ``leavers`` (0), ``keys`` (2), ``replicas`` (2),
``writes`` (1), ``reads`` (1), ``max_crashes`` (1), ``bug`` (``none``).

Properties: ``one_owner_per_key_when_settled`` (when no change is under way, every view gives
each key the same owner, and it is alive), ``acked_writes_readable_from_owner`` (every live node
serving a key holds its latest acknowledged write), ``no_acked_write_lost`` (a live node, or a
handoff on its way to one, holds every acknowledged write), ``reads_see_latest_write``;
``join_completes`` and ``read_returns_a_write`` must be reachable.

To see a failure, set ``-p bug=early_ownership`` (the directory announces the new ring when the
handoff starts, not when it is complete: the new owner serves a key before its data arrives) or
``-p replicas=1`` (one crash then loses an acknowledged write). With message loss
(``--max-drops 1``) a lost announcement or crash notice keeps views apart for good, which real
systems repair by gossip and retries.
"""

from checker import Map, Record, invariant, param, sometimes
from checker.actors import ActorModel, Crashed, Role, node_action


class Put(Record):
    key: int
    version: int


class PutOk(Record):
    key: int
    version: int


class Get(Record):
    key: int


class GetOk(Record):
    key: int
    version: int  # 0: never written


class NotOwner(Record):
    """The node does not serve ``key`` in its ring: nothing was done."""

    key: int


class Replicate(Record):
    key: int
    version: int


class ReplicaOk(Record):
    key: int
    version: int


class ReplicaRefused(Record):
    key: int
    version: int


class NewRing(Record):
    """The directory announces the ring of ``epoch``."""

    epoch: int
    ring: frozenset


class HandOver(Record):
    """The directory asks a node to give ``takers`` the keys they will hold in ``ring``."""

    epoch: int
    ring: frozenset
    takers: tuple


class Handoff(Record):
    """The data a taker will hold in the ring of ``epoch``."""

    epoch: int
    ring: frozenset
    data: Map


class Ready(Record):
    """A taker has its data for ``epoch``."""

    epoch: int


MEMBERSHIP = (NewRing, HandOver, Handoff, Ready, Crashed)


class Pending(Record):
    """A write the owner is replicating: it answers ``client`` once ``waiting`` is empty."""

    client: object
    key: int
    version: int
    waiting: frozenset


class NodeState(Record):
    epoch: int
    ring: frozenset  # the members, in this node's view
    store: Map = Map()  # key -> version of the latest write held
    pending: object = None  # the write being replicated (a Pending), if any


class Change(Record):
    """A membership change under way: the ring of ``epoch``, once ``waiting`` have their data."""

    epoch: int
    ring: frozenset
    waiting: frozenset


class DirectoryState(Record):
    epoch: int
    ring: frozenset
    change: object = None  # the Change under way, if any
    down: frozenset = frozenset()  # nodes reported crashed


class ReadResult(Record):
    """A read of ``key`` returned ``version`` when ``acked`` was its latest acknowledged write."""

    key: int
    version: int
    acked: int


class ClientState(Record):
    epoch: int
    ring: frozenset  # the members, in the client's view
    acked: Map = Map()  # key -> version of its latest acknowledged write
    request: object = None  # the request awaiting an answer (None: idle)
    last_read: object = None  # the ReadResult of the latest read
    reads: int = 0  # reads completed


def adopt(local, epoch, ring):
    """``local`` with the ring of ``epoch``, unless it already knows a later one."""
    if epoch <= local.epoch:
        return local
    return local.replace(epoch=epoch, ring=ring)


def merge(store, data):
    """``store`` with every key of ``data`` at the newer of the two versions."""
    newer = {key: version for key, version in data.items() if version > store.get(key, 0)}
    return store.merge(newer) if newer else store


class Node(Role):
    def start(self, me, ctx):
        return NodeState(1, self.model.first_ring)

    def serves(self, me, local, key):
        return self.model.owner(local.ring, key) == me

    def on_message(self, me, local, src, msg, ctx):
        match msg:
            case Put():
                return self.put(me, local, src, msg, ctx)
            case Get():
                value = local.store.get(msg.key, 0)
                ctx.send(src, GetOk(msg.key, value) if self.serves(me, local, msg.key)
                         else NotOwner(msg.key))
                return local
            case Replicate():
                return self.replicate(me, local, src, msg, ctx)
            case ReplicaOk() | ReplicaRefused():
                return self.replica_answer(local, src, msg, ctx)
            case HandOver():
                return self.hand_over(local, msg, ctx)
            case Handoff():
                return self.take_handoff(local, msg, ctx)
            case NewRing():
                return adopt(local, msg.epoch, msg.ring)
        return local

    def put(self, me, local, client, msg, ctx):
        if not self.serves(me, local, msg.key):
            ctx.send(client, NotOwner(msg.key))
            return local
        store = merge(local.store, {msg.key: msg.version})
        others = frozenset(self.model.replica_set(local.ring, msg.key)) - {me}
        if not others:
            ctx.send(client, PutOk(msg.key, msg.version))
            return local.replace(store=store)
        for replica in sorted(others):
            ctx.send(replica, Replicate(msg.key, msg.version))
        return local.replace(store=store, pending=Pending(client, msg.key, msg.version, others))

    def replicate(self, me, local, owner, msg, ctx):
        if me not in self.model.replica_set(local.ring, msg.key):
            # The owner's ring and ours disagree: refusing keeps the write unacknowledged.
            ctx.send(owner, ReplicaRefused(msg.key, msg.version))
            return local
        ctx.send(owner, ReplicaOk(msg.key, msg.version))
        return local.replace(store=merge(local.store, {msg.key: msg.version}))

    def replica_answer(self, local, replica, msg, ctx):
        pending = local.pending
        if pending is None or (pending.key, pending.version) != (msg.key, msg.version):
            return local
        if type(msg) is ReplicaRefused:
            ctx.send(pending.client, NotOwner(msg.key))
            return local.replace(pending=None)
        waiting = pending.waiting - {replica}
        if waiting:
            return local.replace(pending=pending.replace(waiting=waiting))
        ctx.send(pending.client, PutOk(msg.key, msg.version))
        return local.replace(pending=None)

    def hand_over(self, local, msg, ctx):
        model = self.model
        for taker in msg.takers:
            data = {key: version for key, version in local.store.items()
                    if taker in model.replica_set(msg.ring, key)}
            ctx.send(taker, Handoff(msg.epoch, msg.ring, Map(data)))
        # From now on this node serves by the new ring: what it gave away, it refuses.
        return adopt(local, msg.epoch, msg.ring)

    def take_handoff(self, local, msg, ctx):
        ctx.send(self.model.directory, Ready(msg.epoch))
        # The data first, then the ring: this node serves its new keys only once it has them.
        return adopt(local.replace(store=merge(local.store, msg.data)), msg.epoch, msg.ring)


class Directory(Role):
    can_crash = False

    def start(self, me, ctx):
        return DirectoryState(1, self.model.first_ring)

    def on_message(self, me, local, src, msg, ctx):
        match msg:
            case Crashed():
                return local.replace(down=local.down | {src})
            case Ready() if local.change is not None and msg.epoch == local.change.epoch:
                waiting = local.change.waiting - {src}
                if waiting:
                    return local.replace(change=local.change.replace(waiting=waiting))
                return self.commit(local, local.change.epoch, local.change.ring, ctx)
        return local

    def commit(self, local, epoch, ring, ctx):
        """Announce the ring of ``epoch`` to everyone."""
        ctx.broadcast(self.model.everyone, NewRing(epoch, ring), include_self=False)
        return local.replace(epoch=epoch, ring=ring, change=None)

    def begin(self, local, ring, giver, takers, ctx):
        """Start the change to ``ring``: ``giver`` hands ``takers`` their data."""
        epoch = local.epoch + 1
        ctx.send(giver, HandOver(epoch, ring, takers))
        if self.model.bug == "early_ownership":
            # BUG: the takers own their keys in the announced ring before their data arrives.
            return self.commit(local, epoch, ring, ctx)
        return local.replace(change=Change(epoch, ring, frozenset(takers)))

    @node_action(over=lambda model: model.nodes_of("node"))
    def add(self, me, local, ctx, node):
        """Let ``node`` join: its successor hands it the keys it will hold."""
        model = self.model
        joinable = node in model.joiner_ids and node not in local.ring | local.down
        if local.change is not None or not joinable:
            return None
        ring = local.ring | {node}
        successor = model.clockwise(local.ring, model.position[node])[0]
        return self.begin(local, ring, successor, (node,), ctx)

    @node_action(over=lambda model: model.nodes_of("node"))
    def remove(self, me, local, ctx, node):
        """Let ``node`` leave: it hands its keys to the members that take its place."""
        model = self.model
        removable = node in model.leaver_ids and node in local.ring - local.down
        # A graceful leave never leaves fewer members than copies to keep.
        if local.change is not None or not removable or len(local.ring) <= model.replicas:
            return None
        ring = local.ring - {node}
        heirs = tuple(model.clockwise(ring, model.position[node])[:model.replicas])
        return self.begin(local, ring, node, heirs, ctx)

    @node_action(over=lambda model: model.nodes_of("node"))
    def evict(self, me, local, ctx, node):
        """Take a crashed ``node`` out of the ring; its successor holds its keys already."""
        if local.change is not None or node not in local.down or node not in local.ring:
            return None
        return self.commit(local, local.epoch + 1, local.ring - {node}, ctx)


class Client(Role):
    can_crash = False

    def start(self, me, ctx):
        return ClientState(1, self.model.first_ring)

    def on_message(self, me, local, src, msg, ctx):
        request = local.request
        match msg:
            case NewRing():
                return adopt(local, msg.epoch, msg.ring)
            case PutOk() if request == Put(msg.key, msg.version):
                return local.replace(acked=local.acked.set(msg.key, msg.version), request=None)
            case GetOk() if request == Get(msg.key):
                read = ReadResult(msg.key, msg.version, local.acked.get(msg.key, 0))
                return local.replace(last_read=read, reads=local.reads + 1, request=None)
            case NotOwner() if request is not None and request.key == msg.key:
                return local.replace(request=None)
        return local

    def ask_owner(self, local, request, ctx):
        """Send ``request`` to the key's owner in the client's ring."""
        ctx.send(self.model.owner(local.ring, request.key), request)
        return local.replace(request=request)

    @node_action(over=lambda model: model.key_positions())
    def write(self, me, local, ctx, key):
        """Write the next version of ``key``."""
        if local.request is not None or sum(local.acked.values()) >= self.model.writes:
            return None
        return self.ask_owner(local, Put(key, local.acked.get(key, 0) + 1), ctx)

    @node_action(over=lambda model: model.key_positions())
    def read(self, me, local, ctx, key):
        """Read ``key`` from its owner."""
        if local.request is not None or local.reads >= self.model.reads:
            return None
        return self.ask_owner(local, Get(key), ctx)


class ConsistentHashing(ActorModel):
    network = "unordered"
    crash_notices = ("directory",)
    nodes = param(3, range(2, 6), "nodes; node i sits at position 2i+1")
    joiners = param(1, range(0, 5), "nodes outside the ring at first, which may join")
    leavers = param(0, range(0, 5), "nodes at the end of the list, which may leave")
    keys = param(2, range(1, 6), "keys; key j sits at position -2j (mod the ring size)")
    replicas = param(2, range(1, 4), "copies of each key (replication factor R)")
    writes = param(1, range(0, 4), "writes the client makes in all")
    reads = param(1, range(0, 4), "reads the client makes in all")
    max_crashes = param(1, range(0, 4), "node crashes")
    bug = param("none", ("none", "early_ownership"),
                "which mistake to make (none: the protocol as designed)")
    assume = ("joiners + leavers <= nodes", "keys <= nodes")

    def roles(self):
        return {Directory: 1, Node: self.nodes, Client: 1}

    def setup(self):
        node_ids = self.nodes_of("node")
        self.ring_size = 2 * self.nodes
        self.position = {node: 2 * node.index + 1 for node in node_ids}
        self.joiner_ids = node_ids[:self.joiners]
        self.leaver_ids = node_ids[self.nodes - self.leavers:]
        self.first_ring = frozenset(node_ids[self.joiners:])
        self.everyone = self.node_ids()
        (self.directory,) = self.nodes_of("directory")
        (self.client,) = self.nodes_of("client")

    def key_positions(self):
        return tuple(-2 * j % self.ring_size for j in range(self.keys))

    def clockwise(self, ring, point):
        """The members of ``ring`` in clockwise order from ``point``."""
        return sorted(ring, key=lambda node: (self.position[node] - point) % self.ring_size)

    def owner(self, ring, key):
        """The first member clockwise from ``key`` (None: an empty ring)."""
        members = self.clockwise(ring, key)
        return members[0] if members else None

    def replica_set(self, ring, key):
        """The members that hold ``key``: its owner and the next ``replicas - 1``."""
        return self.clockwise(ring, key)[:self.replicas]

    def live_nodes(self, world):
        return [(node, state) for node, state in world.nodes.items()
                if node.kind == "node" and node not in world.crashed]

    def messages(self, world):
        """Each distinct message in flight (the network is a multiset)."""
        return world.network.keys()

    def settled(self, world):
        """No change under way or pending, and no membership message in flight."""
        directory = world.local(self.directory)
        if directory.change is not None or directory.down & directory.ring:
            return False
        return not any(type(envelope.msg) in MEMBERSHIP and world.alive(envelope.dst)
                       for envelope in self.messages(world))

    @invariant
    def one_owner_per_key_when_settled(self, world):
        if not self.settled(world):
            return True
        rings = [state.ring for _, state in self.live_nodes(world)]
        rings.append(world.local(self.client).ring)
        for key in self.key_positions():
            owners = {self.owner(ring, key) for ring in rings}
            if len(owners) != 1 or not world.alive(owners.pop()):
                return False
        return True

    @invariant
    def acked_writes_readable_from_owner(self, world):
        acked = world.local(self.client).acked
        return all(state.store.get(key, 0) >= version
                   for node, state in self.live_nodes(world)
                   for key, version in acked.items()
                   if self.owner(state.ring, key) == node)

    @invariant
    def no_acked_write_lost(self, world):
        copies = [state.store for _, state in self.live_nodes(world)]
        copies += [envelope.msg.data for envelope in self.messages(world)
                   if type(envelope.msg) is Handoff and world.alive(envelope.dst)]
        acked = world.local(self.client).acked
        return all(any(store.get(key, 0) >= version for store in copies)
                   for key, version in acked.items())

    @invariant
    def reads_see_latest_write(self, world):
        read = world.local(self.client).last_read
        return read is None or read.version >= read.acked

    @sometimes
    def join_completes(self, world):
        return any(node in state.ring for node, state in self.live_nodes(world)
                   if node in self.joiner_ids)

    @sometimes
    def read_returns_a_write(self, world):
        read = world.local(self.client).last_read
        return read is not None and read.version > 0
