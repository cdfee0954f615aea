"""``--graph-out FILE``: the state graph of a small model as DOT or GraphML.

The graph is built by breadth-first search over the model with the run's fingerprint function
(canonical fingerprints when symmetry is on, so symmetric states are one node), reusing
:func:`checker.explore.successors`, so nodes and edges come in the explorer's order. Nodes are
numbered ``s0, s1, ...`` in BFS order and carry the state's text, ``initial``, ``violates``
(the invariants the state breaks, comma-separated), ``deadlock`` and ``error`` (the model
raised while expanding it); edges carry the action label. Constraints bound the search as in a
check. Models with more than :data:`MAX_GRAPH_STATES` states are refused: such a graph is
unreadable anyway.

DOT is written by a small writer here (no pydot needed); GraphML by ``networkx.write_graphml``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checker.errors import InvalidInput
from checker.values import Record

__all__ = ["MAX_GRAPH_STATES", "build_graph", "to_dot", "write_graph"]

MAX_GRAPH_STATES = 10_000


def _state_lines(model: Any, state: Any) -> list[str]:
    shown = model.format_state(state)
    if isinstance(shown, Record):
        return [f"{name} = {value!r}" for name, value in zip(shown._fields, shown)]
    return [repr(shown)]


def build_graph(model: Any, fingerprint_fn: Callable[[Any], int] | None = None,
                limit: int = MAX_GRAPH_STATES) -> Any:
    """The reachable state graph of ``model`` as a ``networkx.MultiDiGraph``.

    Raises :class:`InvalidInput` when the model has more than ``limit`` states.
    """
    import networkx as nx

    from checker.explore import ModelRaised, describe_exception, successors
    from checker.fingerprint import fingerprint

    fp = fingerprint_fn or fingerprint
    model_file = getattr(type(model), "__checker_file__", None)
    properties = model.properties()
    invariants = [p for p in properties if p.kind == "invariant"]
    action_invariants = [p for p in properties if p.kind == "action invariant"]
    constraints = [p for p in properties if p.kind == "constraint"]
    actions = model.actions()
    params = ", ".join(f"{k}={v!r}" for k, v in model.params.items())
    graph = nx.MultiDiGraph(name=model.name, params=params)
    numbers: dict[int, str] = {}
    queue: deque[tuple[Any, str]] = deque()

    def node_for(state: Any, depth: int) -> str:
        key = fp(state)
        node = numbers.get(key)
        if node is not None:
            return node
        if len(numbers) >= limit:
            raise InvalidInput(
                f"--graph-out: model {model.name} has more than {limit:,} states; the state "
                "graph is for small models (choose smaller parameters)"
            )
        node = f"s{len(numbers)}"
        numbers[key] = node
        broken = []
        for prop in invariants:
            try:
                holds = prop.check(state)
            except Exception:
                holds = False
            if not holds:
                broken.append(prop.name)
        graph.add_node(node, label="\n".join(_state_lines(model, state)), depth=depth,
                       initial=False, violates=", ".join(broken), deadlock=False, error="")
        queue.append((state, node))
        return node

    for state in model.initial_states():
        graph.nodes[node_for(state, 0)]["initial"] = True
    while queue:
        state, node = queue.popleft()
        if not all(c.check(state) for c in constraints):
            continue
        depth = graph.nodes[node]["depth"] + 1
        count = 0
        try:
            for spec, args, successor in successors(state, actions):
                count += 1
                broken = [p.name for p in action_invariants if not p.check(state, successor)]
                graph.add_edge(node, node_for(successor, depth), label=spec.describe(args),
                               action=spec.name, violates=", ".join(broken))
        except ModelRaised as exc:
            graph.nodes[node]["error"] = (
                f"{exc.label}: {describe_exception(exc.original, model_file)}")
            continue
        if count == 0 and model.deadlock and not model.final(state):
            graph.nodes[node]["deadlock"] = True
    return graph


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\l") + '"'


def to_dot(graph: Any) -> str:
    """DOT text of a graph from :func:`build_graph`; initial nodes doubled, violations red."""
    lines = [
        f"digraph {_quote(graph.graph.get('name', 'states'))} {{",
        f"  label={_quote(graph.graph.get('params', ''))};",
        '  node [shape=box, fontname="monospace", fontsize=10];',
        '  edge [fontname="monospace", fontsize=9];',
    ]
    for node, data in graph.nodes(data=True):
        attrs = [f"label={_quote(data['label'] + chr(10))}"]
        if data["initial"]:
            attrs += ["peripheries=2", "initial=true"]
        if data["violates"] or data["deadlock"] or data["error"]:
            attrs += ["color=red", "style=filled", 'fillcolor="#ffd6d6"']
        for key in ("violates", "error"):
            if data[key]:
                attrs.append(f"{key}={_quote(data[key])}")
        if data["deadlock"]:
            attrs.append("deadlock=true")
        lines.append(f"  {node} [{', '.join(attrs)}];")
    for source, target, data in graph.edges(data=True):
        attrs = [f"label={_quote(data['label'])}"]
        if data["violates"]:
            attrs += ["color=red", f"violates={_quote(data['violates'])}"]
        lines.append(f"  {source} -> {target} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(model: Any, path: str | Path,
                fingerprint_fn: Callable[[Any], int] | None = None) -> None:
    """Write the state graph of ``model`` to ``path`` (``.dot``/``.gv`` or ``.graphml``)."""
    target = Path(path)
    if target.suffix not in (".dot", ".gv", ".graphml"):
        raise InvalidInput(f"--graph-out {path}: use a .dot or .graphml file")
    try:
        import networkx as nx
    except ModuleNotFoundError:
        raise InvalidInput("--graph-out needs networkx: pip install networkx") from None
    graph = build_graph(model, fingerprint_fn)
    if target.suffix == ".graphml":
        nx.write_graphml(graph, target)
    else:
        target.write_text(to_dot(graph), encoding="utf-8")
