"""Records and maps behave the same with the C bases (checker._values) and without them.

The same script runs in two child processes, one with the extension blocked, and both must
print the same transcript: constructions, updates, equality, hashing, errors, pickling, and a
whole model check with its fingerprints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker import values

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, pickle, sys
if sys.argv[1] == "python":
    sys.modules["checker._values"] = None
from checker import Bag, Id, Map, Record, values
from checker.explore import check
from checker.fingerprint import fingerprint
from checker.loader import build_model

out = {"c": values._values is not None}

class Point(Record):
    x: int
    y: int = 0

class Other(Record):
    x: int
    y: int = 0

class Point3(Point):
    z: object = None

p = Point(1)
q = p.replace(y=5)
out["build"] = [repr(p), repr(Point(1, 2)), repr(Point(y=3, x=4)), repr(q), repr(Point3(1, 2))]
out["fields"] = [p.x, p.y, q.y, Point3(1, 2, 3).z, Point3._fields]
out["eq"] = [p == Point(1, 0), p == Other(1, 0), p != Other(1, 0), p == (1, 0),
             hash(p) == hash(Point(1, 0)), p < q, p.replace() == p]
out["pickle"] = [pickle.loads(pickle.dumps(q)) == q, type(pickle.loads(pickle.dumps(q))).__name__]

errors = []
for attempt in (lambda: Point(), lambda: Point(1, 2, 3), lambda: Point(1, w=2),
                lambda: Point(1, x=2), lambda: p.replace(w=1), lambda: p.replace(1),
                lambda: Map().set(1), lambda: Map({1: 2}).remove(3),
                lambda: Map().__setitem__(1, 2), lambda: hash(Map({1: [2]}))):
    try:
        attempt()
        errors.append("no error")
    except Exception as exc:
        errors.append(type(exc).__name__)
out["errors"] = errors
if out["c"]:
    try:
        tuple.__new__(Point, ())
        out["short"] = "built"
    except TypeError:
        out["short"] = "refused"

a, b = Id("n", 0), Id("n", 1)
m = Map({a: 1})
out["map"] = [repr(m.set(b, 2)), repr(m), repr(m.merge({b: 3, a: 0})), repr(m.set(b, 2).remove(a)),
              type(m.set(b, 2)).__name__, m.set(b, 2) == {a: 1, b: 2},
              hash(Map({a: 1, b: 2})) == hash(Map({b: 2, a: 1})),
              hash(m) == hash(m.set(a, 1))]
class Defaulting(Map):
    def __missing__(self, key):
        return "missing"

class Shouting(Map):
    def __getitem__(self, key):
        return str(dict.__getitem__(self, key)).upper()

    def __contains__(self, key):
        return key == "everything"

class Later(Map):
    pass

Later.__getitem__ = lambda self, key: "assigned later"
lookups = []
for attempt in (lambda: m[a], lambda: m[b], lambda: m[("n", 0)], lambda: a in m, lambda: b in m,
                lambda: ("n", 0) in m, lambda: Defaulting(m)[b], lambda: Defaulting(m)[a],
                lambda: Shouting({a: "x"})[a], lambda: a in Shouting({a: "x"}),
                lambda: "everything" in Shouting(), lambda: Later(m)[b], lambda: m[[]],
                lambda: [] in m, lambda: Bag({"m": 2})["m"], lambda: Bag({"m": 2})["k"]):
    try:
        lookups.append(repr(attempt()))
    except Exception as exc:
        lookups.append(type(exc).__name__)
out["lookups"] = lookups

class Named(Id):
    def __hash__(self):
        return 7

out["id hash"] = [hash(a) == hash(("n", 0)), hash(Id("n", 2.5)) == hash(("n", 2.5)),
                  hash(Named("n", 0)), {("n", 1): "plain"}[b], {b: "id"}[("n", 1)],
                  len({a, ("n", 0), Id("n", 0)}), hash(a) == hash(Id("n", 0))]
from checker.parallel import _pickled, _unpickled

class Text(str):
    pass

nested = Point3(1, Map({a: Bag({"m": 2})}), frozenset({Point(2), "text"}))
pickles = []
for value in (m, Bag({"m": 2}), Defaulting(m), nested, Point(Map(), Id("n", 5)), Text("t")):
    for protocol in (2, 4, 5):
        again = pickle.loads(pickle.dumps(value, protocol))
        pickles.append([repr(again), type(again).__name__, again == value])
    moved = _unpickled(_pickled([value, "wor" + "king"]))
    pickles.append([repr(moved[0]), type(moved[0]).__name__, moved[0] == value,
                    moved[1] is sys.intern("working")])
out["pickles"] = pickles
bag = Bag().add("m").add("m").add("k")
out["bag"] = [repr(bag), type(bag.remove_one("m")).__name__, bag.remove_one("m")["m"],
              list(bag.elements())]

model = build_model("models/two_phase_commit.py", {"rms": 4})
result = check(model)
out["check"] = [result.verdict, result.distinct_states, result.transitions, result.depth]
out["fingerprint"] = fingerprint(model.initial_states()[0])
print(json.dumps(out))
"""


def transcript(implementation: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, implementation], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_pure_python_values_match_the_c_bases():
    if values._values is None:
        pytest.skip("checker._values was not built")
    compiled, reference = transcript("c"), transcript("python")
    assert compiled.pop("c") is True and reference.pop("c") is False
    assert compiled.pop("short") == "refused"
    assert compiled == reference
    assert reference["check"] == ["ok", 1568, 8257, 13]
    assert reference["errors"] == ["TypeError"] * 7 + ["KeyError", "TypeError", "TypeError"]
    assert reference["eq"] == [True, False, True, False, True, True, True]
    assert reference["lookups"] == ["1", "KeyError", "1", "True", "False", "True", "'missing'",
                                    "1", "'X'", "False", "True", "'assigned later'",
                                    "TypeError", "TypeError", "2", "KeyError"]
    assert reference["id hash"] == [True, True, 7, "plain", "id", 1, True]
    assert [row[1:] for row in reference["pickles"]] == [
        row for name in ("Map", "Bag", "Defaulting", "Point3", "Point", "Text")
        for row in [[name, True]] * 3 + [[name, True, True]]]


def test_records_and_maps():
    class Pair(values.Record):
        left: object
        right: object = None

    pair = Pair(1)
    assert (pair.left, pair.right) == (1, None)
    assert pair.replace(right=2) == Pair(1, 2) != (1, 2)
    assert Pair.left.__doc__ == "Field 'left'."
    with pytest.raises(TypeError, match="Pair has no field 'middle'; fields are left, right"):
        pair.replace(middle=3)
    with pytest.raises(AttributeError):
        pair.left = 5
    m = values.Map({"a": 1})
    assert m.set("b", 2) == {"a": 1, "b": 2} and m == {"a": 1}


def test_a_record_class_with_its_own_constructor_keeps_it():
    class Base(values.Record):
        x: int
        y: int = 0

    class Doubling(Base):
        def __new__(cls, x, y=0):
            return super().__new__(cls, 2 * x, y)

    assert Doubling(3) == Doubling(3, 0) and tuple(Doubling(3)) == (6, 0)
    assert tuple(Base(3)) == (3, 0) and Base(y=1, x=2).y == 1


def test_updates_that_change_nothing_return_the_value_itself():
    """A step that leaves the state as it is returns the state object, which the explorer
    recognises without fingerprinting it (C bases only; equal values either way)."""
    class Node(values.Record):
        mode: str
        peers: object

    working = "working"
    m = values.Map({"a": working, "b": 1})
    node = Node(working, m)
    assert m.set("a", "work" + "ing") == m and node.replace(mode=working) == node
    if values._values is not None:
        assert m.set("a", working) is m and m.set("c", 1) is not m
        assert node.replace(mode=working, peers=m) is node
        assert node.replace(mode=working, peers=m.set("b", 2)) is not node


def test_text_of_values_does_not_depend_on_the_hash_seed():
    """Sets print in sorted order inside records, maps and traces, so that labels and trace
    text are the same in every run (Python's own frozenset repr follows string hashes)."""
    code = (
        "from checker import Map, Record\n"
        "from checker.trace import changes\n"
        "class Msg(Record):\n"
        "    keys: frozenset\n"
        "words = frozenset(f'key{i}' for i in range(20))\n"
        "print(Msg(words), Map({'m': words}), changes(Msg(frozenset()), Msg(words)))\n"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert "frozenset({'key0', 'key1', 'key10'" in outputs.pop()
    assert values.show(frozenset({(2, "b"), (1, "a")})) == "frozenset({(1, 'a'), (2, 'b')})"
    assert values.show(frozenset({frozenset({2}), frozenset({1})})) == (
        "frozenset({frozenset({1}), frozenset({2})})")


def test_ids_of_a_str_kind_and_int_index_are_one_object_also_when_unpickled():
    import pickle

    from checker.values import Id, ids

    nodes = ids("node", 3)
    assert Id("node", 1) is nodes[1]
    assert pickle.loads(pickle.dumps(nodes))[2] is nodes[2]
    # Equal ids of other types keep their own objects (they print differently).
    assert Id("node", True) == nodes[1] and Id("node", True) is not nodes[1]
    assert repr(Id("node", True)) == "nodeTrue" and repr(Id("node", 1)) == "node1"


def test_slots_set_in_c_keep_what_a_class_defines():
    """Ids hash through IdBase's cache with the tuple's values, and maps take the dict's
    lookups from MapBase's slots (not dict's methods, which a subclass would call as
    methods), so a class's own __hash__, __getitem__ and __contains__ stay in force."""
    if values._values is None:
        pytest.skip("checker._values was not built")

    class Own(values._values.IdBase):
        def __hash__(self):
            return 7

    class Plain(values._values.IdBase):
        pass

    class Upper(values.Map):
        def __getitem__(self, key):
            return "upper"

    assert hash(Own((1,))) == 7 and hash(Plain((1, 2))) == hash((1, 2))
    assert Upper({1: 2})[1] == "upper" and 1 in Upper({1: 2})
    assert values.Id.__hash__ is values._values.IdBase.__hash__ is not tuple.__hash__
    for name in ("__getitem__", "__contains__"):
        for cls in (values.Map, values.Bag):
            assert getattr(cls, name) is getattr(values._values.MapBase, name)
            assert type(getattr(cls, name)).__name__ == "wrapper_descriptor"
