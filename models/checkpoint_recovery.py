"""Crash recovery from a write-ahead log and checkpoints.

A server applies client writes to its memory and appends them to a write-ahead log; it
acknowledges a write once the log entry is durable (``flush``). Now and then it checkpoints:
it snapshots the durable state, writes the snapshot page by page to a new file, and marks the
file complete (the atomic rename a real system does). Only then may it drop the log entries the
checkpoint covers. A crash loses memory and the log buffer; durable storage keeps the log, the
last complete checkpoint and any half-written one. Recovery loads the last complete checkpoint,
discards a half-written one, and replays the log entries the checkpoint does not cover.

Source: the write-ahead logging and checkpointing rules every database follows (C. Mohan et al.,
"ARIES", ACM TODS 1992; the "log before ack" and "truncate only what a durable checkpoint
covers" rules), reduced to one server and an append-only state.

Abstractions, and why they are sound here. The state is the sequence of writes applied, so a lost
or reordered write is visible (a last-writer-wins register would hide reordering). Writes are
numbered 1, 2, ...: one client sends them one at a time, so write n is sent only after write n-1
was acknowledged, and a number doubles as the log sequence number. The durable/volatile split is
the role's ``durable`` fields: ``log``, ``checkpoint`` and ``draft`` (the checkpoint being
written) survive a crash; ``memory``, ``unflushed`` and ``snapshot`` do not. Disk writes are
steps of their own, so a crash can fall between any two: between applying and flushing, between
two pages of a checkpoint, between completing it and truncating the log. The network delivers any
message any number of times (``unordered-duplicating``): a write sent before a crash may arrive
again after recovery, as a client's retry would.

Parameters: ``writes`` (3), ``max_crashes`` (2), ``max_restarts`` (2), ``bug`` (``none``).

Properties, checked whenever the server is up (so in particular right after every recovery):
``acked_writes_survive`` (the state begins with every acknowledged write, in order) and
``no_phantom_writes`` (the state holds only writes the client sent, in the order sent: the
acknowledged ones and at most the one in flight). ``recovery_keeps_data`` and
``checkpoint_completes`` must be reachable.

To see a failure, set ``-p bug=ack_before_durable`` (acknowledge a write before its log entry is
flushed) or ``-p bug=early_truncation`` (truncate the log as soon as a checkpoint starts, not when
it is complete): a crash then loses an acknowledged write.
"""

from checker import Record, invariant, param, sometimes
from checker.actors import RESTARTS, ActorModel, Role, node_action


class Write(Record):
    number: int


class Ack(Record):
    number: int


class ServerState(Record):
    # Durable storage: kept across a crash.
    log: tuple = ()  # flushed writes, oldest first, since the last truncation
    checkpoint: tuple = ()  # the state as of the last complete checkpoint
    draft: object = None  # the pages of a checkpoint being written (None: none is)
    # Memory: lost in a crash.
    memory: tuple = ()  # the writes applied, oldest first: the state clients see
    unflushed: tuple = ()  # writes applied whose log entries are still in the buffer
    snapshot: object = None  # what the checkpoint being written will hold


class ClientState(Record):
    acked: tuple = ()  # the writes acknowledged, oldest first


def last(writes):
    """The number of the last write in ``writes`` (0: none)."""
    return writes[-1] if writes else 0


def recover(checkpoint, log):
    """The state rebuilt from durable storage: the checkpoint, then the log it does not cover."""
    covered = last(checkpoint)
    return checkpoint + tuple(number for number in log if number > covered)


class Server(Role):
    durable = ("log", "checkpoint", "draft")

    def start(self, me, ctx):
        return ServerState()

    def on_restart(self, me, local, ctx):
        return local.replace(memory=recover(local.checkpoint, local.log), draft=None)

    def on_message(self, me, local, client, msg, ctx):
        number = msg.number
        if number in local.memory:
            if number not in local.unflushed:
                ctx.send(client, Ack(number))
            return local
        if self.model.bug == "ack_before_durable":
            # BUG: the write lives only in memory and in the log buffer until the next flush.
            ctx.send(client, Ack(number))
        return local.replace(memory=local.memory + (number,),
                             unflushed=local.unflushed + (number,))

    @node_action
    def flush(self, me, local, ctx):
        """Write the log buffer to disk; the writes in it are now safe to acknowledge."""
        if not local.unflushed:
            return None
        for number in local.unflushed:
            ctx.send(self.model.client, Ack(number))
        return local.replace(log=local.log + local.unflushed, unflushed=())

    @node_action
    def start_checkpoint(self, me, local, ctx):
        """Snapshot the durable state and open an empty checkpoint file."""
        if local.snapshot is not None or not local.log:
            return None
        return local.replace(snapshot=recover(local.checkpoint, local.log), draft=())

    @node_action
    def write_page(self, me, local, ctx):
        """Write the next page of the checkpoint: a crash now leaves it half written."""
        if local.snapshot is None or len(local.draft) == len(local.snapshot):
            return None
        return local.replace(draft=local.snapshot[:len(local.draft) + 1])

    @node_action
    def complete_checkpoint(self, me, local, ctx):
        """Mark the fully written checkpoint complete: recovery starts from it from now on."""
        if local.snapshot is None or local.draft != local.snapshot:
            return None
        return local.replace(checkpoint=local.snapshot, draft=None, snapshot=None)

    @node_action
    def truncate_log(self, me, local, ctx):
        """Drop the log entries a checkpoint covers."""
        safe = local.checkpoint
        if self.model.bug == "early_truncation" and local.snapshot is not None:
            # BUG: the checkpoint being written is not on disk yet; a crash before it completes
            # leaves neither it nor the log entries it was to replace.
            safe = local.snapshot
        kept = tuple(number for number in local.log if number > last(safe))
        if kept == local.log:
            return None
        return local.replace(log=kept)


class Client(Role):
    can_crash = False

    def start(self, me, ctx):
        (server,) = ctx.nodes("server")
        ctx.send(server, Write(1))
        return ClientState()

    def on_message(self, me, local, server, msg, ctx):
        if msg.number != len(local.acked) + 1:
            return local
        if msg.number < self.model.writes:
            ctx.send(server, Write(msg.number + 1))
        return local.replace(acked=local.acked + (msg.number,))


class CheckpointRecovery(ActorModel):
    network = "unordered-duplicating"
    writes = param(3, range(1, 5), "writes the client makes, one after another")
    max_crashes = param(2, range(0, 4), "server crashes")
    max_restarts = param(2, range(0, 4), "server restarts after a crash")
    bug = param("none", ("none", "ack_before_durable", "early_truncation"),
                "which mistake to make (none: the protocol as designed)")

    def roles(self):
        return {Server: 1, Client: 1}

    def setup(self):
        (self.server,) = self.nodes_of("server")
        (self.client,) = self.nodes_of("client")

    def live_memory(self, world):
        """The server's state, or None while it is down."""
        return world.local(self.server).memory if world.alive(self.server) else None

    @invariant
    def acked_writes_survive(self, world):
        memory = self.live_memory(world)
        acked = world.local(self.client).acked
        return memory is None or memory[:len(acked)] == acked

    @invariant
    def no_phantom_writes(self, world):
        memory = self.live_memory(world)
        if memory is None:
            return True
        sent = len(world.local(self.client).acked) + 1
        return memory == tuple(range(1, len(memory) + 1)) and len(memory) <= sent

    @sometimes
    def recovery_keeps_data(self, world):
        return world.faults[RESTARTS] > 0 and bool(self.live_memory(world))

    @sometimes
    def checkpoint_completes(self, world):
        return bool(world.local(self.server).checkpoint)
