"""Primary-backup replication with a view service: failover without split brain.

Two servers keep a copy of the same data. A view service, the single authority on who does
what, numbers configurations (views): view 1 has server0 as primary and server1 as backup. The
primary serves every client request and forwards it to the backup of its view; it answers the
client only once the backup has accepted it, and a backup accepts only from the primary of its
own view. When a server of the current view misses its pings (it crashed, or its link is slow),
the view service moves to the next view, in which the survivor is primary and there is no backup
any more, and announces it. A deposed primary that has not heard of the new view yet cannot do
harm: its old backup, now primary of a later view, refuses its forwards, so it can neither
acknowledge a write nor serve a stale read (reads are forwarded too, for exactly that reason).

Source: the primary-backup service of MIT 6.824 (labs "viewservice" and "pbservice", 2013-2014),
itself a small version of the view-change protocol of Viewstamped Replication (Oki and Liskov,
1988).

Abstractions, and why they are sound here. Pings are not sent one by one: on an asynchronous
network a ping can always be late, so the view service may find at any moment that a server of
the current view missed its pings (``viewservice0.missed_pings(server)``), and the model lets it.
That covers every real detector, which only suspects less often. A crash also makes the view
service's verdict true. A server the view service has dropped never rejoins (a real one comes
back as a fresh backup after a state transfer); with two servers there are at most two views,
which keeps every run to seconds while keeping the failover that the properties are about. One
client issues its operations one at a time, so "the latest acknowledged write" is well defined;
not knowing who is primary, it sends each request to both servers and only a server acting as
primary answers. A write is a distinct value (the client writes 1, 2, ...), so servers can tell a
retransmission from a new write. Messages travel on an unordered network: any message can be
delivered late, which is the slow link. ``max_drops`` adds message loss.

Parameters: ``writes`` (1; the client writes 1, reads, writes 2, reads, ...), ``max_crashes``
(1, servers only), ``max_drops`` (0), ``bug`` (``none``).

Properties: ``one_primary_per_view`` (no two live servers act as primary of the same view),
``acked_writes_survive_failover`` (every write acknowledged to the client is held by each live
server acting as primary of the current view), ``reads_see_latest_write`` (a read returns the
latest acknowledged write); ``failover_happens`` and ``script_completes`` must be reachable.

To see a failure, set ``-p bug=self_promotion`` (the backup promotes itself when the primary's
heartbeats stop, without asking the view service: two primaries, split brain; add
``--invariant acked_writes_survive_failover`` to watch it lose a write), ``-p bug=early_ack``
(the primary acknowledges a write before the backup has it; after failover it is gone) or
``-p bug=local_reads`` (the primary answers reads without its backup: a deposed primary that has
not heard of the new view serves a stale read).
"""

from checker import Record, invariant, param, sometimes
from checker.actors import ActorModel, Role, node_action


class View(Record):
    """A configuration: its number, its primary and its backup (None: no backup)."""

    number: int
    primary: object
    backup: object = None


class NewView(Record):
    """The view service announces a view."""

    view: View


class Put(Record):
    """Client request ``op`` (its position in the client's script): write ``value``."""

    op: int
    value: int


class Get(Record):
    """Client request ``op``: read the latest value."""

    op: int


class Reply(Record):
    """The answer to request ``op``: the value written, or the value read (None: empty)."""

    op: int
    value: object


class Forward(Record):
    """The primary of ``view`` passes a client request to its backup (``value`` None: a read)."""

    view: int
    client: object
    op: int
    value: object


class ForwardOk(Record):
    """The backup of ``view`` has accepted the forwarded request."""

    view: int
    client: object
    op: int
    value: object


class ServerState(Record):
    view: View
    data: tuple = ()  # the values written, oldest first; a read returns the last one


class ClientState(Record):
    op: int = 0  # the request awaiting its reply: its position in the script
    history: tuple = ()  # completed operations, oldest first: ("put", value), ("get", read)


def latest(data):
    """The value a read returns."""
    return data[-1] if data else None


class Server(Role):
    def start(self, me, ctx):
        return ServerState(self.model.first_view)

    def on_message(self, me, local, src, msg, ctx):
        match msg:
            case NewView():
                return self.new_view(local, msg.view)
            case Put():
                return self.request(me, local, src, msg.op, msg.value, ctx)
            case Get():
                return self.request(me, local, src, msg.op, None, ctx)
            case Forward():
                return self.forward(me, local, src, msg, ctx)
            case ForwardOk():
                return self.forward_ok(me, local, msg, ctx)
        return local

    def new_view(self, local, view):
        if view.number <= local.view.number:
            return local
        return local.replace(view=view)

    def request(self, me, local, client, op, value, ctx):
        """A client wants ``value`` written, or a read when ``value`` is None."""
        view = local.view
        if view.primary != me:
            return local
        if view.backup is None or (value is None and self.model.bug == "local_reads"):
            # BUG (local_reads): a primary that answers reads alone may have been deposed.
            return self.complete(local, client, op, value, ctx)
        ctx.send(view.backup, Forward(view.number, client, op, value))
        if value is not None and self.model.bug == "early_ack":
            # BUG: the client hears "done" while the write exists on this server alone.
            return self.complete(local, client, op, value, ctx)
        return local

    def forward(self, me, local, primary, msg, ctx):
        view = local.view
        if view.number != msg.view or view.backup != me:
            # Refusing forwards from another view is what stops a deposed primary.
            return local
        ctx.send(primary, ForwardOk(msg.view, msg.client, msg.op, msg.value))
        return local.replace(data=self.written(local.data, msg.value))

    def forward_ok(self, me, local, msg, ctx):
        view = local.view
        if view.number != msg.view or view.primary != me:
            return local
        return self.complete(local, msg.client, msg.op, msg.value, ctx)

    def complete(self, local, client, op, value, ctx):
        """Apply the request and answer the client."""
        data = self.written(local.data, value)
        ctx.send(client, Reply(op, latest(data) if value is None else value))
        return local.replace(data=data)

    def written(self, data, value):
        """``data`` after writing ``value`` (None: a read; a value already there: a repeat)."""
        if value is None or value in data:
            return data
        return data + (value,)

    @node_action
    def primary_silent(self, me, local, ctx):
        """The backup stops hearing the primary's heartbeats (it crashed, or its link is slow)."""
        view = local.view
        if self.model.bug != "self_promotion" or view.backup != me:
            return None
        # BUG: a backup cannot tell a crashed primary from a slow one; promoting itself makes
        # it a second primary of the same view whenever the old one is alive.
        return local.replace(view=view.replace(primary=me, backup=None))


class ViewService(Role):
    name = "viewservice"
    can_crash = False

    def start(self, me, ctx):
        return self.model.first_view

    @node_action(over=lambda model: model.nodes_of("server"))
    def missed_pings(self, me, view, ctx, server):
        """``server`` missed its pings: the next view leaves it out."""
        if view.backup is None or server not in (view.primary, view.backup):
            # Without a backup there is nobody with the data to promote: the service waits.
            return None
        survivor = view.backup if server == view.primary else view.primary
        next_view = View(view.number + 1, survivor)
        ctx.broadcast("server", NewView(next_view))
        return next_view


class Client(Role):
    can_crash = False

    def start(self, me, ctx):
        self.send_request(0, ctx)
        return ClientState()

    def on_message(self, me, local, src, msg, ctx):
        if msg.op != local.op:
            return local
        kind, _ = self.model.script[msg.op]
        history = local.history + ((kind, msg.value),)
        self.send_request(msg.op + 1, ctx)
        return local.replace(op=msg.op + 1, history=history)

    def send_request(self, op, ctx):
        script = self.model.script
        if op == len(script):
            return
        kind, value = script[op]
        ctx.broadcast("server", Put(op, value) if kind == "put" else Get(op))


class PrimaryBackup(ActorModel):
    network = "unordered"
    writes = param(1, range(1, 4), "writes in the client's script, each followed by a read")
    max_crashes = param(1, range(0, 3), "server crashes")
    bug = param("none", ("none", "self_promotion", "early_ack", "local_reads"),
                "which mistake to make (none: the protocol as designed)")

    def roles(self):
        return {ViewService: 1, Server: 2, Client: 1}

    def setup(self):
        server0, server1 = self.nodes_of("server")
        self.first_view = View(1, server0, server1)
        self.script = tuple(op for value in range(1, self.writes + 1)
                            for op in (("put", value), ("get", None)))
        (self.view_service,) = self.nodes_of("viewservice")
        (self.client,) = self.nodes_of("client")

    def acting_primaries(self, world):
        """``(server, its state)`` for every live server that believes it is primary."""
        return [(server, state) for server, state in world.of("server")
                if world.alive(server) and state.view.primary == server]

    def acked_writes(self, world):
        return [value for kind, value in world.local(self.client).history if kind == "put"]

    @invariant
    def one_primary_per_view(self, world):
        views = [state.view.number for _, state in self.acting_primaries(world)]
        return len(views) == len(set(views))

    @invariant
    def acked_writes_survive_failover(self, world):
        current = world.local(self.view_service).number
        acked = set(self.acked_writes(world))
        return all(acked <= set(state.data) for _, state in self.acting_primaries(world)
                   if state.view.number == current)

    @invariant
    def reads_see_latest_write(self, world):
        last_write = None
        for kind, value in world.local(self.client).history:
            if kind == "put":
                last_write = value
            elif value != last_write:
                return False
        return True

    @sometimes
    def failover_happens(self, world):
        return any(state.view.number > 1 for _, state in self.acting_primaries(world))

    @sometimes
    def script_completes(self, world):
        return len(world.local(self.client).history) == len(self.script)
