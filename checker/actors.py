"""The actor layer: message-passing nodes with roles, a network, timers and faults.

Most protocols are nodes exchanging messages. An :class:`ActorModel` declares its roles (each a
:class:`Role` subclass with handlers for start, message delivery and timer expiry) and how many
nodes play each; the layer builds the global state (:class:`World`) and the actions: deliver a
message, fire a timer, run a node's own action, and the faults (crash, restart, drop,
duplicate) within budgets. Handlers return the node's new local state and act through a
:class:`Context`: ``ctx.send``, ``ctx.broadcast``, ``ctx.set_timer``, ``ctx.cancel_timer``.

Networks (``network = ...`` on the model):

- ``"unordered-duplicating"``: a set of envelopes that only grows; any message may be delivered
  any number of times in any order; loss is implicit (a message may never be delivered);
- ``"unordered"``: a multiset; delivery removes one copy; drops and duplicates are faults;
- ``"fifo"``: one ordered channel per (sender, receiver); only the head is delivered.

Fault budgets are parameters every actor model has (``max_crashes``, ``max_restarts``,
``max_drops``, ``max_duplicates``, default 0), settable with ``-p`` or ``--max-crashes`` etc.
A crash stops a node, drops its timers and resets its volatile fields (those not listed in the
role's ``durable``); a restart brings it back through ``on_restart``. A state where nothing can
happen any more (quiescence) is final, not a deadlock. A model that names roles in
``crash_notices`` gets a perfect failure detector: a crash also sends every other node of those
roles a :class:`Crashed` message from the crashed node, delivered like any other message (late,
in any order).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from checker.errors import ModelDefinitionError
from checker.fingerprint import fingerprint
from checker.model import ActionSpec, Model, split_domains
from checker.params import param
from checker.trace import to_json
from checker.values import Bag, Id, Map, Record, ids, show

__all__ = [
    "NETWORKS",
    "ActorModel",
    "Context",
    "Crashed",
    "Envelope",
    "Role",
    "World",
    "node_action",
]

NETWORKS = ("unordered-duplicating", "unordered", "fifo")


class Envelope(Record):
    """A message in flight: sender, receiver, payload."""

    src: Any
    dst: Any
    msg: Any

    def __repr__(self) -> str:
        return f"{self.src} → {self.dst}: {show(self.msg)}"


class Crashed(Record):
    """The notice a crash sends, from the crashed node, when the model has ``crash_notices``."""


class World(Record):
    """The global state of an actor model.

    ``nodes`` maps each node id to its local state; ``network`` holds messages in flight (a
    frozenset, a :class:`Bag` or a map of channels, by network kind); ``timers`` is a set of
    ``(node, timer)`` pairs; ``crashed`` the set of crashed nodes; ``faults`` counts the
    crashes, restarts, drops and duplicates used so far.
    """

    nodes: Map
    network: Any
    timers: frozenset
    crashed: frozenset
    faults: tuple

    def local(self, node: Id) -> Any:
        """The local state of ``node``."""
        return self.nodes[node]

    def of(self, role: str) -> list[tuple[Id, Any]]:
        """``(id, local state)`` of every node of ``role``, in id order."""
        return sorted((n, s) for n, s in self.nodes.items() if n.kind == role)

    def alive(self, node: Id) -> bool:
        """Whether ``node`` is up."""
        return node not in self.crashed

    def in_flight(self) -> list[Envelope]:
        """Every message in the network (with repeats for copies), in a fixed order."""
        network = self.network
        if isinstance(network, Bag):
            return list(network.elements())
        if isinstance(network, Map):
            return [Envelope(src, dst, msg) for (src, dst) in sorted(network)
                    for msg in network[(src, dst)]]
        return sorted(network, key=fingerprint)


CRASHES, RESTARTS, DROPS, DUPLICATES = range(4)
_NO_FAULTS = (0, 0, 0, 0)


def _rearm(timers: frozenset, node: Id, cancelled: list[Any], armed: list[Any],
           fired: tuple[Id, Any] | None = None) -> frozenset:
    """``timers`` without ``fired`` and ``node``'s ``cancelled`` timers, with its ``armed``
    ones (arming wins over cancelling); the same object when nothing changes."""
    if not cancelled:
        unchanged, refired = True, fired is None
        for timer in armed:
            pair = (node, timer)
            if pair not in timers:
                unchanged = False
                break
            refired = refired or pair == fired
        if unchanged and refired:
            return timers  # e.g. a timer that re-arms itself
    adding = {(node, timer) for timer in armed}
    removing = {(node, timer) for timer in cancelled}
    if fired is not None:
        removing.add(fired)
    removing -= adding
    if adding <= timers and removing.isdisjoint(timers):
        return timers
    return (timers - removing) | adding


@dataclass(frozen=True)
class _NodeActionMarker:
    over: Any
    name: str | None


def node_action(function: Callable[..., Any] | None = None, *, over: Any = None,
                name: str | None = None):
    """Mark a role method as an action the node may take on its own.

    The method is ``def act(self, me, local, ctx, *args)`` and returns the new local state, or
    None when the action is disabled. ``over`` gives the domains of the extra arguments, as
    for :func:`checker.model.action` (a model attribute name, a callable of the model, or an
    iterable).
    """
    marker = _NodeActionMarker(over, name)

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method.__checker_node_action__ = marker  # type: ignore[attr-defined]
        return method

    return mark(function) if function is not None else mark


class Context:
    """What a handler may do besides returning its new local state."""

    __slots__ = ("model", "me", "sends", "timers_set", "timers_cancelled")

    def __init__(self, model: ActorModel, me: Id) -> None:
        self.model = model
        self.me = me
        self.sends: list[Envelope] = []
        self.timers_set: list[Any] = []
        self.timers_cancelled: list[Any] = []

    def send(self, dst: Id, msg: Any) -> None:
        """Send ``msg`` to node ``dst``."""
        self.sends.append(Envelope(self.me, dst, msg))

    def broadcast(self, dsts: str | Iterable[Id], msg: Any, include_self: bool = True) -> None:
        """Send ``msg`` to every node of a role (by name) or to every id in ``dsts``."""
        targets = self.model.nodes_of(dsts) if isinstance(dsts, str) else dsts
        me, append = self.me, self.sends.append
        for dst in targets:
            if include_self or dst != me:
                append(Envelope(me, dst, msg))

    def set_timer(self, timer: Any = "timeout") -> None:
        """Arm ``timer`` (any hashable name); it may fire at any later step."""
        self.timers_set.append(timer)

    def cancel_timer(self, timer: Any = "timeout") -> None:
        """Disarm ``timer`` if it is armed."""
        self.timers_cancelled.append(timer)

    def nodes(self, role: str) -> tuple[Id, ...]:
        """The ids of every node of ``role``."""
        return self.model.nodes_of(role)


class Role:
    """The behaviour of one kind of node. Subclass it and implement the handlers.

    Class attributes: ``name`` (the role's name and the kind of its node ids; default: the
    class name in lower case), ``durable`` (fields of the local state kept across a crash),
    ``symmetric`` (nodes of this role are interchangeable), ``can_crash`` (default True).
    """

    name: ClassVar[str] = ""
    durable: ClassVar[tuple[str, ...]] = ()
    symmetric: ClassVar[bool] = False
    can_crash: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__.lower()
        if isinstance(cls.durable, str):
            raise ModelDefinitionError(
                f"role {cls.__name__}: durable must be a tuple of field names, "
                f"e.g. ({cls.durable!r},)"
            )

    def __init__(self, model: ActorModel) -> None:
        self.model = model

    def start(self, me: Id, ctx: Context) -> Any:
        """The node's initial local state; it may send messages and arm timers."""
        raise NotImplementedError

    def on_message(self, me: Id, local: Any, src: Id, msg: Any, ctx: Context) -> Any:
        """Handle ``msg`` from ``src``; return the new local state (None: unchanged)."""
        return local

    def on_timer(self, me: Id, local: Any, timer: Any, ctx: Context) -> Any:
        """Handle the expiry of ``timer``; return the new local state (None: unchanged)."""
        return local

    def on_restart(self, me: Id, local: Any, ctx: Context) -> Any:
        """Called when a crashed node comes back with its durable fields; default: replay the
        effects of :meth:`start` (re-arm its timers, resend its first messages)."""
        self.start(me, ctx)
        return local


class ActorModel(Model, abstract=True):
    """A model of message-passing nodes; see the module docstring.

    Subclasses set ``network`` and implement ``roles(self)``, returning ``{RoleClass: count}``.
    Invariants and other properties are methods of the model over the :class:`World`.
    """

    network: ClassVar[str] = "unordered"
    deadlock: ClassVar[bool] = False
    crash_notices: ClassVar[tuple[str, ...]] = ()
    max_crashes = param(0, range(0, 10), "crash budget (crash-stop unless restarts allow)")
    max_restarts = param(0, range(0, 10), "restart budget (a crashed node comes back)")
    max_drops = param(0, range(0, 10), "message drop budget (unordered and fifo networks)")
    max_duplicates = param(0, range(0, 10), "message duplication budget")

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(abstract=abstract, **kwargs)
        if not abstract and cls.network not in NETWORKS:
            raise ModelDefinitionError(
                f"model {cls.__name__}: network {cls.network!r} is not one of {', '.join(NETWORKS)}"
            )

    @classmethod
    def _abstract_init(cls) -> bool:
        return cls.roles is ActorModel.roles

    def _prepare(self) -> None:
        counts = self.roles()
        self._roles: dict[str, Role] = {}
        self._ids: dict[str, tuple[Id, ...]] = {}
        for role_class, count in counts.items():
            if not (inspect.isclass(role_class) and issubclass(role_class, Role)):
                raise ModelDefinitionError(
                    f"model {self.name}: roles() must map Role subclasses to counts, "
                    f"got {role_class!r}"
                )
            if role_class.start is Role.start:
                raise ModelDefinitionError(
                    f"model {self.name}: role {role_class.__name__} has no start(self, me, ctx)"
                )
            self._roles[role_class.name] = role_class(self)
            self._ids[role_class.name] = ids(role_class.name, count)
        self.symmetric = tuple(n for n, r in self._roles.items() if type(r).symmetric)
        # What every transition looks up, resolved once: handlers by node, the network kind,
        # whether the model forgets obsolete messages, the nodes that may crash.
        role_by_node = {node: self._roles[node.kind] for node in self.node_ids()}
        self._on_message = {node: role.on_message for node, role in role_by_node.items()}
        self._on_timer = {node: role.on_timer for node, role in role_by_node.items()}
        self._on_restart = {node: role.on_restart for node, role in role_by_node.items()}
        self._crash_candidates = tuple(node for node, role in role_by_node.items()
                                       if type(role).can_crash)
        self._duplicating = self.network == "unordered-duplicating"
        self._bag = self.network == "unordered"
        self._fifo = self.network == "fifo"
        self._forgets = type(self).obsolete is not ActorModel.obsolete
        self._addressed_network: Any = None
        self._addressed: dict[Id, list[Envelope]] = {}

    def roles(self) -> dict[type[Role], int]:
        """``{RoleClass: number of nodes}`` for this model's parameters."""
        raise NotImplementedError

    def obsolete(self, envelope: Envelope, receiver: Any) -> bool:
        """Whether ``envelope`` can never again change its receiver, now in local state
        ``receiver``, or make it send anything. The network forgets such messages (when sent,
        and when their receiver takes a step), so stale replies do not multiply states. Only
        say True when it holds in every state the receiver can reach; default: never."""
        return False

    def nodes_of(self, role: str) -> tuple[Id, ...]:
        """The ids of every node of ``role``."""
        try:
            return self._ids[role]
        except KeyError:
            raise ModelDefinitionError(
                f"model {self.name}: no role named {role!r} (roles: {', '.join(self._ids)})"
            ) from None

    def node_ids(self) -> tuple[Id, ...]:
        """Every node id, role by role in declaration order: the lifelines of a chart."""
        return tuple(node for role_ids in self._ids.values() for node in role_ids)

    def role_of(self, node: Id) -> Role:
        """The role object that handles ``node``."""
        return self._roles[node.kind]

    # -- building states -------------------------------------------------------------------

    def _empty_network(self) -> Any:
        if self.network == "unordered-duplicating":
            return frozenset()
        if self.network == "unordered":
            return Bag()
        return Map()

    def _send_all(self, network: Any, sends: list[Envelope], consumed: Envelope | None = None,
                  dead: list[Envelope] | tuple[()] = (), receivers: Map | None = None) -> Any:
        """``network`` with one copy of ``consumed`` delivered (unordered networks), the
        ``dead`` messages forgotten and ``sends`` added: one copy of the network at most.
        With ``receivers`` (every node's local state), sends obsolete to theirs are dropped."""
        if self._duplicating:
            if dead:
                network = network.difference(dead)
            if sends:
                # A message already in flight stays whether or not this copy is obsolete.
                fresh = [envelope for envelope in sends if envelope not in network]
                if fresh and receivers is not None:
                    fresh = self._not_obsolete(fresh, receivers)
                if fresh:
                    network = network.union(fresh)
            return network
        if sends and receivers is not None:
            sends = self._not_obsolete(sends, receivers)
        if self._bag:
            if consumed is not None:
                network = network.remove_one(consumed)
            for envelope in dead:
                if envelope in network:
                    network = network.remove(envelope)
            if sends:
                added: dict[Envelope, int] = {}
                for envelope in sends:
                    added[envelope] = added.get(envelope, network.get(envelope, 0)) + 1
                network = network.merge(added)
            return network
        if dead:
            network = self._forget(network, dead)
        if not sends:
            return network
        channels = dict(network)
        for envelope in sends:
            key = (envelope[0], envelope[1])
            channels[key] = channels.get(key, ()) + (envelope[2],)
        return Map(channels)

    def _apply(self, world: World, node: Id, local: Any, ctx: Context, network: Any,
               consumed: Envelope | None = None, fired: tuple[Id, Any] | None = None,
               crashed: frozenset | None = None, faults: tuple | None = None) -> World:
        """The world after ``node`` took a step to ``local`` (None: unchanged) with the effects
        in ``ctx``, from ``network``. The step delivered ``consumed`` (unordered networks; the
        others pass the network without it) or fired the timer ``fired``; ``crashed`` and
        ``faults`` replace the world's when given."""
        old_nodes, old_network, old_timers, old_crashed, old_faults = world  # its fields
        moved = local is not None and local is not old_nodes[node]
        cancelled, armed, sends = ctx.timers_cancelled, ctx.timers_set, ctx.sends
        if (not moved and not sends and not cancelled and not armed and network is old_network
                and consumed is None and fired is None and crashed is None and faults is None):
            return world  # a step that changed nothing, e.g. a message its receiver ignores
        nodes, timers = old_nodes, old_timers
        if moved:
            nodes = nodes.set(node, local)
        if cancelled or armed or fired is not None:
            timers = _rearm(timers, node, cancelled, armed, fired)
        if self._forgets:
            dead: list[Envelope] | tuple[()] = ()
            if moved:
                obsolete = self.obsolete
                dead = [envelope for envelope in self._addressed_to(network, node)
                        if obsolete(envelope, local)]
            network = self._send_all(network, sends, consumed, dead, nodes)
        else:
            network = self._send_all(network, sends, consumed)
        if (nodes is old_nodes and network is old_network and timers is old_timers
                and crashed is None and faults is None):
            return world  # e.g. only messages already in flight were sent again
        return World(nodes, network, timers, old_crashed if crashed is None else crashed,
                     old_faults if faults is None else faults)

    def _not_obsolete(self, sends: list[Envelope], receivers: Map) -> list[Envelope]:
        """The ``sends`` whose receiver, in ``receivers``, may still need them."""
        obsolete = self.obsolete
        return [e for e in sends if e[1] not in receivers or not obsolete(e, receivers[e[1]])]

    def _addressed_to(self, network: Any, node: Id) -> list[Envelope]:
        """Each distinct message to ``node`` in ``network`` once, in no particular order.

        The successors of one state mostly start from its network, so the messages of the
        last network seen are kept grouped by receiver."""
        if self._fifo:
            return [e for e in self._in_flight_once(network) if e[1] == node]
        if network is not self._addressed_network:
            addressed: dict[Id, list[Envelope]] = {}
            for envelope in network:
                receiver = envelope[1]
                if receiver in addressed:
                    addressed[receiver].append(envelope)
                else:
                    addressed[receiver] = [envelope]
            self._addressed_network, self._addressed = network, addressed
        return self._addressed.get(node, [])

    def _in_flight_once(self, network: Any) -> Any:
        """Each distinct message in ``network`` once, in no particular order."""
        if self.network == "fifo":
            return [Envelope(src, dst, msg) for (src, dst), channel in network.items()
                    for msg in channel]
        return network

    def _forget(self, network: Any, dead: list[Envelope]) -> Any:
        """``network`` without any copy of the ``dead`` messages."""
        if self.network == "unordered-duplicating":
            return network.difference(dead)
        if self.network == "unordered":
            return Bag({e: n for e, n in network.items() if e not in dead})
        channels = {}
        for (src, dst), channel in network.items():
            kept = tuple(m for m in channel if Envelope(src, dst, m) not in dead)
            if kept:
                channels[(src, dst)] = kept
        return Map(channels)

    def init(self) -> World:
        world = World(Map(), self._empty_network(), frozenset(), frozenset(), _NO_FAULTS)
        locals_: dict[Id, Any] = {}
        for node in self.node_ids():
            ctx = Context(self, node)
            locals_[node] = self.role_of(node).start(node, ctx)
            world = self._apply(world.replace(nodes=Map(locals_)), node, None, ctx, world.network)
        return world

    # -- actions ---------------------------------------------------------------------------

    def _collect_node_actions(self) -> list[ActionSpec]:
        specs = []
        for role_name, role in self._roles.items():
            for attr, method in inspect.getmembers(type(role), inspect.isfunction):
                marker = getattr(method, "__checker_node_action__", None)
                if marker is None:
                    continue
                arguments = len(inspect.signature(method).parameters) - 4
                domains = tuple(self._resolve_domain(attr, d)
                                for d in split_domains(marker.over, arguments))
                if any(not isinstance(d, tuple) for d in domains):
                    raise ModelDefinitionError(
                        f"model {self.name}, role {role_name}, action {attr}: node action "
                        "domains must not depend on the state"
                    )
                name = f"{role_name}.{marker.name or attr}"
                specs.append(self._node_action_spec(role_name, getattr(role, attr), name, domains))
        return specs

    def _node_action_spec(self, role_name: str, method: Callable[..., Any], name: str,
                          domains: tuple[tuple[Any, ...], ...]) -> ActionSpec:
        role_ids = self._ids[role_name]

        def step(world: World, node: Id, *args: Any) -> World | None:
            nodes, network, _, crashed, _ = world
            if node in crashed:
                return None
            ctx = Context(self, node)
            local = method(node, nodes[node], ctx, *args)
            if local is None:
                return None
            return self._apply(world, node, local, ctx, network)

        def label(node: Id, *args: Any) -> str:
            shown = ", ".join(show(a) for a in args)
            return f"{node}.{name.split('.', 1)[1]}({shown})"

        def meta(previous: World, successor: World, node: Id, *args: Any) -> dict[str, Any]:
            return {"kind": "action", "actor": repr(node), "fault": False,
                    "sends": self.sent(previous, successor)}

        return ActionSpec(name, step, (role_ids, *domains), label=label, meta=meta)

    def actions(self) -> list[ActionSpec]:
        specs = [
            ActionSpec("deliver", self._deliver, (self._deliverable,), label=_label("deliver"),
                       meta=self._message_meta("deliver")),
            *self._collect_node_actions(),
            ActionSpec("timeout", self._timeout, (self._armed_timers,),
                       label=lambda armed: f"timeout({armed[0]}: {_show(armed[1])})",
                       meta=self._node_meta("timeout")),
        ]
        if self.max_crashes:
            specs.append(ActionSpec("crash", self._crash, (self._crashable,),
                                    label=lambda n: f"crash({n})", meta=self._node_meta("crash")))
        if self.max_restarts:
            specs.append(ActionSpec("restart", self._restart, (self._crashed,),
                                    label=lambda n: f"restart({n})",
                                    meta=self._node_meta("restart")))
        if self.network != "unordered-duplicating":
            if self.max_drops:
                specs.append(ActionSpec("drop", self._drop, (self._droppable,),
                                        label=_label("drop"), meta=self._message_meta("drop")))
            if self.max_duplicates:
                specs.append(ActionSpec("duplicate", self._duplicate, (self._duplicable,),
                                        label=_label("duplicate"),
                                        meta=self._message_meta("duplicate")))
        return specs

    def sent(self, previous: World, successor: World) -> list[dict[str, Any]]:
        """The messages a step added to the network, as trace metadata."""
        before, after = previous.network, successor.network
        if self.network == "unordered-duplicating":
            added = sorted(after - before, key=fingerprint)
        elif self.network == "unordered":
            added = [e for e in sorted(after, key=fingerprint)
                     for _ in range(after[e] - before.get(e, 0))]
        else:
            added = [Envelope(src, dst, msg) for (src, dst) in sorted(after)
                     for msg in after[(src, dst)][len(before.get((src, dst), ())):]]
        return [envelope_json(e) for e in added]

    def _node_meta(self, kind: str) -> Callable[..., dict[str, Any]]:
        fault = kind in ("crash", "restart")

        def meta(previous: World, successor: World, arg: Any) -> dict[str, Any]:
            node = arg[0] if kind == "timeout" else arg
            facts = {"kind": kind, "actor": repr(node), "fault": fault,
                     "sends": self.sent(previous, successor)}
            if kind == "timeout":
                facts["timer"] = _show(arg[1])
            return facts

        return meta

    def _message_meta(self, kind: str) -> Callable[..., dict[str, Any]]:
        def meta(previous: World, successor: World, envelope: Envelope) -> dict[str, Any]:
            return {"kind": kind, "actor": repr(envelope.dst), "fault": kind != "deliver",
                    "message": envelope_json(envelope),
                    "sends": self.sent(previous, successor) if kind == "deliver" else []}

        return meta

    def _in_flight(self, world: World) -> list[Envelope]:
        """Each distinct message in flight once, in a fixed order."""
        network = world.network
        if self.network == "fifo":
            return [Envelope(src, dst, msg) for (src, dst) in sorted(network)
                    for msg in dict.fromkeys(network[(src, dst)])]
        return sorted(network, key=fingerprint)

    def _droppable(self, world: World) -> list[Envelope]:
        return self._in_flight(world) if world.faults[DROPS] < self.max_drops else []

    def _duplicable(self, world: World) -> list[Envelope]:
        return self._in_flight(world) if world.faults[DUPLICATES] < self.max_duplicates else []

    def _deliverable(self, world: World) -> list[Envelope]:
        _, network, _, crashed, _ = world
        if self._fifo:
            return [Envelope(src, dst, network[(src, dst)][0]) for (src, dst) in sorted(network)
                    if dst not in crashed]
        ordered = sorted(network, key=fingerprint)
        return [e for e in ordered if e[1] not in crashed] if crashed else ordered

    def _armed_timers(self, world: World) -> list[tuple[Id, Any]]:
        _, _, timers, crashed, _ = world
        ordered = sorted(timers, key=fingerprint)
        return [t for t in ordered if t[0] not in crashed] if crashed else ordered

    def _crashable(self, world: World) -> list[Id]:
        if world.faults[CRASHES] >= self.max_crashes:
            return []
        crashed = world.crashed
        return [node for node in self._crash_candidates if node not in crashed]

    def _crashed(self, world: World) -> list[Id]:
        if world.faults[RESTARTS] >= self.max_restarts:
            return []
        return sorted(world.crashed)

    def _remove_one(self, network: Any, envelope: Envelope) -> Any:
        kind = self.network
        if kind == "unordered-duplicating":
            return network
        if kind == "unordered":
            return network.remove_one(envelope)
        key = (envelope.src, envelope.dst)
        channel = network[key]
        position = channel.index(envelope.msg)
        rest = channel[:position] + channel[position + 1:]
        return network.set(key, rest) if rest else network.remove(key)

    def _deliver(self, world: World, envelope: Envelope) -> World:
        src, node, msg = envelope
        ctx = Context(self, node)
        local = self._on_message[node](node, world.nodes[node], src, msg, ctx)
        if self._duplicating:
            return self._apply(world, node, local, ctx, world.network)
        if self._bag:
            return self._apply(world, node, local, ctx, world.network, consumed=envelope)
        return self._apply(world, node, local, ctx, self._remove_one(world.network, envelope))

    def _timeout(self, world: World, armed: tuple[Id, Any]) -> World:
        node, timer = armed
        ctx = Context(self, node)
        local = self._on_timer[node](node, world.nodes[node], timer, ctx)
        return self._apply(world, node, local, ctx, world.network, fired=armed)

    def _used(self, world: World, which: int) -> tuple[int, ...]:
        faults = list(world.faults)
        faults[which] += 1
        return tuple(faults)

    def _crash(self, world: World, node: Id) -> World:
        role = self.role_of(node)
        fresh = role.start(node, Context(self, node))
        old = world.nodes[node]
        kept = {field: getattr(old, field) for field in type(role).durable}
        local = fresh.replace(**kept) if kept else fresh
        network = world.network
        if self.crash_notices:
            notices = [Envelope(node, other, Crashed()) for role in self.crash_notices
                       for other in self.nodes_of(role) if other != node]
            network = self._send_all(network, notices)
        return World(
            world.nodes.set(node, local),
            network,
            frozenset(t for t in world.timers if t[0] != node),
            world.crashed | {node},
            self._used(world, CRASHES),
        )

    def _restart(self, world: World, node: Id) -> World:
        ctx = Context(self, node)
        local = self._on_restart[node](node, world.nodes[node], ctx)
        return self._apply(world, node, local, ctx, world.network,
                           crashed=world.crashed - {node}, faults=self._used(world, RESTARTS))

    def _drop(self, world: World, envelope: Envelope) -> World:
        return world.replace(network=self._remove_one(world.network, envelope),
                             faults=self._used(world, DROPS))

    def _duplicate(self, world: World, envelope: Envelope) -> World:
        kind = self.network
        if kind == "unordered":
            network = world.network.add(envelope)
        else:
            key = (envelope.src, envelope.dst)
            channel = world.network[key]
            position = channel.index(envelope.msg)
            network = world.network.set(
                key, channel[:position + 1] + (envelope.msg,) + channel[position + 1:])
        return world.replace(network=network, faults=self._used(world, DUPLICATES))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else show(value)


def _label(kind: str) -> Callable[[Envelope], str]:
    def label(envelope: Envelope) -> str:
        return f"{kind}({envelope.src} → {envelope.dst}: {show(envelope.msg)})"

    return label


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """A message in flight as trace metadata: sender, receiver, label and data."""
    return {
        "src": repr(envelope.src),
        "dst": repr(envelope.dst),
        "label": show(envelope.msg),
        "msg": to_json(envelope.msg),
    }
