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
                limit: int | None = None) -> Any:
    """The reachable state graph of ``model`` as a ``networkx.MultiDiGraph``.

    Raises :class:`InvalidInput` as soon as the search finds more than ``limit`` (default
    :data:`MAX_GRAPH_STATES`) states; the
    search itself stores only states and transitions, and labels and property marks are
    computed once it is known to be small.
    """
    from checker.explore import ModelRaised, describe_exception, successors
    from checker.fingerprint import fingerprint

    fp = fingerprint_fn or fingerprint
    limit = MAX_GRAPH_STATES if limit is None else limit
    model_file = getattr(type(model), "__checker_file__", None)
    properties = model.properties()
    action_invariants = [p for p in properties if p.kind == "action invariant"]
    constraints = [p for p in properties if p.kind == "constraint"]
    actions = model.actions()
    numbers: dict[int, int] = {}
    states: list[Any] = []
    depths: list[int] = []
    edges: list[tuple[int, int, Any, tuple[Any, ...], list[str]]] = []
    deadlocks: set[int] = set()
    errors: dict[int, str] = {}

    def number_of(state: Any, depth: int) -> int:
        key = fp(state)
        number = numbers.get(key)
        if number is None:
            if len(states) >= limit:
                raise InvalidInput(
                    f"--graph-out: model {model.name} has more than {limit:,} states; the "
                    "state graph is for small models (choose smaller parameters)"
                )
            number = numbers[key] = len(states)
            states.append(state)
            depths.append(depth)
        return number

    initial = [number_of(state, 0) for state in model.initial_states()]
    index = 0
    while index < len(states):
        state = states[index]
        if all(c.check(state) for c in constraints):
            count = 0
            try:
                for spec, args, successor in successors(state, actions):
                    count += 1
                    broken = [p.name for p in action_invariants if not p.check(state, successor)]
                    edges.append((index, number_of(successor, depths[index] + 1), spec, args,
                                  broken))
            except ModelRaised as exc:
                errors[index] = f"{exc.label}: {describe_exception(exc.original, model_file)}"
            if count == 0 and index not in errors and model.deadlock and not model.final(state):
                deadlocks.add(index)
        index += 1
    return _to_networkx(model, states, depths, initial, edges, deadlocks, errors)


def _to_networkx(model: Any, states: list[Any], depths: list[int], initial: list[int],
                 edges: list[tuple[int, int, Any, tuple[Any, ...], list[str]]],
                 deadlocks: set[int], errors: dict[int, str]) -> Any:
    import networkx as nx

    invariants = [p for p in model.properties() if p.kind == "invariant"]
    params = ", ".join(f"{k}={v!r}" for k, v in model.params.items())
    graph = nx.MultiDiGraph(name=model.name, params=params)
    for number, state in enumerate(states):
        broken = []
        for prop in invariants:
            try:
                holds = prop.check(state)
            except Exception:  # noqa: BLE001 - a raising invariant marks the state as broken
                holds = False
            if not holds:
                broken.append(prop.name)
        graph.add_node(f"s{number}", label="\n".join(_state_lines(model, state)),
                       depth=depths[number], initial=number in initial,
                       violates=", ".join(broken), deadlock=number in deadlocks,
                       error=errors.get(number, ""))
    for source, target, spec, args, broken in edges:
        graph.add_edge(f"s{source}", f"s{target}", label=spec.describe(args), action=spec.name,
                       violates=", ".join(broken))
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
