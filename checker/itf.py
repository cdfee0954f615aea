"""Traces in the Informal Trace Format (ITF) of Apalache and Quint, both ways.

ITF (Apalache ADR-015) is JSON: a top-level object with ``#meta``, ``vars`` (the state
variables) and ``states`` (one object per state, mapping each variable to its value, plus the
state's own ``#meta``). Values are encoded as follows; :func:`decode` reverses it exactly, so
a saved trace can be replayed (see :mod:`checker.replay`):

==========================  ======================================================
Python value                ITF JSON
==========================  ======================================================
``bool``, ``str``           JSON ``true``/``false``, JSON string
``int``                     ``{"#bigint": "42"}`` (always, whatever the size)
``tuple``                   ``{"#tup": [...]}``
``frozenset``, ``set``      ``{"#set": [...]}``
``Map``, ``Bag``, ``dict``  ``{"#map": [[key, value], ...]}`` (a ``Bag`` maps each item to
                            its count); decoded as a ``Map``, which equals all three
``list``                    a JSON array (an ITF sequence)
``Record`` of class ``C``   the variant ``{"tag": "C", "value": {field: value, ...}}``
``Id("acceptor", 2)``       ``{"tag": "Id", "value": {"kind": "acceptor", "index": 2}}``
                            (the index as a ``#bigint``)
``None``                    the variant ``{"tag": "NoneType", "value": {}}``
``Enum`` member ``E.X``     the variant ``{"tag": "E", "value": "X"}``
anything else (floats)      ``{"#unserializable": repr}``, which cannot be replayed
==========================  ======================================================

Variant values are records or strings only, never ``#``-objects, so that generic ITF readers
(``itf-py`` builds a named tuple per variant) load every trace; for the same reason None is
not Quint's ``None`` variant, a Python keyword. The tags ``Id`` and ``NoneType`` are reserved.
The state itself, when it is a record, is not
wrapped: its fields are the ITF ``vars`` and its class name is ``state_type`` in the trace's
``#meta``; any other state is the single variable ``state``. Elements of sets and entries of
maps are sorted by their canonical JSON text, and the file holds no timestamp, so the same
counterexample always gives the same bytes and two traces diff line by line (one state a line).

Decoding never executes code from the file: record and enum classes are looked up by name among
the classes the model defines or imports (:func:`type_registry`), and built from the decoded
field values only after their names match the class's fields.
"""

from __future__ import annotations

import enum
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.errors import InvalidInput
from checker.trace import Step, Trace
from checker.values import Id, Map, Record

__all__ = [
    "FORMAT_DESCRIPTION",
    "ItfDocument",
    "TypeRegistry",
    "canonical_text",
    "decode",
    "decode_params",
    "decode_trace",
    "dumps",
    "encode",
    "read_itf",
    "source_path",
    "trace_to_itf",
    "type_registry",
    "write_itf",
]

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_BIGINT = re.compile(r"-?[0-9]+\Z")
_STEP_KEYS = ("index", "action", "name", "args")


def canonical_text(data: Any) -> str:
    """The canonical JSON text of ITF data: sorted keys, no spaces; the sort key of sets."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode(value: Any) -> Any:
    """A Python value as ITF JSON data (see the module docstring for the table).

    >>> encode((1, frozenset({"b", "a"})))
    {'#tup': [{'#bigint': '1'}, {'#set': ['a', 'b']}]}
    >>> encode(Id("node", 2))
    {'tag': 'Id', 'value': {'kind': 'node', 'index': {'#bigint': '2'}}}
    """
    if value is None:
        return {"tag": "NoneType", "value": {}}
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return {"tag": type(value).__name__, "value": value.name}
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if isinstance(value, Id):
        return {"tag": "Id", "value": {"kind": value.kind, "index": {"#bigint": str(value.index)}}}
    if isinstance(value, Record):
        fields = {name: encode(item) for name, item in zip(value._fields, value)}
        return {"tag": type(value).__name__, "value": fields}
    if isinstance(value, tuple):
        return {"#tup": [encode(item) for item in value]}
    if isinstance(value, (frozenset, set)):
        return {"#set": sorted((encode(item) for item in value), key=canonical_text)}
    if isinstance(value, dict):
        pairs = [[encode(key), encode(item)] for key, item in value.items()]
        return {"#map": sorted(pairs, key=lambda pair: canonical_text(pair[0]))}
    if isinstance(value, list):
        return [encode(item) for item in value]
    return {"#unserializable": repr(value)}


@dataclass
class TypeRegistry:
    """The record and enum classes a trace may name, by class name."""

    records: dict[str, type]
    enums: dict[str, type]


def _add_candidates(found: dict[str, list[type]], classes: list[type]) -> None:
    for cls in classes:
        bucket = found.setdefault(cls.__name__, [])
        if cls not in bucket:
            bucket.append(cls)


def _subclasses(base: type) -> list[type]:
    seen: list[type] = []
    pending = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls not in seen:
            seen.append(cls)
            pending.extend(cls.__subclasses__())
    return seen


def type_registry(model: Any) -> TypeRegistry:
    """The record and enum classes a trace of ``model`` may name.

    A name resolves to the class the model's module defines, else one it imports, else one of
    the checker package (``World``, ``Envelope``), else the only live class of that name.
    """
    module = sys.modules.get(type(model).__module__)
    namespace = vars(module) if module is not None else {}
    tiers: list[list[type]] = [[], [], [], []]
    for base in (Record, enum.Enum):
        for cls in _subclasses(base):
            if module is not None and cls.__module__ == module.__name__:
                tiers[0].append(cls)
            elif namespace.get(cls.__name__) is cls:
                tiers[1].append(cls)
            elif cls.__module__.split(".")[0] == "checker":
                tiers[2].append(cls)
            else:
                tiers[3].append(cls)
    chosen: dict[str, type | None] = {}
    for tier in tiers:
        found: dict[str, list[type]] = {}
        _add_candidates(found, tier)
        for name, classes in found.items():
            if name not in chosen:
                chosen[name] = classes[0] if len(classes) == 1 else None
    records = {n: c for n, c in chosen.items() if c is not None and issubclass(c, Record)}
    enums = {n: c for n, c in chosen.items() if c is not None and issubclass(c, enum.Enum)}
    return TypeRegistry(records, enums)


def decode(data: Any, types: TypeRegistry, where: str = "value") -> Any:
    """The Python value that :func:`encode` turned into ``data``; ``where`` names it in errors.

    >>> decode({"#tup": [{"#bigint": "1"}, "a"]}, TypeRegistry({}, {}))
    (1, 'a')
    """
    if isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        return data
    if isinstance(data, list):
        return [decode(item, types, f"{where}[{i}]") for i, item in enumerate(data)]
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: {type(data).__name__} {data!r} is not an ITF value")
    if len(data) == 1:
        (key, inner), = data.items()
        if key == "#bigint":
            if not isinstance(inner, str) or not _BIGINT.match(inner):
                raise InvalidInput(f"{where}: #bigint must be a string of digits, got {inner!r}")
            return int(inner)
        if key == "#tup":
            items = _array(inner, where, key)
            return tuple(decode(item, types, f"{where}[{i}]") for i, item in enumerate(items))
        if key == "#set":
            items = _array(inner, where, key)
            return _hashable(where, lambda: frozenset(
                decode(item, types, f"{where}{{}}") for item in items))
        if key == "#map":
            pairs = _array(inner, where, key)
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise InvalidInput(f"{where}: #map must hold [key, value] pairs")
            return _hashable(where, lambda: Map(
                (decode(k, types, f"{where} key"), decode(v, types, f"{where}[...]"))
                for k, v in pairs))
        if key == "#unserializable":
            raise InvalidInput(f"{where}: the value {inner!r} was not serializable and cannot "
                               "be decoded")
    if set(data) == {"tag", "value"} and isinstance(data["tag"], str):
        return _decode_variant(data["tag"], data["value"], types, where)
    keys = ", ".join(sorted(map(str, data)))
    raise InvalidInput(f"{where}: an ITF object with keys {keys} is not a value checker "
                       "writes (records are written as variants {\"tag\", \"value\"})")


def _array(inner: Any, where: str, key: str) -> list[Any]:
    if not isinstance(inner, list):
        raise InvalidInput(f"{where}: {key} must hold a JSON array, got {type(inner).__name__}")
    return inner


def _hashable(where: str, build: Any) -> Any:
    try:
        return build()
    except TypeError as exc:
        raise InvalidInput(f"{where}: an element is not hashable ({exc})") from None


def _decode_variant(tag: str, inner: Any, types: TypeRegistry, where: str) -> Any:
    if tag == "NoneType" and inner == {}:
        return None
    if tag == "Id" and isinstance(inner, dict) and set(inner) == {"kind", "index"}:
        index = decode(inner["index"], types, f"{where}.index")
        if not isinstance(inner["kind"], str) or type(index) is not int:
            raise InvalidInput(f"{where}: an Id needs a string kind and an integer index")
        return Id(inner["kind"], index)
    if isinstance(inner, str):
        cls = types.enums.get(tag)
        if cls is None:
            raise InvalidInput(f"{where}: the model defines no enum named {tag!r}")
        try:
            return cls[inner]
        except KeyError:
            raise InvalidInput(f"{where}: enum {tag} has no member {inner!r}") from None
    if isinstance(inner, dict) and not any(str(k).startswith("#") for k in inner):
        cls = types.records.get(tag)
        if cls is None:
            raise InvalidInput(f"{where}: the model defines no record named {tag!r} (or "
                               "several classes share the name)")
        return _build_record(cls, inner, types, f"{where}:{tag}")
    raise InvalidInput(f"{where}: the variant {tag!r} has a value checker cannot decode")


def _build_record(cls: type, fields: Mapping[str, Any], types: TypeRegistry, where: str) -> Any:
    expected = cls._fields  # type: ignore[attr-defined]
    if set(fields) != set(expected):
        raise InvalidInput(
            f"{where}: fields {', '.join(sorted(fields)) or 'none'} do not match record "
            f"{cls.__name__} ({', '.join(expected) or 'no fields'})"
        )
    values = [decode(fields[name], types, f"{where}.{name}") for name in expected]
    return cls(*values)


def source_path(model: Any) -> str | None:
    """The model's file, relative to the working directory when it lies below it."""
    path = getattr(type(model), "__checker_file__", None)
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def trace_to_itf(trace: Trace, model: Any = None, result: Any = None) -> dict[str, Any]:
    """A trace as an ITF document (a JSON-ready dict); ``result`` adds the verdict."""
    steps = [step for step in trace.steps if step.state is not None]
    first = steps[0].state if steps else None
    state_type = type(first).__name__ if isinstance(first, Record) else None
    variables = list(first._fields) if state_type else ["state"]
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "description": "Created by checker, an explicit-state model checker",
        "source": source_path(model) if model is not None else None,
        "model": trace.model,
        "params": {name: encode(value) for name, value in trace.params.items()},
        "state_type": state_type,
    }
    if result is not None:
        meta.update(status=result.verdict, property=result.property,
                    property_kind=result.property_kind, symmetry=result.symmetry)
    failed = [step for step in trace.steps if step.state is None]
    if failed:
        meta["error"] = {"action": failed[0].action, "message": failed[0].error}
    states = []
    for index, step in enumerate(steps):
        step_meta: dict[str, Any] = {"index": index, "action": step.action,
                                     "name": step.name or step.action,
                                     "args": [encode(arg) for arg in step.args]}
        step_meta.update((k, v) for k, v in step.meta.items() if k not in _STEP_KEYS)
        entry: dict[str, Any] = {"#meta": step_meta}
        if state_type:
            entry.update((name, encode(value)) for name, value in zip(variables, step.state))
        else:
            entry["state"] = encode(step.state)
        states.append(entry)
    return {"#meta": meta, "vars": variables, "states": states}


def dumps(document: dict[str, Any]) -> str:
    """ITF JSON text with one state per line, so traces diff state by state."""
    def text(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    states = ",\n  ".join(text(state) for state in document["states"])
    head = ",\n".join(f" {text(key)}: {text(document[key])}" for key in document
                      if key != "states")
    return "{\n" + head + ',\n "states": [\n  ' + states + "\n ]\n}\n"


def write_itf(result: Any, model: Any, path: str | Path) -> None:
    """Write the counterexample of ``result`` to ``path`` as ITF JSON."""
    Path(path).write_text(dumps(trace_to_itf(result.trace, model, result)), encoding="utf-8")


@dataclass
class ItfDocument:
    """A parsed ITF file, checked for shape but with values not yet decoded."""

    path: str
    meta: dict[str, Any]
    vars: list[str]
    states: list[dict[str, Any]]


def read_itf(path: str | Path) -> ItfDocument:
    """Read and shape-check an ITF file; any problem is a one-line :class:`InvalidInput`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the trace: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not JSON: {exc.msg} (line {exc.lineno}, column "
                           f"{exc.colno})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: an ITF trace is a JSON object, got {type(data).__name__}")
    meta = data.get("#meta", {})
    variables = data.get("vars")
    states = data.get("states")
    if not isinstance(meta, dict):
        raise InvalidInput(f"{path}: #meta must be an object")
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise InvalidInput(f"{path}: 'vars' must be a list of variable names")
    if not isinstance(states, list) or not states:
        raise InvalidInput(f"{path}: 'states' must be a non-empty list")
    for index, state in enumerate(states):
        if not isinstance(state, dict):
            raise InvalidInput(f"{path}: states[{index}] is not an object")
        missing = [v for v in variables if v not in state]
        if missing:
            raise InvalidInput(f"{path}: states[{index}] has no value for {missing[0]!r}")
        if not isinstance(state.get("#meta", {}), dict):
            raise InvalidInput(f"{path}: states[{index}].#meta must be an object")
    return ItfDocument(str(path), meta, variables, states)


def decode_params(document: ItfDocument) -> dict[str, Any]:
    """The parameters recorded in the trace's ``#meta`` (empty when it has none)."""
    params = document.meta.get("params", {})
    if not isinstance(params, dict):
        raise InvalidInput(f"{document.path}: #meta.params must be an object")
    types = TypeRegistry({}, {})
    return {str(name): decode(value, types, f"{document.path}: #meta.params.{name}")
            for name, value in params.items()}


def decode_trace(document: ItfDocument, types: TypeRegistry) -> Trace:
    """The steps of an ITF document as a :class:`Trace` of decoded states and arguments."""
    where = document.path
    state_type = document.meta.get("state_type")
    cls = None
    if state_type is not None:
        cls = types.records.get(state_type) if isinstance(state_type, str) else None
        if cls is None:
            raise InvalidInput(f"{where}: the model defines no state record named {state_type!r}")
        if list(document.vars) != list(cls._fields):  # type: ignore[attr-defined]
            raise InvalidInput(
                f"{where}: vars {', '.join(document.vars)} do not match the fields of "
                f"{state_type} ({', '.join(cls._fields)})"  # type: ignore[attr-defined]
            )
    elif document.vars != ["state"]:
        raise InvalidInput(f"{where}: without #meta.state_type the only variable must be "
                           "'state' (is this a trace written by checker?)")
    steps = []
    for index, raw in enumerate(document.states):
        at = f"{where}: states[{index}]"
        if cls is not None:
            fields = {name: raw[name] for name in document.vars}
            state = _build_record(cls, fields, types, at)
        else:
            state = decode(raw["state"], types, f"{at}.state")
        meta = dict(raw.get("#meta", {}))
        action = meta.get("action", "init" if index == 0 else None)
        if not isinstance(action, str):
            raise InvalidInput(f"{at}: #meta.action (the action label) is missing")
        name = meta.get("name", action)
        args = meta.get("args", [])
        if not isinstance(name, str) or not isinstance(args, list):
            raise InvalidInput(f"{at}: #meta.name must be a string and #meta.args a list")
        decoded_args = tuple(decode(a, types, f"{at}.#meta.args[{i}]") for i, a in enumerate(args))
        extra = {k: v for k, v in meta.items() if k not in _STEP_KEYS}
        steps.append(Step(action, state, name=name, args=decoded_args, meta=extra))
    model = document.meta.get("model")
    return Trace(model if isinstance(model, str) else "", {}, steps)
