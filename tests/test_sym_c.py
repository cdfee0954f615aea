"""The compiled canonical fingerprints (checker._sym) against the pure-Python path.

``Symmetry(..., compiled=False)`` is the reference: every canonical fingerprint the C core
returns, cached or not, must be the same 64-bit word, on random values (hypothesis), on every
reachable state of small shipped models, with memo and cache slots forced to collide, and on
values the core leaves to the Python path (odd container subclasses, ids spelt unusually,
states that need individualisation).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import ids
from checker import symmetry as symmetry_module
from checker.explore import successors
from checker.fingerprint import fingerprint
from checker.loader import build_model
from checker.model import CONSTRAINT, Model
from checker.symmetry import Symmetry, canonical_fingerprint, ids_in, model_ids, permute
from checker.values import Bag, Id, Map, Record

ROOT = Path(__file__).resolve().parent.parent
NOT_BUILT = (
    "checker._sym is not built: run `python setup.py build_ext --inplace` or `pip install -e .`"
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def c_sym() -> Any:
    """The compiled module; the tests here are skipped when it is not built."""
    return pytest.importorskip("checker._sym", reason=NOT_BUILT)


NODES = ids("n", 4)
VALUES = ids("v", 3)
KINDS = ("n", "v")


def pair(**options: Any) -> tuple[Symmetry, Symmetry]:
    """The same symmetry compiled and in pure Python."""
    compiled = Symmetry(KINDS, NODES + VALUES, **options)
    reference = Symmetry(KINDS, NODES + VALUES, compiled=False, **options)
    assert compiled.compiled and not reference.compiled
    return compiled, reference


class Pair(Record):
    first: object
    second: object = None


class Triple(Record):
    a: object
    b: object
    c: object


class Colour(Enum):
    RED = 1
    BLUE = "blue"


atoms = st.sampled_from(
    [None, 0, 1, -1, 2**63 + 5, -(2**70), "x", "y", "\ud800", True, False, 2.5, b"z",
     Colour.RED, Colour.BLUE]
)
leaves = st.one_of(
    atoms, st.sampled_from(NODES + VALUES), st.sampled_from([Id("other", 0), Id("n", 9)])
)


def _containers(children: Any) -> Any:
    return st.one_of(
        st.tuples(children, children),
        st.tuples(children, children, children),
        st.frozensets(children, max_size=4),
        st.dictionaries(children, children, max_size=3).map(Map),
        st.dictionaries(children, st.integers(1, 3), max_size=3).map(Bag),
        st.builds(Pair, children, children),
    )


values = st.recursive(leaves, _containers, max_leaves=16)
states = st.one_of(st.builds(Triple, values, values, values), values)


def assert_same(compiled: Symmetry, reference: Symmetry, sample: list[Any]) -> None:
    """Uncached, cached and repeated canonical fingerprints all equal the reference's.

    The caches are keyed by the plain fingerprint, which does not tell ``Map({})`` from
    ``Bag({})`` (states are records, so a search never meets that), hence cached answers are
    compared with the reference's cached answers.
    """
    expected = [reference.canonical_fingerprint(state) for state in sample]
    assert [compiled.canonical_fingerprint(state) for state in sample] == expected
    function, reference_function = compiled.fingerprint_function(), (
        reference.fingerprint_function())
    cached = [reference_function(state) for state in sample]
    assert [function(state) for state in sample] == cached
    assert [function(state) for state in sample] == cached


# --- random values -------------------------------------------------------------------------


@FAST
@given(st.lists(states, min_size=1, max_size=6), st.booleans())
def test_compiled_and_python_paths_agree_on_random_states(c_sym: Any, sample: list[Any],
                                                          unary_possible: bool) -> None:
    compiled, reference = pair()
    compiled.unary_possible = reference.unary_possible = unary_possible
    assert_same(compiled, reference, sample)


@FAST
@given(states)
def test_compiled_canonical_fingerprints_are_the_same_across_an_orbit(c_sym: Any,
                                                                      state: Any) -> None:
    compiled, _ = pair()
    swap = {NODES[0]: NODES[2], NODES[2]: NODES[0], VALUES[0]: VALUES[1], VALUES[1]: VALUES[0]}
    assert compiled.canonical_fingerprint(permute(state, swap)) == (
        compiled.canonical_fingerprint(state))


def test_colliding_memo_and_cache_slots_change_no_answer(c_sym: Any) -> None:
    compiled, reference = pair(memo_size=1)
    sample = [Triple(frozenset({(NODES[i], VALUES[j])}), Map({NODES[i]: j}), i * j)
              for i in range(4) for j in range(3)]
    expected = [reference.canonical_fingerprint(state) for state in sample]
    function = compiled.fingerprint_function(cache_size=1)
    for _ in range(2):
        assert [function(state) for state in sample] == expected
        assert [compiled.canonical_fingerprint(state) for state in sample] == expected


def test_switching_unary_states_off_after_use_agrees_with_a_fresh_reference(c_sym: Any) -> None:
    sample = [Triple(Map({n: "a" for n in NODES[:k]}), frozenset(NODES[:k]), k)
              for k in range(5)]
    compiled = Symmetry(KINDS, NODES + VALUES)
    before = [compiled.canonical_fingerprint(state) for state in sample]
    compiled.unary_possible = False
    reference = Symmetry(KINDS, NODES + VALUES, compiled=False)
    reference.unary_possible = False
    after = [reference.canonical_fingerprint(state) for state in sample]
    assert [compiled.canonical_fingerprint(state) for state in sample] == after != before


# --- shipped models ------------------------------------------------------------------------


def reachable_states(model: Model, limit: int) -> list[Any]:
    """The first ``limit`` states of a breadth-first search without reduction."""
    actions = model.actions()
    constraints = [p.check for p in model.properties() if p.kind == CONSTRAINT]
    found = list(dict.fromkeys(model.initial_states()))
    seen = {fingerprint(state) for state in found}
    for state in found:
        if len(found) >= limit:
            break
        if not all(check(state) for check in constraints):
            continue
        for _spec, _args, successor in successors(state, actions):
            if fingerprint(successor) not in seen:
                seen.add(fingerprint(successor))
                found.append(successor)
    return found[:limit]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("two_phase_commit.py", {"rms": 4}),
        ("paxos.py", {"acceptors": 3, "values": 2, "ballots": 2}),
        ("paxos.py", {"acceptors": 4, "values": 3, "ballots": 2}),
        ("naive_paxos.py", {}),
        ("paxos_actors.py", {}),
        ("raft.py", {}),
    ],
    ids=repr,
)
def test_compiled_and_python_paths_agree_on_shipped_models(c_sym: Any, path: str,
                                                           params: dict[str, Any]) -> None:
    model = build_model(str(ROOT / "models" / path), params)
    sample = reachable_states(model, 4000)
    found = model_ids(model, model.symmetric)
    for state in sample:
        found |= ids_in(state, model.symmetric)
    for unary_possible in (True, False):
        compiled = Symmetry(model.symmetric, found)
        reference = Symmetry(model.symmetric, found, compiled=False)
        compiled.unary_possible = reference.unary_possible = unary_possible
        assert_same(compiled, reference, sample)


def test_the_search_function_is_the_compiled_core_and_without_it_the_python_path(
        c_sym: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_model(str(ROOT / "models" / "paxos.py"), {"ballots": 2})
    sample = reachable_states(model, 2000)
    compiled = canonical_fingerprint(model, warn=False)
    assert getattr(compiled, "__self__", None).__class__ is c_sym.Core
    asked = canonical_fingerprint(model, warn=False, compiled=False)
    assert getattr(asked, "__self__", None) is None
    monkeypatch.setattr(symmetry_module, "_CCore", None)
    python = canonical_fingerprint(model, warn=False)
    assert getattr(python, "__self__", None) is None
    expected = [compiled(state) for state in sample]
    assert [python(state) for state in sample] == expected
    assert [asked(state) for state in sample] == expected


# --- what the core leaves to the Python path -----------------------------------------------


class CountingSymmetry(Symmetry):
    """Counts the states the compiled core hands to the Python path."""

    handed = 0

    def _reference(self, state: Any) -> int:
        CountingSymmetry.handed += 1
        return super()._reference(state)


def _undirected(*edges: tuple[int, int]) -> frozenset:
    nodes = ids("g", 6)
    return frozenset(frozenset({nodes[a], nodes[b]}) for a, b in edges)


def test_states_that_need_individualisation_are_left_to_the_python_search(c_sym: Any) -> None:
    graphs = [_undirected((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)),
              _undirected((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0))]
    CountingSymmetry.handed = 0
    compiled = CountingSymmetry(("g",), ids("g", 6))
    reference = Symmetry(("g",), ids("g", 6), compiled=False)
    assert_same(compiled, reference, graphs)
    assert CountingSymmetry.handed >= 2


class Backwards(tuple):
    def __iter__(self):  # type: ignore[no-untyped-def]
        return reversed(tuple(tuple.__iter__(self)))


class Short(tuple):
    def __len__(self) -> int:
        return 1


class ShortMap(Map):
    def __len__(self) -> int:
        return 1


class ShortSet(frozenset):
    def __len__(self) -> int:
        return 1


class TupleColour(tuple, Enum):
    PAIR = (1, 2)


@pytest.mark.parametrize(
    "odd",
    [Backwards((NODES[0], VALUES[1])), Short((NODES[0], 1)), ShortMap({NODES[1]: VALUES[0]}),
     ShortSet({NODES[0], NODES[1]}), TupleColour.PAIR, Id("n", True), {NODES[0]: {1}},
     {(NODES[0], VALUES[0])}, [NODES[0]]],
    ids=repr,
)
def test_unusual_values_give_the_python_answer_or_its_error(c_sym: Any, odd: Any) -> None:
    compiled, reference = pair()
    for state in (odd, Triple(odd, NODES[1], frozenset({(NODES[2], VALUES[2])})),
                  Triple(frozenset({odd}) if _hashable(odd) else 0, Map({NODES[0]: 1}), ())):
        try:
            expected: Any = reference.canonical_fingerprint(state)
        except TypeError as error:
            expected = (TypeError, str(error))
        for function in (compiled.canonical_fingerprint, compiled.fingerprint_function()):
            try:
                answer: Any = function(state)
            except TypeError as error:
                answer = (TypeError, str(error))
            assert answer == expected


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def test_a_renamed_record_class_is_hashed_under_its_new_name(c_sym: Any) -> None:
    meta = type(Record)
    cls = meta("Renamable", (Record,), {"__annotations__": {"a": "object"}})
    compiled, reference = pair()

    def state() -> Triple:
        return Triple(cls(NODES[0]), frozenset({cls(NODES[1])}), cls(2))

    before = compiled.canonical_fingerprint(state())
    cls.__name__ = "Renamed"
    assert compiled.canonical_fingerprint(state()) == reference.canonical_fingerprint(state())
    assert compiled.canonical_fingerprint(state()) != before


def test_deep_nesting_raises_recursion_error(c_sym: Any) -> None:
    value: Any = (NODES[0],)
    for _ in range(100_000):
        value = (value,)
    compiled, _ = pair()
    with pytest.raises(RecursionError):
        compiled.canonical_fingerprint(Triple(value, 0, 0))


def test_more_ids_than_the_core_holds_take_the_python_path(c_sym: Any) -> None:
    many = ids("n", symmetry_module.MAX_COMPILED_IDS + 1)
    symmetry = Symmetry(("n",), many)
    assert not symmetry.compiled
    state = Triple(frozenset(many[:3]), Map({many[0]: many[1]}), 0)
    assert symmetry.canonical_fingerprint(state) == symmetry.canonical_fingerprint(
        permute(state, {many[0]: many[5], many[5]: many[0]}))


def test_the_core_checks_its_arguments(c_sym: Any) -> None:
    compiled, _ = pair()
    good = compiled._new_core(0)
    assert good.canonical(0) == compiled.canonical_fingerprint(0)
    arguments = {
        "movable": compiled._movable, "id_fps": (0,) * 7, "hidden_fps": (0,) * 7,
        "marker_fps": (0,) * 7, "kind_fps": (0,) * 7, "group_sizes": (4, 3),
        "unary_tag_fp": 0, "fallback": len, "memo_size": 16, "cache_size": 16,
        "unary_possible": True,
    }
    c_sym.Core(**arguments)
    for name, bad in [("movable", ()), ("movable", (1,) * 7), ("movable", NODES[:1] * 7),
                      ("id_fps", (0,) * 6), ("hidden_fps", ("x",) * 7), ("group_sizes", (4,)),
                      ("group_sizes", (4, 4)), ("group_sizes", (0, 7)), ("fallback", 3),
                      ("unary_tag_fp", "x")]:
        with pytest.raises(TypeError):
            c_sym.Core(**{**arguments, name: bad})
    with pytest.raises(TypeError):
        good.canonical()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        del good.unary_possible


def test_cores_are_freed_with_their_symmetry(c_sym: Any) -> None:
    import gc
    import weakref

    symmetry = Symmetry(KINDS, NODES + VALUES)
    function = symmetry.fingerprint_function()
    function(Triple(frozenset(NODES), Map({VALUES[0]: NODES[0]}), 0))
    alive = weakref.ref(symmetry)
    del symmetry, function
    gc.collect()
    assert alive() is None
