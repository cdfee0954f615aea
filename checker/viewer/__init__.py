"""``--trace-out FILE.html``: a counterexample as one self-contained, interactive HTML page.

The page needs no network: its stylesheet and script are inlined from ``viewer.css`` and
``viewer.js`` (package data next to this module) and a Content-Security-Policy forbids loading
anything else. Everything the page shows is computed here, in Python, and embedded as JSON in a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` escaped; the script
renders it with ``textContent`` only, so a state holding ``</script>`` or quotes shows as text.

What is embedded, per step: the action and its arguments, the actor-layer metadata (kind,
actor, fault, message, sends), the changes as paths (``nodes[acceptor0].value``), the state as a
tree (as ``model.format_state`` shows it) whose nodes say whether they are unchanged, changed,
added or removed since the previous step, and the value of every checked property in that
state (invariants and sometimes properties on the state, action invariants on the transition
into it). For actor models the node ids (``model.node_ids()``) become the lifelines of a
message sequence chart.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from checker.itf import source_path
from checker.trace import Trace, changes
from checker.values import Bag, Id, Record, show, sorted_items

__all__ = ["render_html", "trace_data", "write_html"]

_PREVIEW = 160
_SAME, _CHANGED, _ADDED, _REMOVED = "s", "c", "a", "r"
_ABSENT = object()


def _text(value: Any) -> str:
    """A value as the viewer shows it: ids bare (``acceptor0``), strings quoted."""
    if isinstance(value, Id):
        return str(value)
    return show(value)


def _preview(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _text(key)


def _composite(value: Any) -> bool:
    """Whether the viewer shows ``value`` as an expandable node (empty containers are leaves)."""
    if isinstance(value, Record):
        return bool(value._fields)
    return bool(value) and (isinstance(value, (dict, frozenset, set)) or type(value) is tuple)


def _type_name(value: Any) -> str | None:
    """What a collapsed node says besides its preview: the size of a container."""
    if isinstance(value, Record):
        return None
    if isinstance(value, dict):
        return f"{type(value).__name__} ({len(value)})"
    if isinstance(value, (frozenset, set)):
        return f"set ({len(value)})"
    return f"tuple ({len(value)})"


def _node(key: str | None, status: str, value: Any, children: list[dict[str, Any]] | None,
          old: Any = _ABSENT) -> dict[str, Any]:
    node: dict[str, Any] = {"s": status, "v": _preview(value)}
    if key is not None:
        node["k"] = key
    if children is not None:
        node["c"] = children
        kind = _type_name(value)
        if kind is not None:
            node["t"] = kind
    if old is not _ABSENT:
        node["o"] = _preview(old)
    return node


def _children(value: Any, status: str) -> list[dict[str, Any]]:
    if isinstance(value, Record):
        return [tree(item, name, status) for name, item in zip(value._fields, value)]
    if isinstance(value, Bag):
        return [_node(_key(item), status, value[item], None) for item in sorted_items(value)]
    if isinstance(value, dict):
        return [tree(value[k], _key(k), status) for k in sorted_items(value)]
    if isinstance(value, (frozenset, set)):
        return [tree(item, None, status) for item in sorted_items(value)]
    return [tree(item, str(index), status) for index, item in enumerate(value)]


def tree(value: Any, key: str | None = None, status: str = _SAME) -> dict[str, Any]:
    """A value as a display tree whose nodes all have the same ``status``."""
    children = _children(value, status) if _composite(value) else None
    return _node(key, status, value, children)


def diff_tree(old: Any, new: Any, key: str | None = None) -> dict[str, Any]:
    """``new`` as a display tree, each node marked unchanged, changed or added since ``old``;
    removed entries of maps, sets and tuples appear as removed nodes."""
    if type(old) is type(new) and old == new:
        return tree(new, key)
    children: list[dict[str, Any]] | None = None
    if isinstance(new, Record) and type(old) is type(new):
        children = [diff_tree(a, b, name) for name, a, b in zip(new._fields, old, new)]
    elif isinstance(new, Bag) and isinstance(old, Bag):
        children = []
        for item in sorted_items(set(old) | set(new)):
            before, after = old.get(item, 0), new.get(item, 0)
            if not after:
                children.append(_node(_key(item), _REMOVED, before, None))
            elif not before:
                children.append(_node(_key(item), _ADDED, after, None))
            else:
                status = _SAME if before == after else _CHANGED
                extra = {} if before == after else {"old": before}
                children.append(_node(_key(item), status, after, None, **extra))
    elif isinstance(new, dict) and isinstance(old, dict):
        children = []
        for k in sorted_items(set(old) | set(new)):
            if k not in new:
                children.append(tree(old[k], _key(k), _REMOVED))
            elif k not in old:
                children.append(tree(new[k], _key(k), _ADDED))
            else:
                children.append(diff_tree(old[k], new[k], _key(k)))
    elif isinstance(new, (frozenset, set)) and isinstance(old, (frozenset, set)):
        children = []
        for item in sorted_items(old | new):
            status = _SAME if item in old and item in new else _ADDED if item in new else _REMOVED
            children.append(tree(item, None, status))
    elif type(new) is tuple and type(old) is tuple:
        children = []
        for index in range(max(len(old), len(new))):
            if index >= len(new):
                children.append(tree(old[index], str(index), _REMOVED))
            elif index >= len(old):
                children.append(tree(new[index], str(index), _ADDED))
            else:
                children.append(diff_tree(old[index], new[index], str(index)))
    if children is not None:
        return _node(key, _CHANGED, new, children)
    changed = tree(new, key, _CHANGED)
    changed["o"] = _preview(old)
    return changed


def _top_level(state: Any, previous: Any) -> list[dict[str, Any]]:
    """The state's fields (or the state itself) as display trees, diffed against ``previous``."""
    whole = tree(state) if previous is _ABSENT else diff_tree(previous, state)
    if isinstance(state, Record) and "c" in whole:
        return whole["c"]
    whole["k"] = "state"
    return [whole]


def _evaluate(check: Any, *args: Any) -> bool | str:
    try:
        return bool(check(*args))
    except Exception as exc:  # noqa: BLE001 - a raising property is shown, not fatal
        return f"raised {type(exc).__name__}: {exc}"


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def trace_data(result: Any, model: Any, trace: Trace | None = None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (see the module docstring)."""
    trace = trace if trace is not None else result.trace
    checks = {p.name: p for p in model.properties()}
    listed = [(name, kind) for name, kind in result.properties if name in checks]
    properties = [{"name": name, "kind": kind, "violated": name == result.property}
                  for name, kind in listed]
    if result.property == "deadlock":
        properties.append({"name": "deadlock", "kind": "deadlock", "violated": True})
    steps = []
    previous: Any = _ABSENT
    shown_before: Any = _ABSENT
    for index, step in enumerate(trace.steps):
        entry: dict[str, Any] = {
            "action": step.action,
            "name": step.name or step.action,
            "args": [_text(arg) for arg in step.args],
            "meta": _json_safe(step.meta),
            "error": step.error,
        }
        if step.state is not None:
            shown = model.format_state(step.state)
            entry["changes"] = [] if shown_before is _ABSENT else [
                list(change) for change in changes(shown_before, shown)]
            entry["tree"] = _top_level(shown, shown_before)
            values: list[Any] = []
            for name, kind in listed:
                check = checks[name].check
                if kind == "action invariant":
                    values.append(None if previous is _ABSENT
                                  else _evaluate(check, previous, step.state))
                else:
                    values.append(_evaluate(check, step.state))
            if result.property == "deadlock":
                values.append(index == len(trace.steps) - 1)
            entry["props"] = values
            previous, shown_before = step.state, shown
        steps.append(entry)
    node_ids = getattr(model, "node_ids", None)
    nodes = [_text(node) for node in node_ids()] if callable(node_ids) else []
    params = {name: _text(value) for name, value in result.params.items()}
    return {
        "model": result.model,
        "source": source_path(model),
        "params": params,
        "verdict": result.verdict,
        "property": result.property,
        "property_kind": result.property_kind,
        "error": result.error,
        "symmetry": result.symmetry,
        "properties": properties,
        "nodes": nodes,
        "steps": steps,
    }


def _resource(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _embed(data: Any) -> str:
    """JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` survive literally."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(result: Any, model: Any, trace: Trace | None = None) -> str:
    """The viewer page for ``result``'s counterexample (or ``trace``) as HTML text."""
    data = trace_data(result, model, trace)
    what = f"counterexample to {result.property}" if result.property else result.verdict
    parts = {
        "TITLE": html.escape(f"{result.model}: {what}"),
        "CSS": _resource("viewer.css"),
        "JS": _resource("viewer.js"),
        "DATA": _embed(data),
    }
    return re.sub(r"@@(TITLE|CSS|JS|DATA)@@", lambda m: parts[m.group(1)],
                  _resource("template.html"))


def write_html(result: Any, model: Any, path: str | Path) -> None:
    """Write the viewer page for ``result``'s counterexample to ``path``."""
    Path(path).write_text(render_html(result, model), encoding="utf-8")
