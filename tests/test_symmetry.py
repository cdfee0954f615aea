"""Symmetry reduction: exact canonical forms, checked against brute force.

The reference for every count here is brute force: explore without symmetry, relabel every
reachable state by every permutation of the symmetric ids, and count the orbits (the least
relabelled fingerprint names an orbit). A symmetric search must find exactly that many states.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import InvalidInput, Map, Model, Record, action, ids, invariant, sometimes
from checker import symmetry as symmetry_module
from checker.explore import Options, check, successors
from checker.fingerprint import fingerprint, fingerprint_python
from checker.loader import build_model
from checker.model import CONSTRAINT
from checker.symmetry import (
    Symmetry,
    canonical_fingerprint,
    fingerprint_permuted,
    fingerprint_permuted_python,
    model_ids,
    permute,
)
from checker.values import Bag, Id

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "models" / "paxos.py")
TWO_PHASE = str(ROOT / "models" / "two_phase_commit.py")
NAIVE_PAXOS = ROOT / "models" / "naive_paxos.py"
PAXOS_ACTORS = ROOT / "models" / "paxos_actors.py"

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- brute force ---------------------------------------------------------------------------


def reachable_states(model: Model) -> list[Any]:
    """Every reachable state, breadth-first without reduction (constraints stop expansion)."""
    actions = model.actions()
    constraints = [p.check for p in model.properties() if p.kind == CONSTRAINT]
    states, seen = [], set()
    for state in model.initial_states():
        if fingerprint(state) not in seen:
            seen.add(fingerprint(state))
            states.append(state)
    for state in states:
        if not all(c(state) for c in constraints):
            continue
        for _spec, _args, successor in successors(state, actions):
            key = fingerprint(successor)
            if key not in seen:
                seen.add(key)
                states.append(successor)
    return states


def all_permutations(groups: list[tuple[Id, ...]]) -> list[dict[Id, Id]]:
    """Every permutation of the product group of ``groups`` (n! each: small groups only)."""
    groups = [g for g in groups if len(g) > 1]
    result = []
    for images in itertools.product(*(itertools.permutations(g) for g in groups)):
        result.append({a: b for g, image in zip(groups, images) for a, b in zip(g, image)})
    return result


def orbit_key(state: Any, permutations: list[dict[Id, Id]]) -> int:
    """The least fingerprint over the orbit: equal exactly for states of one orbit."""
    return min(fingerprint_permuted(state, p) for p in permutations)


def model_groups(model: Model) -> list[tuple[Id, ...]]:
    found = model_ids(model, model.symmetric)
    return [tuple(sorted(i for i in found if i.kind == kind)) for kind in model.symmetric]


def orbit_count(model: Model) -> tuple[int, int]:
    """(reachable states, orbits) by brute force."""
    states = reachable_states(model)
    permutations = all_permutations(model_groups(model))
    return len(states), len({orbit_key(s, permutations) for s in states})


def symmetric_run(model: Model, **options: Any):
    return check(model, Options(**options), fingerprint_fn=canonical_fingerprint(model),
                 symmetry=True)


# --- random values -------------------------------------------------------------------------

NODES = ids("n", 4)
VALUES = ids("v", 3)
SYMMETRY = Symmetry(("n", "v"), NODES + VALUES)


class Pair(Record):
    first: object
    second: object = None


class Triple(Record):
    a: object
    b: object
    c: object


atoms = st.sampled_from([None, 0, 1, -1, 2**63 + 5, "x", "y", True, False, 2.5, b"z"])
leaves = st.one_of(atoms, st.sampled_from(NODES + VALUES), st.sampled_from([Id("other", 0)]))


def _containers(children):
    return st.one_of(
        st.tuples(children, children),
        st.frozensets(children, max_size=4),
        st.dictionaries(children, children, max_size=3).map(Map),
        st.dictionaries(children, st.integers(1, 3), max_size=3).map(Bag),
        st.builds(Pair, children, children),
    )


values = st.recursive(leaves, _containers, max_leaves=14)
states = st.builds(Triple, values, values, values)
permutations = st.builds(
    lambda n, v: {**dict(zip(NODES, n)), **dict(zip(VALUES, v))},
    st.permutations(NODES), st.permutations(VALUES),
)
mappings = st.dictionaries(st.sampled_from(NODES + VALUES), st.sampled_from(NODES + VALUES))


# --- the fingerprint walk ------------------------------------------------------------------


@FAST
@given(values, permutations)
def test_fingerprint_permuted_of_a_permutation_is_the_fingerprint_of_the_rebuilt_value(
        value, permutation):
    expected = fingerprint_python(permute(value, permutation))
    assert fingerprint_permuted_python(value, permutation) == expected
    assert fingerprint_permuted(value, permutation) == expected


@FAST
@given(values, mappings)
def test_the_python_fallback_matches_the_c_extension_even_for_mappings_that_merge_ids(
        value, mapping):
    c_fp = pytest.importorskip("checker._fp")
    if not hasattr(c_fp, "fingerprint_permuted"):
        pytest.skip("checker._fp has no fingerprint_permuted")
    assert fingerprint_permuted_python(value, mapping) == c_fp.fingerprint_permuted(value, mapping)


def test_permute_reaches_ids_in_records_tuples_sets_and_map_and_bag_keys_and_values():
    a, b = NODES[0], NODES[1]
    value = Triple(a, frozenset({(a, 1)}), Map({a: Bag({Pair(b): 2})}))
    assert permute(value, {a: b, b: a}) == Triple(b, frozenset({(b, 1)}),
                                                 Map({b: Bag({Pair(a): 2})}))


# --- canonical forms of random states ------------------------------------------------------


@FAST
@given(states, permutations)
def test_canonical_fingerprint_is_the_same_for_every_permutation_of_a_state(state, permutation):
    assert SYMMETRY.canonical_fingerprint(permute(state, permutation)) == (
        SYMMETRY.canonical_fingerprint(state))


@FAST
@given(states, permutations)
def test_canonical_state_is_in_the_orbit_idempotent_and_the_same_for_permuted_copies(
        state, permutation):
    canonical = SYMMETRY.canonical_state(state)
    assert SYMMETRY.canonical_state(canonical) == canonical
    assert SYMMETRY.canonical_state(permute(state, permutation)) == canonical
    every = all_permutations([NODES, VALUES])
    assert any(permute(state, p) == canonical for p in every)


small_graphs = st.builds(
    lambda edges, marks, votes: Triple(
        frozenset(edges), Map(marks), frozenset(votes)),
    st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)), max_size=4),
    st.dictionaries(st.sampled_from(NODES), st.integers(0, 1), max_size=2),
    st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(VALUES)), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(small_graphs, min_size=10, max_size=30))
def test_canonical_fingerprints_are_equal_exactly_when_brute_force_finds_one_orbit(sample):
    every = all_permutations([NODES, VALUES])
    pairs = {(orbit_key(s, every), SYMMETRY.canonical_fingerprint(s)) for s in sample}
    assert len({orbit for orbit, _ in pairs}) == len(pairs) == len({c for _, c in pairs})


def _undirected(*edges: tuple[int, int]) -> frozenset:
    nodes = ids("g", 6)
    return frozenset(frozenset({nodes[a], nodes[b]}) for a, b in edges)


def test_two_triangles_and_a_hexagon_differ_although_colour_refinement_cannot_tell_them_apart():
    symmetry = Symmetry(("g",), ids("g", 6))
    triangles = _undirected((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3))
    hexagon = _undirected((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0))
    assert symmetry.canonical_fingerprint(triangles) != symmetry.canonical_fingerprint(hexagon)
    every = all_permutations([ids("g", 6)])
    for permutation in every[::37]:
        for graph in (triangles, hexagon):
            assert symmetry.canonical_fingerprint(permute(graph, permutation)) == (
                symmetry.canonical_fingerprint(graph))


def test_acceptors_tied_only_through_the_values_they_voted_for_are_told_apart():
    a, v = ids("acceptor", 3), ids("value", 2)
    symmetry = Symmetry(("acceptor", "value"), a + v)
    split = frozenset({(a[0], v[0]), (a[1], v[1])})
    same = frozenset({(a[0], v[0]), (a[1], v[0])})
    swapped = frozenset({(a[1], v[0]), (a[2], v[1])})
    assert symmetry.canonical_fingerprint(split) != symmetry.canonical_fingerprint(same)
    assert symmetry.canonical_fingerprint(split) == symmetry.canonical_fingerprint(swapped)


def test_the_pure_python_fallback_gives_the_same_canonical_fingerprints(monkeypatch):
    model = build_model(PAXOS, {"acceptors": 3, "values": 2, "ballots": 2})
    sample = reachable_states(model)[::7]
    compiled = canonical_fingerprint(model, check=False, warn=False)
    expected = [compiled(state) for state in sample]
    monkeypatch.setattr(symmetry_module, "_CCore", None)
    monkeypatch.setattr(symmetry_module, "fingerprint_permuted", fingerprint_permuted_python)
    monkeypatch.setattr(symmetry_module, "fingerprint", fingerprint_python)
    fallback = canonical_fingerprint(model, check=False, warn=False)
    assert [fallback(state) for state in sample] == expected


# --- shipped models against brute force ----------------------------------------------------


def test_paxos_3_acceptors_2_values_ballots_0_1_has_3921_states_and_one_per_orbit_with_symmetry():
    model = build_model(PAXOS, {"acceptors": 3, "values": 2, "ballots": 2})
    plain, orbits = orbit_count(model)
    assert plain == 3921
    assert orbits == 443
    result = symmetric_run(model)
    assert (result.verdict, result.distinct_states) == ("ok", orbits)


def test_two_phase_commit_with_5_rms_has_8832_states_and_314_orbits():
    model = build_model(TWO_PHASE, {"rms": 5})
    plain, orbits = orbit_count(model)
    assert (plain, orbits) == (8832, 314)
    result = symmetric_run(model)
    assert (result.verdict, result.distinct_states) == ("ok", 314)


def _two_phase_orbit(state: Any) -> tuple:
    """Two-phase commit relates no two RMs, so a state is known up to a permutation of the RMs
    by its TM part and the multiset of each RM's local view (the orbit, exactly)."""
    prepared_by = {m.rm for m in state.msgs if type(m).__name__ == "Prepared"}
    views = sorted((state.rm_state[rm], rm in state.tm_prepared, rm in prepared_by)
                   for rm in state.rm_state)
    decisions = sorted(type(m).__name__ for m in state.msgs if not hasattr(m, "rm"))
    return state.tm_state, tuple(decisions), tuple(views)


def test_the_cheap_orbit_argument_for_two_phase_commit_agrees_with_brute_force():
    model = build_model(TWO_PHASE, {"rms": 4})
    states = reachable_states(model)
    every = all_permutations(model_groups(model))
    assert len({_two_phase_orbit(s) for s in states}) == len({orbit_key(s, every) for s in states})


@pytest.mark.parametrize(("rms", "orbits"), [(7, 920), (9, 2232)])
def test_two_phase_commit_orbits_counted_by_the_cheap_argument_match_the_symmetric_search(
        rms, orbits):
    model = build_model(TWO_PHASE, {"rms": rms})
    by_argument = check(model, Options(), symmetry=True,
                        fingerprint_fn=lambda state: fingerprint(_two_phase_orbit(state)))
    reduced = symmetric_run(build_model(TWO_PHASE, {"rms": rms}))
    assert by_argument.distinct_states == reduced.distinct_states == orbits
    assert by_argument.transitions == reduced.transitions


@pytest.mark.slow
def test_two_phase_commit_with_7_rms_has_296448_states_in_920_orbits():
    states = reachable_states(build_model(TWO_PHASE, {"rms": 7}))
    assert len(states) == 296_448
    assert len({_two_phase_orbit(s) for s in states}) == 920


ACTOR_MODELS = [
    (NAIVE_PAXOS, {"acceptors": 3}),
    (PAXOS_ACTORS, {"acceptors": 2}),
]


@pytest.mark.parametrize(("path", "params"), ACTOR_MODELS, ids=lambda v: getattr(v, "stem", ""))
def test_actor_models_find_one_state_per_orbit_and_the_same_verdict(path, params):
    if not path.exists():
        pytest.skip(f"{path.name} is not in this tree")
    model = build_model(str(path), params)
    assert model.symmetric
    plain = check(model, Options())
    symmetric = symmetric_run(build_model(str(path), params))
    assert (symmetric.verdict, symmetric.property) == (plain.verdict, plain.property)
    canonical = canonical_fingerprint(model, check=False, warn=False)
    states = reachable_states(model)
    every = all_permutations(model_groups(model))
    assert len({canonical(s) for s in states}) == len({orbit_key(s, every) for s in states})
    if plain.verdict == "ok":
        assert symmetric.distinct_states == len({orbit_key(s, every) for s in states})


SHIPPED = [
    (PAXOS, {"acceptors": 3, "values": 2, "ballots": 2}),
    (PAXOS, {"acceptors": 3, "values": 2, "ballots": 2, "q1": 1, "q2": 2}),
    (TWO_PHASE, {"rms": 3}),
]


@pytest.mark.parametrize(("path", "params"), SHIPPED)
def test_verdicts_with_and_without_symmetry_agree_on_shipped_models(path, params):
    plain = check(build_model(path, params), Options())
    reduced = symmetric_run(build_model(path, params))
    assert (reduced.verdict, reduced.property) == (plain.verdict, plain.property)
    assert reduced.distinct_states <= plain.distinct_states


# --- traces under symmetry are real executions ---------------------------------------------


def assert_real_execution(model: Model, trace) -> None:
    """Re-execute: the first state is initial, each next state a successor by the named action."""
    steps = [step for step in trace.steps if step.state is not None]
    assert steps[0].state in model.initial_states()
    actions = model.actions()
    for previous, step in zip(steps, steps[1:]):
        moves = [(spec.describe(args), successor)
                 for spec, args, successor in successors(previous.state, actions)]
        assert (step.action, step.state) in moves, step.action


def test_a_paxos_counterexample_found_under_symmetry_is_a_real_execution():
    model = build_model(PAXOS, {"q1": 1, "q2": 2})
    result = symmetric_run(model)
    plain = check(build_model(PAXOS, {"q1": 1, "q2": 2}), Options())
    assert (result.verdict, result.property) == ("violation", "agreement")
    assert len(result.trace.steps) == len(plain.trace.steps) == 11
    assert_real_execution(model, result.trace)
    assert not model.properties()[0].check(result.trace.steps[-1].state)


def test_an_actor_counterexample_found_under_symmetry_is_a_real_execution():
    if not NAIVE_PAXOS.exists():
        pytest.skip("naive_paxos.py is not in this tree")
    model = build_model(str(NAIVE_PAXOS), {})
    result = symmetric_run(model)
    assert (result.verdict, result.property) == ("violation", "agreement")
    assert_real_execution(model, result.trace)


# --- random symmetric models ---------------------------------------------------------------


class Nodes(Record):
    local: Map
    flags: frozenset
    links: frozenset


def random_model(nodes: int, rules: list[tuple[int, int, int, bool]], link: tuple[int, int] | None,
                 bound: int) -> Model:
    """``nodes`` interchangeable nodes, each a small state machine over 0..2.

    A rule (source, target, guard, flag) moves a node from source to target when the guard
    holds (0: always, 1: some other node is in state 2, 2: some node raised a flag) and may
    raise the node's flag. ``link`` = (a, b) lets a node in state a link to a node in state b
    (at most 2 links), which relates nodes to each other. Invariant: fewer than ``bound`` nodes
    are in state 2.
    """

    class RandomNodes(Model):
        symmetric = ("node",)
        deadlock = False

        def setup(self):
            self.N = ids("node", nodes)
            self.R = tuple(range(len(rules)))

        def init(self):
            return Nodes(Map({x: 0 for x in self.N}), frozenset(), frozenset())

        @action(over=("N", "R"))
        def step(self, s, me, number):
            source, target, guard, flag = rules[number]
            if s.local[me] != source:
                return None
            if guard == 1 and not any(s.local[x] == 2 for x in self.N if x != me):
                return None
            if guard == 2 and not s.flags:
                return None
            return s.replace(local=s.local.set(me, target),
                             flags=s.flags | {me} if flag else s.flags)

        @action(over=("N", "N"))
        def connect(self, s, me, other):
            if link is None or me == other or len(s.links) >= 2:
                return None
            if (s.local[me], s.local[other]) != link or (me, other) in s.links:
                return None
            return s.replace(links=s.links | {(me, other)})

        @invariant
        def few_in_state_two(self, s):
            return sum(1 for v in s.local.values() if v == 2) < bound

        @sometimes
        def someone_moved(self, s):
            return any(v != 0 for v in s.local.values())

    return RandomNodes()


rule = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.booleans())


@MODELS
@given(st.integers(2, 3), st.lists(rule, min_size=1, max_size=4),
       st.none() | st.tuples(st.integers(0, 2), st.integers(0, 2)), st.integers(1, 4))
def test_random_symmetric_models_give_the_same_verdict_and_one_state_per_orbit(
        nodes, rules, link, bound):
    plain = check(random_model(nodes, rules, link, bound), Options())
    model = random_model(nodes, rules, link, bound)
    reduced = symmetric_run(model)
    assert (reduced.verdict, reduced.property) == (plain.verdict, plain.property)
    states = reachable_states(model)
    every = all_permutations([model.N])
    orbits = {orbit_key(s, every) for s in states}
    canonical = canonical_fingerprint(model, check=False, warn=False)
    assert len({canonical(s) for s in states}) == len(orbits)
    if plain.verdict == "ok":
        assert reduced.distinct_states == len(orbits)
    if reduced.trace is not None and reduced.trace.steps:
        assert_real_execution(model, reduced.trace)


# --- soundness: asymmetric properties and actions are refused -------------------------------


class Flags(Record):
    up: Map


class NamesNodeZero(Model):
    symmetric = ("node",)
    deadlock = False

    def setup(self):
        self.N = ids("node", 3)

    def init(self):
        return Flags(Map({x: False for x in self.N}))

    @action(over="N")
    def raise_flag(self, s, me):
        return s.replace(up=s.up.set(me, True))

    @invariant
    def node_zero_stays_down(self, s):
        return not s.up[Id("node", 0)]


def test_an_invariant_that_names_a_node_is_refused_with_its_name():
    with pytest.raises(InvalidInput, match="node_zero_stays_down"):
        canonical_fingerprint(NamesNodeZero())


class OnlyNodeZeroMoves(Model):
    symmetric = ("node",)
    deadlock = False

    def setup(self):
        self.N = ids("node", 3)

    def init(self):
        return Flags(Map({x: False for x in self.N}))

    @action
    def raise_zero(self, s):
        return s.replace(up=s.up.set(Id("node", 0), True))

    @invariant
    def not_all_up(self, s):
        return not all(s.up.values())


def test_an_action_that_names_a_node_is_refused_with_its_name():
    with pytest.raises(InvalidInput, match="raise_zero"):
        canonical_fingerprint(OnlyNodeZeroMoves())


ASYMMETRIC_MODEL = '''
from checker import Id, Map, Model, Record, action, ids, invariant


class Flags(Record):
    up: Map


class Asymmetric(Model):
    symmetric = ("node",)
    deadlock = False

    def setup(self):
        self.N = ids("node", 3)

    def init(self):
        return Flags(Map({x: False for x in self.N}))

    @action(over="N")
    def raise_flag(self, s, me):
        return s.replace(up=s.up.set(me, True))

    @invariant
    def node_two_stays_down(self, s):
        return not s.up[Id("node", 2)]
'''


def cli(*args: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_command_line_refuses_an_asymmetric_invariant_with_exit_150(tmp_path):
    path = tmp_path / "asymmetric.py"
    path.write_text(ASYMMETRIC_MODEL)
    run = cli(path)
    assert run.returncode == 150, run.stderr
    assert "node_two_stays_down" in run.stderr
    assert "--no-symmetry" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert cli(path, "--no-symmetry").returncode == 12


class Typo(Model):
    symmetric = ("node", "nodes")
    deadlock = False

    def setup(self):
        self.N = ids("node", 2)

    def init(self):
        return Flags(Map({x: False for x in self.N}))

    @action(over="N")
    def raise_flag(self, s, me):
        return s.replace(up=s.up.set(me, True))


def test_a_declared_kind_that_the_model_never_uses_is_warned_about(capsys):
    canonical_fingerprint(Typo())
    err = capsys.readouterr().err
    assert "symmetric kind 'nodes'" in err
    assert "'node'" not in err.split("Id kinds found")[0]


def test_paxos_values_absent_from_the_initial_state_but_named_by_actions_raise_no_warning(capsys):
    canonical_fingerprint(build_model(PAXOS, {"acceptors": 3, "values": 2, "ballots": 2}))
    assert "warning" not in capsys.readouterr().err


# --- reports -------------------------------------------------------------------------------


def test_json_and_summary_say_the_distinct_states_are_canonical_under_symmetry():
    run = cli(TWO_PHASE, "-p", "rms=5", "--json")
    data = json.loads(run.stdout)
    assert (data["symmetry"], data["distinct_states"], data["canonical_states"]) == (True, 314, 314)
    plain = json.loads(cli(TWO_PHASE, "-p", "rms=5", "--json", "--no-symmetry").stdout)
    assert (plain["symmetry"], plain["distinct_states"], plain["canonical_states"]) == (
        False, 8832, None)
    assert "314 distinct canonical" in cli(TWO_PHASE, "-p", "rms=5").stdout
