"""The C fingerprint (checker._fp) against the pure-Python reference, and the reference itself."""

from __future__ import annotations

import collections
import math
import os
import struct
import subprocess
import sys
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.fingerprint import fingerprint_python
from checker.values import Bag, Id, Map, Record

ROOT = Path(__file__).resolve().parent.parent
NOT_BUILT = (
    "checker._fp is not built: run `python setup.py build_ext --inplace` or `pip install -e .`"
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def c_fp() -> Any:
    """The compiled module; tests that compare against it are skipped when it is not built."""
    return pytest.importorskip("checker._fp", reason=NOT_BUILT)


# --- values --------------------------------------------------------------------------------


class Point(Record):
    x: object
    y: object = 0


class Msg(Record):
    src: object
    dst: object
    body: object = None


Pair = collections.namedtuple("Pair", "first second")


class Color(Enum):
    RED = 1
    GREEN = "green"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


# Id kinds never appear as plain strings, so no plain tuple or record can equal an Id: that
# keeps the id permutations below injective on whole values.
KINDS = ("rm", "node")
NAN_PAYLOAD = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
EDGE_INTS = [
    0, 1, -1, -2, 255, 256, -128, -129,
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, -(2**64),
    -(2**71), 2**71, -(2**72) + 1, 2**200, -(2**200),
]  # fmt: skip

ints = st.integers() | st.sampled_from(EDGE_INTS) | st.integers(-(2**70), 2**70)
floats = st.floats() | st.sampled_from([0.0, -0.0, math.nan, -math.nan, NAN_PAYLOAD, math.inf])
texts = (
    st.text(st.characters(exclude_categories=()), max_size=8)  # surrogates included
    | st.sampled_from(["", "init", "é", "\ud800", "a\udfffb", "\U0001f600", "\x00"])
).filter(lambda s: s not in KINDS)
ids = st.builds(Id, st.sampled_from(KINDS), st.integers(-1, 5) | st.sampled_from(EDGE_INTS))
leaves = (
    st.none()
    | st.booleans()
    | ints
    | floats
    | texts
    | st.binary(max_size=8)
    | ids
    | st.sampled_from(list(Color) + list(Level))
)


def _containers(children: st.SearchStrategy[Any], namedtuples: bool) -> st.SearchStrategy[Any]:
    records = st.builds(Point, children, children) | st.builds(Msg, children, children, children)
    if namedtuples:
        records |= st.builds(Pair, children, children)
    return (
        st.lists(children, max_size=4).map(tuple)
        | records
        | st.lists(children, max_size=4).map(frozenset)
        | st.lists(st.tuples(children, children), max_size=3).map(Map)
        | st.lists(st.tuples(children, st.integers(1, 3)), max_size=3).map(Bag)
    )


def _values(namedtuples: bool) -> st.SearchStrategy[Any]:
    hashable = st.recursive(
        leaves, lambda children: _containers(children, namedtuples), max_leaves=12
    )
    return (
        hashable
        | st.lists(hashable, max_size=4).map(set)
        | st.lists(st.tuples(hashable, hashable), max_size=3).map(dict)
        | st.tuples(st.lists(hashable, max_size=3).map(set), hashable)
    )


values = _values(namedtuples=True)
# A namedtuple equals a record with the same fields one way round but not the other (records
# compare their class, plain tuples do not), so rebuilding a frozenset that holds both can merge
# elements and the rebuild-then-hash reference would be wrong: leave namedtuples out there.
permutable_values = _values(namedtuples=False)


def permute(value: Any, permutation: dict[Any, Any]) -> Any:
    """Rebuild ``value`` with every Id that is a key of ``permutation`` replaced by its image."""
    kind = type(value)
    if kind is Id:
        return permutation[value] if value in permutation else value
    if isinstance(value, tuple):
        items = [permute(e, permutation) for e in value]
        return tuple(items) if kind is tuple else kind(*items)
    if isinstance(value, (frozenset, set)):
        return kind(permute(e, permutation) for e in value)
    if isinstance(value, dict):
        items = {permute(k, permutation): permute(v, permutation) for k, v in dict.items(value)}
        return items if kind is dict else kind(items)
    return value


def fingerprint_permuted_python(value: Any, permutation: dict[Any, Any]) -> int:
    return fingerprint_python(permute(value, permutation))


def _id_permutation(images: tuple[list[int], ...]) -> dict[Id, Id]:
    return {
        Id(kind, i): Id(kind, image[i])
        for kind, image in zip(KINDS, images, strict=True)
        for i in range(len(image))
    }


permutations = st.tuples(*(st.permutations(range(4)) for _ in KINDS)).map(_id_permutation)


# --- C against the reference ---------------------------------------------------------------


@FAST
@given(values)
def test_c_matches_reference(c_fp: Any, value: Any) -> None:
    assert c_fp.fingerprint(value) == fingerprint_python(value)


@pytest.mark.parametrize(
    "value",
    [None, True, False, "", b"", (), frozenset(), set(), {}, Map(), Bag(), Point(1), Pair(1, 2)]
    + EDGE_INTS
    + [0.0, -0.0, math.nan, -math.nan, NAN_PAYLOAD, math.inf, -math.inf, 1e300, 5e-324]
    + ["init", "é", "\ud800", "a\udfffb\ud83d", "\U0001f600", "x" * 1000, b"\x00\xff" * 50]
    + [Id("rm", 0), Id("rm", -1), Id("rm", 2**70), Id("rm", -(2**70)), Id("rm", True)]
    + [Color.RED, Color.GREEN, Level.HIGH, (Color.RED, Level.LOW)]
    + [{Id("rm", 0): frozenset({("a", 1), ("b", 2)})}, ((((),),),)],
    ids=repr,
)
def test_c_matches_reference_examples(c_fp: Any, value: Any) -> None:
    assert c_fp.fingerprint(value) == fingerprint_python(value)


def test_c_matches_reference_on_odd_tuple_subclasses(c_fp: Any) -> None:
    class Backwards(tuple):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return reversed(tuple(tuple.__iter__(self)))

        def __len__(self) -> int:
            return 7

    class Weird(Map):
        def __len__(self) -> int:
            return 3

    for value in [Backwards((1, "a", None)), Weird({1: 2}), frozenset({Backwards((1, 2))})]:
        assert c_fp.fingerprint(value) == fingerprint_python(value)


def test_record_class_names_are_looked_up_each_time(c_fp: Any) -> None:
    meta = type(Record)
    classes = [meta(f"Rec{i}", (Record,), {"__annotations__": {"a": "int"}}) for i in range(200)]
    for _ in range(2):  # the second pass reads (and evicts) cached names
        for cls in classes:
            value = cls(1)
            assert c_fp.fingerprint(value) == fingerprint_python(value)
    value = classes[0](1)
    before = c_fp.fingerprint(value)
    classes[0].__name__ = "Renamed"
    assert c_fp.fingerprint(value) == fingerprint_python(value) != before


def test_unsupported_types_raise_the_same_type_error(c_fp: Any) -> None:
    class MyInt(int):
        pass

    class MyFloat(float):
        pass

    unsupported = [[1, 2], object, 1j, MyInt(3), MyFloat(2.5), bytearray(b"x"), Map({1: [2]})]
    for value in unsupported + [(1, [2]), frozenset({(1, bytearray)}), {Id("rm", 0): [1]}]:
        with pytest.raises(TypeError) as python_error:
            fingerprint_python(value)
        with pytest.raises(TypeError) as c_error:
            c_fp.fingerprint(value)
        assert str(c_error.value) == str(python_error.value)


def test_deep_nesting_raises_recursion_error(c_fp: Any) -> None:
    value: Any = ()
    for _ in range(100_000):
        value = (value,)
    with pytest.raises(RecursionError):
        c_fp.fingerprint(value)


def test_argument_checking(c_fp: Any) -> None:
    with pytest.raises(TypeError):
        c_fp.fingerprint()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c_fp.fingerprint_permuted((1,))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c_fp.fingerprint_permuted((1,), [(Id("rm", 0), Id("rm", 1))])


# --- permuted fingerprints -----------------------------------------------------------------


@FAST
@given(permutable_values, permutations)
def test_permuted_matches_rebuild_then_hash(c_fp: Any, value: Any, permutation: Any) -> None:
    assert c_fp.fingerprint_permuted(value, permutation) == fingerprint_permuted_python(
        value, permutation
    )


def test_permuted_examples(c_fp: Any) -> None:
    a, b, c = Id("rm", 0), Id("rm", 1), Id("rm", 2)
    swap = {a: b, b: a}
    state = (
        Map({a: "working", b: "prepared", c: "aborted"}),
        frozenset({a, Point(b, a)}),
        Msg(a, c, (b, frozenset({b}))),
        {a: Bag({b: 2})},
        a,
    )
    expected = fingerprint_python(permute(state, swap))
    assert c_fp.fingerprint_permuted(state, swap) == expected
    assert expected != fingerprint_python(state)
    assert c_fp.fingerprint_permuted(state, {}) == c_fp.fingerprint(state)
    assert c_fp.fingerprint_permuted(state, {c: "image"}) == fingerprint_python(
        permute(state, {c: "image"})
    )


# --- properties of the definition (checked on every available implementation) -------------


@pytest.fixture(scope="module", params=["python", "c"])
def impl(request: pytest.FixtureRequest) -> Any:
    if request.param == "python":
        return fingerprint_python
    return pytest.importorskip("checker._fp", reason=NOT_BUILT).fingerprint


def test_set_and_map_fingerprints_ignore_iteration_order(impl: Any) -> None:
    # Multiples of 1024 collide in every small table, so they iterate in insertion order.
    items = [f"s{i}" for i in range(40)] + [Id("rm", i) for i in range(10)]
    items += [i * 1024 for i in range(30)]
    forward = frozenset(items)
    grown = set(reversed(items)) | {f"extra{i}" for i in range(100)}
    grown -= {f"extra{i}" for i in range(100)}
    backward = frozenset(grown)
    assert forward == backward and list(forward) != list(backward)
    assert impl(forward) == impl(backward) == impl(set(backward))
    forward_map = Map({item: str(item) for item in items})
    backward_map = Map({item: str(item) for item in reversed(items)})
    assert list(forward_map) != list(backward_map)
    assert impl(forward_map) == impl(backward_map)


def test_distinct_small_ints_have_distinct_fingerprints(impl: Any) -> None:
    assert impl(-1) != impl(-2)
    numbers = list(range(-2000, 2000)) + [2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64]
    assert len({impl(n) for n in numbers}) == len(numbers)
    assert len({impl(v) for v in [None, False, True, 0, 1, 0.0, -0.0, "", b"", ()]}) == 10


HASHSEED_SCRIPT = """
from checker.fingerprint import fingerprint_python
from checker.values import Id, Map
value = ("init", frozenset({"a", "b", "c", "d", Id("rm", 1), ("x", "y")}),
         Map({"k": frozenset({"p", "q", "r"}), Id("rm", 0): "v"}), {"s", "t", "u"})
print(fingerprint_python(value))
try:
    from checker import _fp
except ImportError:
    print("no C extension")
else:
    print(_fp.fingerprint(value))
"""


def test_fingerprints_do_not_depend_on_pythonhashseed() -> None:
    outputs = []
    for seed in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        result = subprocess.run(
            [sys.executable, "-c", HASHSEED_SCRIPT],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        outputs.append(result.stdout.split())
    assert outputs[0] == outputs[1]
    python_fp, c_fp = outputs[0][0], outputs[0][-1]
    if c_fp.isdigit():
        assert python_fp == c_fp


shared_parts = st.recursive(leaves, lambda children: _containers(children, True), max_leaves=8)


@FAST
@given(st.lists(shared_parts, min_size=1, max_size=6),
       st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=20))
def test_parts_shared_between_values_fingerprint_as_in_the_reference(
    c_fp: Any, parts: list[Any], picks: list[tuple[int, int]]
) -> None:
    """The C side remembers fingerprints of ids, records, frozensets and maps by object; values
    that share those objects (as a state shares them with its successors) still agree."""
    for i, j in picks:
        left, right = parts[i % len(parts)], parts[j % len(parts)]
        for whole in [(left, right), Msg(left, frozenset({right}), Map({left: right}))]:
            assert c_fp.fingerprint(whole) == fingerprint_python(whole)


def test_remembered_fingerprints_survive_address_reuse(c_fp: Any) -> None:
    """Far more short-lived parts than the C cache has entries: freed objects' addresses are
    reused by new ones, which must not inherit a remembered fingerprint."""
    for i in range(60_000):
        part = frozenset({i % 7, Id("n", i % 5)}) if i % 2 else Map({Id("n", i % 3): i % 11})
        whole = (part, Point(i % 13, part))
        assert c_fp.fingerprint(whole) == fingerprint_python(whole)
