"""The actor layer: network semantics, timers, faults and crash-restart with durable state."""

import pytest

from checker import Record, check, invariant, param
from checker.actors import ActorModel, Role, node_action
from checker.explore import successors
from checker.values import Id


class Log(Record):
    received: tuple = ()
    boots: int = 0


class Sender(Role):
    def start(self, me, ctx):
        for number in (1, 2):
            ctx.send(Id("receiver", 0), number)
        return Log()


class Receiver(Role):
    durable = ("received",)

    def start(self, me, ctx):
        ctx.set_timer("tick")
        return Log()

    def on_message(self, me, local, src, msg, ctx):
        return local.replace(received=local.received + (msg,))

    def on_timer(self, me, local, timer, ctx):
        return local.replace(boots=local.boots + 1)


def pipe(network_kind: str, **budgets) -> ActorModel:
    class Pipe(ActorModel, abstract=True):
        network = network_kind

        def roles(self):
            return {Sender: 1, Receiver: 1}

    return Pipe(**budgets)


def reachable(model, depth: int = 50) -> set:
    """Every world reachable in ``depth`` steps, by a plain search over the transitions."""
    actions = model.actions()
    frontier = model.initial_states()
    seen = set(frontier)
    for _ in range(depth):
        following = []
        for world in frontier:
            for _spec, _args, successor in successors(world, actions):
                if successor not in seen:
                    seen.add(successor)
                    following.append(successor)
        frontier = following
    return seen


def logs(model, depth: int = 50) -> set:
    return {world.local(Id("receiver", 0)).received for world in reachable(model, depth)}


def test_unordered_duplicating_network_redelivers_in_any_order():
    found = logs(pipe("unordered-duplicating"), depth=3)
    assert {(1, 1, 2), (2, 1), (2, 2, 2)} <= found
    assert max(len(log) for log in found) == 3


def test_unordered_network_delivers_each_copy_once_in_any_order():
    assert logs(pipe("unordered")) == {(), (1,), (2,), (1, 2), (2, 1)}


def test_fifo_network_keeps_order():
    assert logs(pipe("fifo")) == {(), (1,), (1, 2)}


def test_drop_budget_loses_one_message():
    found = logs(pipe("fifo", max_drops=1))
    assert found == {(), (1,), (2,), (1, 2)}


def test_duplicate_budget_copies_one_message():
    found = logs(pipe("unordered", max_duplicates=1))
    assert (1, 1, 2) in found and (2, 2, 1) in found and (1, 1, 2, 2) not in found


def test_crash_resets_volatile_fields_and_keeps_durable_ones():
    model = pipe("fifo", max_crashes=1, max_restarts=1)
    worlds = reachable(model)
    receiver = Id("receiver", 0)
    crashed = [w for w in worlds if receiver in w.crashed]
    assert crashed and all(w.local(receiver).boots == 0 for w in crashed)
    assert any(w.local(receiver).received == (1,) for w in crashed)
    assert all((receiver, "tick") not in w.timers for w in crashed)
    restarted = [w for w in worlds if w.faults[1] == 1]
    assert restarted and all((receiver, "tick") in w.timers or w.local(receiver).boots
                             for w in restarted)


def test_crashed_nodes_receive_nothing():
    model = pipe("fifo", max_crashes=1)
    receiver = Id("receiver", 0)
    for world in reachable(model):
        if receiver in world.crashed:
            assert all(s.name != "deliver" or a[0].dst != receiver
                       for s, a, _ in successors(world, model.actions()))


class Ping(Role):
    def start(self, me, ctx):
        return 0

    @node_action(over=range(2))
    def bump(self, me, local, ctx, by):
        if local < 2:
            ctx.broadcast("ping", local + by, include_self=False)
            return local + by + 1


class Pinger(ActorModel):
    network = "unordered-duplicating"
    nodes = param(2, range(1, 4), "pingers")

    def roles(self):
        return {Ping: self.nodes}

    @invariant
    def small(self, world):
        return all(count <= 3 for _, count in world.of("ping"))


def test_quiescent_actor_states_are_final_not_deadlocks():
    result = check(Pinger())
    assert result.verdict == "ok"
    assert result.distinct_states > 1


def test_node_actions_are_labelled_with_the_node():
    model = Pinger()
    world = model.initial_states()[0]
    labels = [spec.describe(args) for spec, args, _ in successors(world, model.actions())]
    assert labels[:2] == ["ping0.bump(0)", "ping0.bump(1)"]


def test_trace_steps_carry_actor_metadata():
    class Racy(Pinger):
        @invariant
        def small(self, world):
            return all(count < 2 for _, count in world.of("ping"))

    result = check(Racy())
    step = result.trace.steps[1]
    assert step.meta["kind"] == "action" and step.meta["actor"] == "ping0"
    assert step.meta["sends"] and step.meta["sends"][0]["dst"] == "ping1"


def test_unknown_network_kind_is_rejected():
    from checker import ModelDefinitionError

    with pytest.raises(ModelDefinitionError, match="network 'lossy'"):
        class Bad(ActorModel):
            network = "lossy"

            def roles(self):
                return {}


class Highest(Record):
    highest: int = 0


class Numbers(Role):
    def start(self, me, ctx):
        for number in (3, 1, 2):
            ctx.send(Id("keeper", 0), number)
        return 0

    @node_action(over=(1, 2, 3))
    def resend(self, me, local, ctx, number):
        if local < 2:
            ctx.send(Id("keeper", 0), number)
            return local + 1


class Keeper(Role):
    def start(self, me, ctx):
        return Highest()

    def on_message(self, me, local, src, msg, ctx):
        return local.replace(highest=msg) if msg > local.highest else local


def keeper(network_kind: str, forgets: bool, **budgets) -> ActorModel:
    class Keeping(ActorModel, abstract=True):
        network = network_kind

        def roles(self):
            return {Numbers: 1, Keeper: 1}

    class Forgetting(Keeping, abstract=True):
        def obsolete(self, envelope, receiver):
            return envelope.msg <= receiver.highest

    return (Forgetting if forgets else Keeping)(**budgets)


@pytest.mark.parametrize("network_kind, budgets", [
    ("unordered-duplicating", {}),
    ("unordered", {"max_duplicates": 1, "max_drops": 1}),
    ("fifo", {"max_duplicates": 1, "max_drops": 1}),
])
def test_obsolete_messages_are_forgotten_on_every_network_without_losing_a_local_state(
        network_kind, budgets):
    forgetting = reachable(keeper(network_kind, True, **budgets))
    keeping = reachable(keeper(network_kind, False, **budgets))
    receiver = Id("keeper", 0)
    assert {w.local(receiver) for w in forgetting} == {w.local(receiver) for w in keeping}
    assert {w.local(receiver).highest for w in forgetting} == {0, 1, 2, 3}

    def holds_obsolete(world):
        return any(e.msg <= world.local(receiver).highest for e in world.in_flight())

    assert not any(holds_obsolete(world) for world in forgetting)
    assert any(holds_obsolete(world) for world in keeping)
