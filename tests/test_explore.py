"""The explorer on tiny hand-made models and on random graphs checked against networkx."""

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import (
    Model,
    Options,
    Record,
    action,
    action_invariant,
    check,
    constraint,
    invariant,
    sometimes,
)
from checker.errors import NondeterminismError


class Counter(Model):
    """Counts up to a limit; the limit is the number of distinct states minus one."""

    deadlock = False

    def init(self):
        return 0

    @action
    def increment(self, s):
        return s + 1 if s < 5 else None

    @invariant
    def small(self, s):
        return s <= 5


def test_counter_has_six_states_and_depth_five():
    result = check(Counter())
    assert (result.verdict, result.distinct_states, result.transitions, result.depth) == (
        "ok", 6, 5, 5)


class Broken(Counter):
    @invariant
    def below_three(self, s):
        return s < 3


def test_invariant_violation_gives_shortest_trace_of_real_states():
    result = check(Broken())
    assert result.verdict == "violation"
    assert result.property == "below_three"
    assert [step.state for step in result.trace.steps] == [0, 1, 2, 3]
    assert [step.action for step in result.trace.steps] == ["init"] + ["increment"] * 3


class Stuck(Model):
    def init(self):
        return 0

    @action
    def step(self, s):
        return 1 if s == 0 else None


def test_state_without_successor_is_a_deadlock():
    result = check(Stuck())
    assert (result.verdict, result.property, len(result.trace)) == ("violation", "deadlock", 2)


def test_no_deadlock_option_accepts_terminal_states():
    assert check(Stuck(), Options(check_deadlock=False)).verdict == "ok"


class Finished(Stuck):
    def final(self, s):
        return s == 1


def test_final_states_are_not_deadlocks():
    assert check(Finished()).verdict == "ok"


class Branching(Model):
    """Actions over domains and actions returning several successors."""

    deadlock = False

    def init(self):
        return [(0, 0), (0, 1)]

    @action(over=(range(2), "steps"))
    def move(self, s, axis, by):
        if s[axis] + by <= 2:
            moved = list(s)
            moved[axis] += by
            return tuple(moved)

    @action
    def both(self, s):
        return [(s[0], s[1]), (s[1], s[0])]

    def setup(self):
        self.steps = (1, 2)


def test_domains_initial_lists_and_several_successors():
    result = check(Branching())
    assert result.distinct_states == 9
    assert result.depth == 2


class Monotone(Model):
    deadlock = False

    def init(self):
        return 0

    @action
    def up(self, s):
        return s + 1 if s < 3 else None

    @action
    def reset(self, s):
        return 0 if s == 2 else None

    @action_invariant
    def never_decreases(self, s, t):
        return t >= s


def test_action_invariant_is_checked_on_every_transition():
    result = check(Monotone())
    assert result.verdict == "violation"
    assert result.property == "never_decreases"
    assert [step.state for step in result.trace.steps] == [0, 1, 2, 0]
    assert result.trace.steps[-1].action == "reset"


class Bounded(Counter):
    @constraint
    def below_three(self, s):
        return s <= 2


def test_constraint_stops_expansion_but_counts_the_state():
    result = check(Bounded())
    assert result.distinct_states == 4


class NeverChosen(Counter):
    @sometimes
    def reaches_ten(self, s):
        return s == 10


def test_unreached_sometimes_property_is_a_violation_without_trace():
    result = check(NeverChosen())
    assert (result.verdict, result.property, result.property_kind) == (
        "violation", "reaches_ten", "sometimes")
    assert result.trace is None


def test_bounds_give_incomplete_verdicts():
    assert check(Counter(), Options(max_depth=2)).verdict == "incomplete"
    assert check(Counter(), Options(max_states=3)).verdict == "incomplete"
    assert check(Counter(), Options(max_depth=10)).verdict == "ok"


class Raises(Counter):
    @action
    def divide(self, s):
        return 10 // (2 - s) if s == 2 else None


def test_model_exception_is_reported_with_trace_to_the_failing_step():
    result = check(Raises())
    assert result.verdict == "error"
    assert "ZeroDivisionError" in result.error
    assert [step.state for step in result.trace.steps[:-1]] == [0, 1, 2]
    assert result.trace.steps[-1].action == "divide"
    assert "ZeroDivisionError" in result.trace.steps[-1].error


class Flaky(Model):
    """Its successors depend on a counter outside the state: not deterministic."""

    deadlock = False

    def setup(self):
        self.calls = 0

    def init(self):
        return 0

    @action
    def step(self, s):
        self.calls += 1
        if s < 3:
            return s + 1 + (self.calls > 4)

    @invariant
    def small(self, s):
        return s < 3


def test_nondeterministic_model_is_diagnosed_when_rebuilding_a_trace():
    with pytest.raises(NondeterminismError, match="not deterministic"):
        check(Flaky())


class Pair(Record):
    left: int
    right: int = 0


def test_records_update_functionally_and_compare_by_type():
    p = Pair(1)
    assert p.replace(right=4) == Pair(1, 4)
    assert p == Pair(1, 0)
    assert p != (1, 0)
    with pytest.raises(TypeError, match="no field 'middle'"):
        p.replace(middle=3)


def graph_model(graph: nx.DiGraph, initial: list[int], bad: set[int]) -> Model:
    """A transition system whose states are the graph's nodes."""

    class GraphModel(Model, abstract=True):
        deadlock = False

        def init(self):
            return list(initial)

        @action(over=lambda self, s: sorted(graph.successors(s)))
        def edge(self, s, target):
            return target

        @invariant
        def good(self, s):
            return s not in bad

    GraphModel._validate_definition()
    return GraphModel()


@st.composite
def graphs(draw):
    size = draw(st.integers(1, 14))
    edges = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)),
                          max_size=40))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(size))
    graph.add_edges_from(edges)
    initial = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3, unique=True))
    bad = set(draw(st.lists(st.integers(0, size - 1), max_size=3)))
    return graph, initial, bad


def distances(graph: nx.DiGraph, initial: list[int]) -> dict[int, int]:
    """Shortest distance from the set of initial nodes to every reachable node."""
    source = object()
    augmented = graph.copy()
    augmented.add_edges_from((source, node) for node in initial)
    lengths = nx.single_source_shortest_path_length(augmented, source)
    return {node: length - 1 for node, length in lengths.items() if node is not source}


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_explorer_matches_networkx_reachability_depth_and_shortest_paths(case):
    graph, initial, bad = case
    result = check(graph_model(graph, initial, set()))
    reach = distances(graph, initial)
    assert result.distinct_states == len(reach)
    assert result.depth == max(reach.values())
    assert result.transitions == sum(graph.out_degree(node) for node in reach)

    result = check(graph_model(graph, initial, bad))
    reachable_bad = {node: d for node, d in reach.items() if node in bad}
    if not reachable_bad:
        assert result.verdict == "ok"
        return
    assert result.verdict == "violation"
    path = [step.state for step in result.trace.steps]
    assert path[0] in initial and path[-1] in bad
    assert all(graph.has_edge(a, b) for a, b in zip(path, path[1:]))
    assert len(path) - 1 == min(reachable_bad.values())


def test_dict_store_and_table_store_give_the_same_search(monkeypatch):
    from pathlib import Path

    from checker import explore, store
    from checker.loader import build_model

    model = build_model(Path(__file__).parent.parent / "models" / "paxos.py", {"q1": 1, "q2": 2})
    table = check(model)
    monkeypatch.setattr(explore, "new_store", store.DictStore)
    plain = check(model)
    assert isinstance(table.trace, type(plain.trace))
    assert (plain.distinct_states, plain.transitions, plain.depth) == (
        table.distinct_states, table.transitions, table.depth)
    assert [s.state for s in plain.trace.steps] == [s.state for s in table.trace.steps]


def test_table_store_grows_and_keeps_parent_links():
    from checker.store import TableStore

    store = TableStore(capacity=16)
    assert store.add(1, None, 0)
    for code in range(2, 200):
        assert store.add(code, code - 1, 7)
    assert not store.add(150, 3, 1)
    assert store.table.capacity >= 256 and len(store) == 199
    path = store.path_to(5)
    assert path == [(0, 1), (7, 2), (7, 3), (7, 4), (7, 5)]
    assert store.bytes_per_state() < 60


def test_search_stops_with_figures_when_memory_runs_short(tmp_path):
    from checker.explore import memory_short

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemFree: 100000 kB\nMemAvailable: 200000 kB\n")
    message = memory_short(1_234_567, 39.4, str(meminfo))
    assert message.startswith("memory running short (195 MiB of 23,437 MiB left)")
    assert "1,234,567 distinct states (39 bytes per state" in message
    meminfo.write_text("MemTotal: 24000000 kB\nMemAvailable: 12000000 kB\n")
    assert memory_short(10, 40.0, str(meminfo)) is None
    assert memory_short(10, 40.0, str(tmp_path / "missing")) is None


class Mixed(Model):
    """Actions of every shape: no argument, static one and two arguments, a domain that
    depends on the state, and results that are None, one state, a list or a generator."""

    deadlock = False

    def init(self):
        return [(0, 0), (1, 2)]

    @action
    def bump(self, s):
        return (s[0] + 1, s[1]) if s[0] < 3 else None

    @action(over=(0, 1, 2))
    def put(self, s, v):
        return [(s[0], v), None, (v, s[1])] if v != s[1] else None

    @action(over=((0, 1), ("a", "b")))
    def pair(self, s, n, tag):
        if s[0] == n and tag == "a":
            yield (s[1], s[0])
            yield None

    @action(over=lambda self, s: range(s[1]))
    def lower(self, s, v):
        return (s[0], v)

    @action(over=(lambda self, s: range(s[0]), (1, 2)))
    def shift(self, s, v, w):
        return (v, (s[1] + w) % 3)


class Alternating(Model):
    """States alternate between ints and strings, so successors are often of another class
    than their parent; actions give lists and generators too, and the expander is also tried
    on lists, which are never states but must still be unpacked when an action returns one."""

    deadlock = False

    def init(self):
        return [0]

    @action
    def flip(self, s):
        if isinstance(s, int):
            return str(s) if s < 4 else None
        return int(s) + 1 if isinstance(s, str) else None

    @action(over=(1, 2))
    def many(self, s, k):
        if isinstance(s, int):
            return [s + k, None, str(s)] if s + k < 6 else []
        return None if k == 1 else s

    @action
    def pass_on(self, s):
        if isinstance(s, list):
            return [*s, None]
        return (x for x in ()) if isinstance(s, str) else None


def test_the_expander_handles_results_of_any_class():
    from checker.explore import expander, successors

    actions = Alternating().actions()
    expand = expander(actions)
    for state in [0, 3, "2", 5, [1, 2], []]:
        assert expand(state) == [successor for _, _, successor in successors(state, actions)]
    assert expand([1, 2]) == [1, 2, 1, 2] and expand(0) == ["0", 1, "0", 2, "0"]
    assert expand("2") == [3, "2"]


@pytest.mark.parametrize("model_file, params", [
    ("two_phase_commit.py", {"rms": 3}), ("paxos.py", {}), ("raft.py", {"restarts": 0}),
    ("primary_backup.py", {}), ("paxos_actors.py", {"bug": "no_promise_check"}),
])
def test_the_generated_expander_gives_the_successors_in_enumeration_order(model_file, params):
    from pathlib import Path

    from checker.explore import expander, successors
    from checker.loader import build_model

    models = [Mixed(), Alternating()]
    if model_file:
        models.append(build_model(Path(__file__).parent.parent / "models" / model_file, params))
    for model in models:
        actions = model.actions()
        expand = expander(actions)
        frontier, seen = model.initial_states(), set()
        while frontier and len(seen) < 3000:
            state = frontier.pop()
            expected = [successor for _, _, successor in successors(state, actions)]
            assert expand(state) == expected
            for successor in expected:
                if successor not in seen:
                    seen.add(successor)
                    frontier.append(successor)


class RaisesAfterSuccessors(Counter):
    """At state 2 the first action gives 3, then this one raises."""

    @action
    def divide(self, s):
        return 10 // (2 - s) if s == 2 else None


class Unhashable(Counter):
    @action
    def listify(self, s):
        return [[s]] if s == 1 else None


class RaisesOnce(Counter):
    def setup(self):
        self.raised = False

    @action
    def once(self, s):
        if s == 1 and not self.raised:
            self.raised = True
            raise ValueError("only the first time")


def test_errors_name_the_failing_step_and_count_the_transitions_before_it():
    result = check(RaisesAfterSuccessors())
    assert result.verdict == "error" and result.trace.steps[-1].action == "divide"
    assert result.transitions == 3  # 0->1, 1->2, then 2->3 before divide raised
    result = check(Unhashable())
    assert result.verdict == "error" and result.trace.steps[-1].action == "listify"
    assert "cannot fingerprint" in result.error
    result = check(RaisesOnce())
    assert result.verdict == "error" and "only the first time" in result.error
    assert "did not raise when run again" in result.error


def test_the_search_collects_cycles_less_often_and_restores_the_thresholds():
    import gc

    from checker.explore import MIDDLE_COLLECTIONS, YOUNG_OBJECTS

    before = gc.get_threshold()
    seen = []

    class Watching(Counter):
        @invariant
        def watch(self, s):
            seen.append(gc.get_threshold())
            return True

    check(Watching())
    assert seen and min(young for young, _, _ in seen) >= YOUNG_OBJECTS
    assert min(middle for _, middle, _ in seen) >= MIDDLE_COLLECTIONS
    assert gc.get_threshold() == before
