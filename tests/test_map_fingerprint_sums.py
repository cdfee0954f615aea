"""Maps remember their fingerprint sums: fingerprints stay those of the reference.

The C MapBase keeps the order-independent sum of its entries once ``checker._fp`` computed
it, and a map made by ``set``, ``remove``, ``merge`` of one entry, ``Bag.add`` or
``Bag.remove_one`` from a map whose sum is known records how to derive its own from three
values (see ``MapObject`` in ``checker/_common.h``). Every map built here by a random series of
those operations, fingerprinted or not along the way, alone and nested in records, sets and
other maps, must fingerprint exactly as ``fingerprint_python`` says, including keys that equal
one another without sharing a fingerprint (``1``, ``True`` and ``1.0``; an ``Id`` and a plain
tuple; a ``str`` and a ``str`` enum member). A map changed in place behind the API's back
(``dict.__setitem__``) is fingerprinted afresh.
"""

from __future__ import annotations

import collections
import gc
import math
import subprocess
import sys
import sysconfig
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.explore import successors
from checker.fingerprint import fingerprint, fingerprint_python
from checker.loader import build_model
from checker.symmetry import Symmetry, model_ids
from checker.values import Bag, Id, Map, Record

ROOT = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def c_fp() -> Any:
    """The compiled fingerprint; the tests here are skipped when it is not built."""
    return pytest.importorskip("checker._fp", reason="checker._fp is not built")


class Point(Record):
    x: object
    y: object = 0


class Kind(StrEnum):
    RM = "rm"


class Level(IntEnum):
    LOW = 1


Pair = collections.namedtuple("Pair", "first second")

NAN = math.nan
# Keys that equal one another (1 == True == 1.0 == Level.LOW, Id("rm", 1) == ("rm", 1) ==
# Pair("rm", 1), "rm" == Kind.RM) but whose fingerprints differ: a map that keeps one key object
# when set() is given an equal other must still hash the key object it keeps.
KEYS = [
    Id("rm", 0), Id("rm", 1), Id("rm", 2), Id("rm", True), ("rm", 1), Pair("rm", 1),
    Id(Kind.RM, 1), 0, 1, True, False, 1.0, Level.LOW, "rm", Kind.RM, "a", None, NAN,
    float("nan"), frozenset({1}), Point(1, 2), (1, 2),
    # Equal to keys above but other objects: plain keys (str, int, Id of str and int) whose
    # sums are derived without finding the very key object.
    Id("rm", 1), "".join(["r", "m"]), int("1000"), int("1000"),
]  # fmt: skip
LEAVES = [
    "working", "prepared", "aborted", 0, 1, 2, True, None, -1.5, b"x", Id("rm", 3),
    Point("p", 1), frozenset({Id("rm", 0)}), (1, (2, 3)),
]  # fmt: skip

keys = st.sampled_from(KEYS)
leaves = st.sampled_from(LEAVES)


def assert_reference(c_fp: Any, value: Any) -> None:
    """The value alone and nested in a record, a set and a map fingerprints as the reference."""
    for whole in (value, Point(value, frozenset({value, 1})), Map({Id("rm", 9): value}),
                  (Map({"k": value}).set("j", value),)):
        assert c_fp.fingerprint(whole) == fingerprint_python(whole)


# An operation: (name, key, value or pool index, count).
operations = st.tuples(
    st.sampled_from(["set", "set", "set", "remove", "merge1", "merge", "add", "remove_one",
                     "fingerprint", "fingerprint", "nest", "copy"]),
    keys, leaves | st.integers(0, 7), st.integers(1, 2),
)


def apply(pool: list[Any], current: Any, operation: tuple[Any, Any, Any, int]) -> Any:
    """Apply one operation to ``current`` and return the result (``pool``: earlier maps)."""
    name, key, value, count = operation
    if isinstance(value, int) and not isinstance(value, bool) and pool:
        value = pool[value % len(pool)]
    if name == "set":
        return current.set(key, value)
    if name == "remove":
        return current.remove(key) if key in current else current
    if name == "merge1":
        return current.merge({key: value})
    if name == "merge":
        return current.merge({key: value, Id("rm", count + 1): count})
    if name == "add":
        if isinstance(current, Bag) and type(current.get(key, 0)) is int:
            return current.add(key, count)
        return current.set(key, count)
    if name == "remove_one":
        if isinstance(current, Bag) and key in current and type(current[key]) is int:
            return current.remove_one(key)
        return current
    if name == "fingerprint":
        fingerprint(current)
        return current
    if name == "nest":
        return current.set(key, Point(current, value))
    return type(current)(current)


@FAST
@given(st.booleans(), st.lists(st.tuples(keys, leaves), max_size=7),
       st.lists(operations, max_size=25), st.booleans(), st.booleans())
def test_maps_built_by_every_operation_fingerprint_as_the_reference(
    c_fp: Any, bag: bool, start: list[tuple[Any, Any]], steps: list[Any], each: bool,
    backwards: bool,
) -> None:
    """Checked after every step (each map derives from a known sum) or only at the end, newest
    first (sums computed in full) or oldest first."""
    current = (Bag if bag else Map)(dict(start))
    pool: list[Any] = [current]
    for step in steps:
        current = apply(pool, current, step)
        pool.append(current)
        if each:
            assert_reference(c_fp, current)
    for value in reversed(pool) if backwards else pool:
        assert_reference(c_fp, value)


def permute(value: Any, permutation: dict[Id, Id]) -> Any:
    """``value`` rebuilt with the ids in ``permutation`` replaced by their images."""
    if type(value) is Id:
        return permutation.get(value, value)
    if isinstance(value, tuple):
        items = [permute(item, permutation) for item in value]
        return tuple(items) if type(value) is tuple else type(value)(*items)
    if isinstance(value, frozenset):
        return frozenset(permute(item, permutation) for item in value)
    if isinstance(value, dict):
        return type(value)({permute(k, permutation): permute(v, permutation)
                            for k, v in dict.items(value)})
    return value


# Keys that no permutation of rm ids makes equal to one another.
plain_keys = st.sampled_from([key for key in KEYS if type(key) is Id and key[0] == "rm"
                              and type(key[1]) is int] + [0, 1, "a", None, NAN])
plain_operations = st.tuples(
    st.sampled_from(["set", "remove", "merge1", "merge", "fingerprint", "copy"]),
    plain_keys, leaves, st.integers(1, 2),
)


@FAST
@given(st.lists(st.tuples(plain_keys, leaves), max_size=7),
       st.lists(plain_operations, max_size=12), st.permutations(range(4)))
def test_permuted_fingerprints_of_derived_maps_ignore_the_remembered_sums(
    c_fp: Any, start: list[tuple[Any, Any]], steps: list[Any], image: list[int]
) -> None:
    permutation = {Id("rm", i): Id("rm", image[i]) for i in range(4)}
    current = Map(dict(start))
    c_fp.fingerprint(current)
    for step in steps:
        current = apply([], current, step)
        plain = c_fp.fingerprint(current)
        assert plain == fingerprint_python(current)
        assert c_fp.fingerprint_permuted(current, {}) == plain
        assert c_fp.fingerprint_permuted(current, permutation) == (
            fingerprint_python(permute(current, permutation)))
        assert c_fp.fingerprint(current) == plain


def test_equal_keys_with_other_fingerprints_keep_the_held_key(c_fp: Any) -> None:
    for held, given_key in [(1, True), (True, 1), (1, 1.0), (1, Level.LOW), ("rm", Kind.RM),
                            (Kind.RM, "rm"), (("rm", 1), Id("rm", 1)), (Id("rm", 1), ("rm", 1)),
                            (Pair("rm", 1), ("rm", 1)), (Id(Kind.RM, 1), Id("rm", 1))]:
        parent = Map({held: "working", "other": 2})
        c_fp.fingerprint(parent)
        for child in (parent.set(given_key, "prepared"), parent.remove(given_key),
                      parent.merge({given_key: "aborted"}), Bag(parent).set(given_key, 3)):
            assert c_fp.fingerprint(child) == fingerprint_python(child), (held, given_key)


def test_a_map_changed_in_place_after_set_is_fingerprinted_afresh(c_fp: Any) -> None:
    parent = Map({Id("rm", i): "working" for i in range(5)})
    c_fp.fingerprint(parent)
    child = parent.set(Id("rm", 2), "prepared")
    dict.__setitem__(child, Id("rm", 3), "aborted")
    assert c_fp.fingerprint(child) == fingerprint_python(child)
    dict.__delitem__(child, Id("rm", 0))
    assert c_fp.fingerprint(child) == fingerprint_python(child)
    dict.__setitem__(parent, Id("rm", 4), "committed")
    grandchild = parent.set(Id("rm", 1), "prepared")
    assert c_fp.fingerprint(grandchild) == fingerprint_python(grandchild)


SUMS = pytest.mark.skipif(
    sys.version_info >= (3, 14) or sysconfig.get_config_var("Py_GIL_DISABLED"),
    reason="maps remember sums only where dicts have version tags and a GIL")


@SUMS
def test_an_equal_plain_key_derives_the_sum_as_the_held_one_would(c_fp: Any) -> None:
    # Ids are interned; an id built around the constructor stands for one from elsewhere.
    for held, given_key in [(tuple.__new__(Id, ("rm", 1)), Id("rm", 1)),
                            ("".join(["r", "m"]), "rm"),
                            (int("1000"), int("1000"))]:
        assert held == given_key and held is not given_key
        old = Point("old", 1)
        parent = Map({held: old, "other": 2})
        c_fp.fingerprint(parent)
        before = sys.getrefcount(old)
        child = parent.set(given_key, "new")
        assert sys.getrefcount(old) == before + 1  # the sum was derived, not recomputed
        assert c_fp.fingerprint(child) == fingerprint_python(child)


@SUMS
def test_a_derived_map_lets_go_of_the_replaced_value(c_fp: Any) -> None:
    old = Point("old", 1)
    parent = Map({"k": old, "j": 2})
    c_fp.fingerprint(parent)
    held = sys.getrefcount(old)
    child = parent.set("k", "new")
    assert sys.getrefcount(old) == held + 1  # until the child's sum is derived
    assert c_fp.fingerprint(child) == fingerprint_python(child)
    assert sys.getrefcount(old) == held
    pending = parent.set("k", "newer")
    assert sys.getrefcount(old) == held + 1
    del pending
    gc.collect()
    assert sys.getrefcount(old) == held


def test_maps_without_the_c_map_base_fingerprint_as_the_reference() -> None:
    """checker._fp without checker._values: maps are pure-Python dicts with nothing to keep."""
    code = (
        "import sys\n"
        "sys.modules['checker._values'] = None\n"
        "from checker import _fp\n"
        "from checker.fingerprint import fingerprint_python\n"
        "from checker.values import Bag, Id, Map\n"
        "m = Map({Id('rm', i): 'working' for i in range(7)})\n"
        "values = [m, m.set(Id('rm', 1), 'prepared'), Bag().add('x').add('x').remove_one('x')]\n"
        "_fp.fingerprint(values[0])\n"
        "values.append(values[0].set(Id('rm', 2), 'aborted'))\n"
        "assert all(_fp.fingerprint(v) == fingerprint_python(v) for v in values)\n"
        "print('same')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if "No module named 'checker._fp'" in done.stderr:
        pytest.skip("checker._fp is not built")
    assert done.stdout.strip() == "same", done.stderr


def reachable_states(path: str, params: dict[str, Any], limit: int) -> list[Any]:
    """Breadth-first, fingerprinting each state before expanding it, as the search does, so that
    successors' maps derive their sums from their parents'."""
    model = build_model(str(ROOT / "models" / path), params)
    actions = model.actions()
    found = list(dict.fromkeys(model.initial_states()))
    seen = {fingerprint(state) for state in found}
    for state in found:
        if len(found) >= limit:
            break
        for _spec, _args, successor in successors(state, actions):
            code = fingerprint(successor)
            if code not in seen:
                seen.add(code)
                found.append(successor)
    return found[:limit]


@pytest.mark.parametrize(("path", "params"), [
    ("two_phase_commit.py", {"rms": 4}),
    ("paxos_actors.py", {}),
    ("raft.py", {}),
], ids=repr)
def test_states_of_shipped_models_fingerprint_as_the_reference(
    c_fp: Any, path: str, params: dict[str, Any]
) -> None:
    sample = reachable_states(path, params, 3000)
    assert [c_fp.fingerprint(state) for state in sample] == [
        fingerprint_python(state) for state in sample]


def test_canonical_fingerprints_of_derived_maps_agree_with_the_python_path(c_fp: Any) -> None:
    pytest.importorskip("checker._sym", reason="checker._sym is not built")
    model = build_model(str(ROOT / "models" / "two_phase_commit.py"), {"rms": 4})
    sample = reachable_states("two_phase_commit.py", {"rms": 4}, 3000)
    found = model_ids(model, model.symmetric)
    compiled = Symmetry(model.symmetric, found)
    reference = Symmetry(model.symmetric, found, compiled=False)
    assert compiled.compiled
    assert [compiled.canonical_fingerprint(state) for state in sample] == [
        reference.canonical_fingerprint(state) for state in sample]
