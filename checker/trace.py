"""Traces: rebuilding them by re-execution, comparing states, rendering them as text and JSON.

A trace is a list of :class:`Step` records, the first being an initial state with action
``init``. Every format (text here, ITF JSON and HTML elsewhere) consumes a :class:`Trace`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from itertools import islice
from typing import Any

from checker.errors import NondeterminismError
from checker.values import Bag, Id, Record, show, sorted_items

__all__ = ["Step", "Trace", "changes", "rebuild_path", "render_text", "to_json"]


@dataclass
class Step:
    """One step of a trace: the action taken (``init`` first) and the state it led to.

    ``state`` is None only for a final step whose action raised (then ``error`` says how).
    ``meta`` carries extra facts formats may show: for actor models the actor and the kind of
    step (deliver, timer, crash, ...).
    """

    action: str
    state: Any
    name: str | None = None
    args: tuple[Any, ...] = ()
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    """A path through a model, from an initial state."""

    model: str
    params: dict[str, Any]
    steps: list[Step]

    def __len__(self) -> int:
        return len(self.steps)


_NONDETERMINISM_HINT = (
    "the model is not deterministic: re-executing the recorded path gave a different state. "
    "Likely causes: iterating a set or dict of strings (order depends on PYTHONHASHSEED; sort "
    "it), random numbers, the clock, or state kept outside the state record (attributes of "
    "the model changed by actions, globals)."
)


def rebuild_path(
    model: Any,
    actions: list[Any],
    fingerprint: Callable[[Any], int],
    path: list[tuple[int, int]],
    successors: Callable[[Any, list[Any]], Iterator[tuple[Any, tuple, Any]]],
) -> list[Step]:
    """Re-execute ``path`` (``(ordinal, fingerprint)`` per state) and return its steps."""
    if not path:
        return []
    initial = model.initial_states()
    first_ordinal, first_fp = path[0]
    if first_ordinal >= len(initial) or fingerprint(initial[first_ordinal]) != first_fp:
        raise NondeterminismError(f"initial state {first_ordinal}: {_NONDETERMINISM_HINT}")
    state = initial[first_ordinal]
    steps = [Step("init", state, name="init")]
    for depth, (ordinal, expected) in enumerate(path[1:], start=1):
        found = next(islice(successors(state, actions), ordinal, None), None)
        if found is None:
            raise NondeterminismError(
                f"step {depth}: transition {ordinal} no longer exists; {_NONDETERMINISM_HINT}"
            )
        spec, args, successor = found
        if fingerprint(successor) != expected:
            raise NondeterminismError(
                f"step {depth} ({spec.describe(args)}): {_NONDETERMINISM_HINT}"
            )
        steps.append(step_for(spec, args, state, successor))
        state = successor
    return steps


def step_for(spec: Any, args: tuple[Any, ...], previous: Any, successor: Any) -> Step:
    """The trace step for taking action ``spec`` with ``args`` from ``previous``."""
    meta = spec.meta(previous, successor, *args) if spec.meta is not None else {}
    return Step(spec.describe(args), successor, name=spec.name, args=args, meta=meta)


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else show(key)


def changes(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    """The differences between two states as ``(path, description)`` pairs.

    Nested changes are named by path (``servers[s2].log[3]``); sets and maps report the
    elements added and removed rather than the whole value, and a tuple that grew or shrank at
    either end (a log, a FIFO channel) reports only the elements that came or went.

    >>> changes((1, 2), (1, 3), "x")
    [('x[1]', '2 → 3')]
    >>> changes(("a", "b", "c"), ("b", "c"), "queue")
    [('queue[0]', "removed 'a'")]
    """
    if old == new and type(old) is type(new):
        return []
    if isinstance(old, Record) and type(old) is type(new):
        found = []
        for name, before, after in zip(old._fields, old, new):
            found += changes(before, after, f"{path}.{name}" if path else name)
        return found
    if isinstance(old, Bag) and isinstance(new, Bag):
        found = []
        for item in sorted_items(set(old) | set(new)):
            delta = new.get(item, 0) - old.get(item, 0)
            sign = "+" if delta > 0 else "-"
            found += [(path, f"{sign} {show(item)}")] * abs(delta)
        return found
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted_items(set(old) | set(new)):
            where = f"{path}[{_key_text(key)}]"
            if key not in new:
                found.append((where, f"removed {show(old[key])}"))
            elif key not in old:
                found.append((where, f"added {show(new[key])}"))
            else:
                found += changes(old[key], new[key], where)
        return found
    if isinstance(old, (frozenset, set)) and isinstance(new, (frozenset, set)):
        found = [(path, f"+ {show(e)}") for e in sorted_items(new - old)]
        return found + [(path, f"- {show(e)}") for e in sorted_items(old - new)]
    if type(old) is tuple and type(new) is tuple:
        if len(old) == len(new):
            found = []
            for index, (before, after) in enumerate(zip(old, new)):
                found += changes(before, after, f"{path}[{index}]")
            return found
        if new[: len(old)] == old:
            return [(f"{path}[{i}]", f"added {show(e)}")
                    for i, e in enumerate(new) if i >= len(old)]
        if old[: len(new)] == new:
            return [(f"{path}[{i}]", f"removed {show(e)}")
                    for i, e in enumerate(old) if i >= len(new)]
        dropped = len(old) - len(new)
        if dropped > 0 and old[dropped:] == new:
            return [(f"{path}[{i}]", f"removed {show(e)}") for i, e in enumerate(old[:dropped])]
    return [(path, f"{show(old)} → {show(new)}")]


def _fields(state: Any) -> list[tuple[str, Any]]:
    """The top-level parts of a state, maps expanded one entry per line."""
    parts = list(zip(state._fields, state)) if isinstance(state, Record) else [("state", state)]
    shown = []
    for name, value in parts:
        if isinstance(value, dict) and value and not isinstance(value, Bag):
            shown += [(f"{name}[{_key_text(k)}]", value[k]) for k in sorted_items(value)]
        else:
            shown.append((name, value))
    return shown


def render_text(trace: Trace, title: str | None = None) -> str:
    """A trace as numbered steps, each with its action and only the fields that changed."""
    lines = [title] if title else []
    previous = None
    width = len(str(len(trace.steps) - 1))
    for index, step in enumerate(trace.steps):
        lines.append(f"{index:>{width}}  {step.action}")
        pad = " " * (width + 4)
        if step.error is not None:
            lines.append(f"{pad}raised {step.error}")
            continue
        if previous is None:
            lines += [f"{pad}{name} = {show(value)}" for name, value in _fields(step.state)]
        else:
            diff = changes(previous, step.state)
            lines += [f"{pad}{where or 'state'}: {what}" for where, what in diff] or [
                f"{pad}(no change)"]
        previous = step.state
    return "\n".join(lines)


def to_json(value: Any) -> Any:
    """A state as plain JSON data: records as objects, sets as sorted lists, ids as strings."""
    if isinstance(value, Id):
        return show(value)
    if isinstance(value, Record):
        return {name: to_json(item) for name, item in zip(value._fields, value)}
    if isinstance(value, dict):
        return {_key_text(k): to_json(value[k]) for k in sorted_items(value)}
    if isinstance(value, (frozenset, set)):
        return [to_json(e) for e in sorted_items(value)]
    if isinstance(value, tuple):
        return [to_json(e) for e in value]
    if isinstance(value, Enum):
        return value.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return show(value)
