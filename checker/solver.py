"""``python -m checker params``: Z3 queries over a model's parameter space.

The space is the product of the parameters' domains, cut down by the model's ``assume``
constraints and, on the command line, by ``-p NAME=VALUE`` (fix a parameter), ``--range
NAME=LO..HI`` and ``--where FORMULA``. Every formula of :mod:`checker.params` is translated to
Z3 by the same interpreter that evaluates it in Python, so the two read it alike.

What the command answers (docs/params.md has the full guide):

- the declared space and the number of points in it: Z3 enumerates the points with blocking
  clauses, one independent group of parameters at a time (parameters that share no formula
  multiply), and refuses more than ``--max-points`` (10,000) points where it must list them;
- quorum queries for every point at once: ``intersect:Q`` (any two quorums of Q meet),
  ``intersect:Q1,Q2`` (every Q1 quorum meets every Q2 quorum), ``alive:Q,F`` (any F crashed
  nodes leave a Q quorum of live nodes). Node ``i`` exists iff ``i < n``; a quorum is a set of
  Booleans over the nodes up to the largest ``n`` of the space with a cardinality constraint,
  so one solver call covers every point. The answer is "holds" or a counterexample point with
  the quorums (sets of node indices) that break it; ``--all`` lists every such point;
- ``--least NAME`` / ``--greatest NAME``: the extreme value of one parameter for which the
  queries hold, the other parameters held at their defaults unless ``-p`` or ``--range`` says
  otherwise;
- ``--sweep``: model-check every point in parallel processes (each rebuilds the model with
  :func:`checker.loader.build_model`) and print a table of verdicts.

Z3 (``pip install z3-solver``) is imported here only, when a command needs it.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from checker.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_SAFETY,
    EXIT_USAGE,
    CheckerError,
    ParamError,
)
from checker.params import (
    Formula,
    FormulaError,
    ParamSpace,
    Quorum,
    describe_space,
    space_of,
)

__all__ = [
    "DEFAULT_MAX_POINTS",
    "Counterexample",
    "Encoding",
    "Query",
    "QueryAnswer",
    "check_point",
    "main",
    "parse_query",
    "sweep",
]

DEFAULT_MAX_POINTS = 10_000
INSTALL_HINT = (
    "the params command needs Z3: pip install z3-solver (or pip install 'checker[params]')"
)


class MissingSolver(CheckerError):
    """Z3 is not installed; the message says how to install it (exit 2)."""

    exit_code = EXIT_USAGE


class TooManyPoints(ParamError):
    """The space has more points than the limit allows to list."""


def _z3() -> Any:
    try:
        import z3
    except ImportError:
        raise MissingSolver(INSTALL_HINT) from None
    return z3


class _Z3Operations:
    """The formula language's operations on Z3 terms (see :class:`checker.params.Formula`)."""

    def __init__(self, z3: Any) -> None:
        self.z3 = z3

    def literal(self, value: Any) -> Any:
        if isinstance(value, bool):
            return self.z3.BoolVal(value)
        return self.z3.IntVal(value)

    def choice(self, value: Any, domain: tuple[Any, ...]) -> Any:
        return self.z3.IntVal(domain.index(value))

    def neg(self, value: Any) -> Any:
        return -value

    def not_(self, value: Any) -> Any:
        return self.z3.Not(value)

    def arithmetic(self, op: str, left: Any, right: Any) -> Any:
        # // and % only take a positive literal divisor, where Z3's integer division and
        # remainder equal Python's floor division and modulo.
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "//":
            return left / right
        return left % right

    def compare(self, op: str, left: Any, right: Any) -> Any:
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        if op == "==":
            return left == right
        return left != right

    def and_(self, values: list[Any]) -> Any:
        return self.z3.And(*values)

    def or_(self, values: list[Any]) -> Any:
        return self.z3.Or(*values)

    def ifelse(self, test: Any, then: Any, otherwise: Any) -> Any:
        return self.z3.If(test, then, otherwise)

    def minimum(self, values: list[Any]) -> Any:
        result = values[0]
        for value in values[1:]:
            result = self.z3.If(value < result, value, result)
        return result

    def maximum(self, values: list[Any]) -> Any:
        result = values[0]
        for value in values[1:]:
            result = self.z3.If(value > result, value, result)
        return result


@dataclass(frozen=True)
class Query:
    """A quorum question: ``intersect`` (one or two systems) or ``alive`` (a system and the
    number of crashes, a formula)."""

    text: str
    kind: str
    systems: tuple[str, ...]
    faults: Formula | None = None

    def describe(self) -> str:
        """The question in words."""
        if self.kind == "alive":
            assert self.faults is not None
            return (f"crashing any {self.faults.text} node(s) leaves a {self.systems[0]} "
                    "quorum alive")
        if len(self.systems) == 1:
            return f"every two {self.systems[0]} quorums intersect"
        return f"every {self.systems[0]} quorum meets every {self.systems[1]} quorum"


def parse_query(text: str, space: ParamSpace) -> Query:
    """Parse ``intersect:Q``, ``intersect:Q1,Q2`` or ``alive:Q,F`` against the quorum
    systems of ``space``; raises :class:`ParamError` naming the problem."""
    kind, sep, rest = text.partition(":")
    kind = kind.strip()
    known = ", ".join(space.quorums) or "none (declare quorums = {...} or use --quorum)"
    if not sep or kind not in ("intersect", "alive"):
        raise ParamError(f"--query {text!r}: write intersect:Q, intersect:Q1,Q2 or alive:Q,F")
    if kind == "alive":
        system, comma, faults = rest.partition(",")
        systems = (system.strip(),)
        if not comma or not faults.strip():
            raise ParamError(f"--query {text!r}: alive needs a quorum system and a number of "
                             "crashes, e.g. alive:phase2,2 or alive:phase2,faults")
        try:
            compiled = space.check(faults, "int")
        except FormulaError as exc:
            raise ParamError(f"--query {text!r}: {exc}") from None
    else:
        systems = tuple(s.strip() for s in rest.split(","))
        compiled = None
        if not 1 <= len(systems) <= 2:
            raise ParamError(f"--query {text!r}: intersect takes one or two quorum systems")
    for system in systems:
        if system not in space.quorums:
            raise ParamError(f"--query {text!r}: no quorum system {system!r}; known: {known}")
    if len(systems) == 2:
        first, second = (space.quorums[s].nodes.tree for s in systems)
        if ast.dump(first) != ast.dump(second):
            raise ParamError(
                f"--query {text!r}: {systems[0]} and {systems[1]} are quorums over different "
                "nodes; intersection needs one set of nodes"
            )
    return Query(text.strip(), kind, systems, compiled)


@dataclass
class Counterexample:
    """A point where a query fails, with the node sets that show it."""

    point: dict[str, Any]
    nodes: int
    sets: dict[str, list[int]]
    witness: dict[str, Any] = field(default_factory=dict)

    def describe(self, query: Query) -> str:
        """The node sets in words."""
        everyone = f"nodes 0..{self.nodes - 1}" if self.nodes else "no nodes"
        if query.kind == "alive":
            crashed = _set(self.sets["crashed"])
            live = _set(self.sets["live"])
            return (f"crashing {crashed} leaves {live} alive, fewer than a "
                    f"{query.systems[0]} quorum ({everyone})")
        first, second = self.sets["first"], self.sets["second"]
        names = query.systems if len(query.systems) == 2 else query.systems * 2
        return (f"{names[0]} quorum {_set(first)} and {names[1]} quorum {_set(second)} are "
                f"disjoint ({everyone})")


def _set(items: list[int]) -> str:
    return "{" + ", ".join(str(i) for i in items) + "}"


@dataclass
class QueryAnswer:
    """The answer to one query: counterexamples (none when it holds), the parameters they
    range over, and how many points the answer covers (None when over the limit)."""

    query: Query
    counterexamples: list[Counterexample]
    relevant: list[str]
    points: int | None
    vacuous: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def holds(self) -> bool:
        """Whether the query holds at every point."""
        return not self.counterexamples


@dataclass
class _Variable:
    """How one varying parameter is encoded: a Z3 Int (numbers, choice positions) or Bool."""

    name: str
    term: Any
    kind: str
    domain: Any


@dataclass
class Encoding:
    """A model's parameter space as Z3 terms and constraints, with the restrictions of one
    command: fixed values, ranges, a filter, and parameters held at their defaults."""

    space: ParamSpace
    fixed: dict[str, Any] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    where: Formula | None = None
    held: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        z3 = self.z3 = _z3()
        self.ops = _Z3Operations(z3)
        space = self.space
        self.values: dict[str, Any] = {}
        self.variables: dict[str, _Variable] = {}
        self.terms: dict[str, Any] = {}
        self.constraints: list[tuple[Any, frozenset[str]]] = []
        choices = space.choices
        for name, declaration in space.params.items():
            kind = space.types[name]
            constant = name in self.fixed or declaration.domain is None or (
                name in self.held and not isinstance(declaration.default, Formula)
            )
            if constant:
                value = self.fixed.get(name, declaration.default)
                self.values[name] = value
                if kind != "opaque":
                    self.terms[name] = self._constant(kind, value, choices.get(name, ()))
                continue
            domain = declaration.domain
            term = z3.Bool(name) if kind == "bool" else z3.Int(name)
            self.variables[name] = _Variable(name, term, kind, domain)
            self.terms[name] = term
            self._add(self._domain_constraint(term, kind, domain), {name})
        for name, declaration in space.params.items():
            if name in self.held and name in self.variables:
                default = self.ops.compare("==", self.terms[name], self._fold(declaration.default))
                self._add(default, {name} | space.parameters_of(declaration.default))
        for name, (low, high) in self.ranges.items():
            if space.types.get(name) != "int" or name not in space.params:
                raise ParamError(f"--range {name}: only integer parameters take a range")
            term = self.terms[name]
            self._add(z3.And(term >= low, term <= high), {name})
        for name, compiled in space.derived.items():
            self.terms[name] = self._fold(compiled)
        for constraint in space.assume:
            self._add(self._fold(constraint), space.parameters_of(constraint))
        if self.where is not None:
            self._add(self._fold(self.where), space.parameters_of(self.where))

    def _constant(self, kind: str, value: Any, domain: tuple[Any, ...]) -> Any:
        if kind == "bool":
            return self.z3.BoolVal(bool(value))
        if kind == "choice":
            return self.z3.IntVal(domain.index(value))
        return self.z3.IntVal(value)

    def _domain_constraint(self, term: Any, kind: str, domain: Any) -> Any:
        z3 = self.z3
        if kind == "bool":
            options = set(domain)
            return z3.BoolVal(True) if len(options) == 2 else term == z3.BoolVal(options.pop())
        if kind == "choice":
            return z3.And(term >= 0, term < len(domain))
        if isinstance(domain, range):
            if not domain:
                return z3.BoolVal(False)
            bounds = z3.And(term >= domain.start, term <= domain[-1])
            if abs(domain.step) == 1:
                return bounds
            return z3.And(bounds, (term - domain.start) % abs(domain.step) == 0)
        return z3.Or(*[term == choice for choice in domain])

    def _fold(self, compiled: Formula) -> Any:
        return compiled.fold(self.terms, self.ops, self.space.choices)

    def _add(self, constraint: Any, names: set[str] | frozenset[str]) -> None:
        self.constraints.append((constraint, frozenset(n for n in names if n in self.variables)))

    def term(self, compiled: Formula) -> Any:
        """The Z3 term of a formula over this space."""
        return self._fold(compiled)

    def solver(self) -> Any:
        """A fresh solver holding every constraint of the space."""
        solver = self.z3.Solver()
        solver.add(*[constraint for constraint, _ in self.constraints])
        return solver

    def decode(self, model: Any, name: str) -> Any:
        """The Python value of varying parameter ``name`` in a Z3 model."""
        variable = self.variables[name]
        value = model.eval(variable.term, model_completion=True)
        if variable.kind == "bool":
            return self.z3.is_true(value)
        if variable.kind == "choice":
            return variable.domain[value.as_long()]
        return value.as_long()

    def groups(self) -> list[list[str]]:
        """The varying parameters split into groups that share no constraint, in declaration
        order; the space is the product of the groups' points."""
        parent = {name: name for name in self.variables}

        def root(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        for _, names in self.constraints:
            members = sorted(names)
            for other in members[1:]:
                parent[root(other)] = root(members[0])
        grouped: dict[str, list[str]] = {}
        for name in self.variables:
            grouped.setdefault(root(name), []).append(name)
        return list(grouped.values())

    def enumerate_group(self, names: list[str], limit: int) -> list[dict[str, Any]]:
        """Every assignment of the parameters ``names`` (one group) that satisfies the
        constraints, by depth-first search with blocking clauses; at most ``limit``."""
        z3 = self.z3
        solver = z3.Solver()
        solver.add(*[c for c, used in self.constraints if used and used <= set(names)])
        solver.add(*[c for c, used in self.constraints if not used])
        found: list[dict[str, Any]] = []
        prefix: dict[str, Any] = {}

        def values_of(name: str) -> list[Any]:
            term = self.variables[name].term
            values = []
            solver.push()
            while _check(solver, z3) == z3.sat:
                model = solver.model()
                value = model.eval(term, model_completion=True)
                values.append((value, self.decode(model, name)))
                solver.add(term != value)
            solver.pop()
            return values

        def descend(index: int) -> None:
            name = names[index]
            term = self.variables[name].term
            for value, decoded in values_of(name):
                prefix[name] = decoded
                if index + 1 == len(names):
                    found.append(dict(prefix))
                    if len(found) > limit:
                        raise TooManyPoints(f"more than {limit:,} points")
                    continue
                solver.push()
                solver.add(term == value)
                descend(index + 1)
                solver.pop()

        if not names:
            return [{}] if _check(solver, z3) == z3.sat else []
        descend(0)
        return found

    def count(self, limit: int) -> int:
        """The number of points (each group enumerated, at most ``limit`` points a group)."""
        return math.prod(len(self.enumerate_group(g, limit)) for g in self.groups() or [[]])

    def points(self, limit: int, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Every point of the space (or of the parameters ``names`` and their groups' fixed
        values), in domain order; raises :class:`TooManyPoints` beyond ``limit``."""
        groups = self.groups()
        if names is not None:
            groups = [g for g in groups if any(n in names for n in g)]
        enumerated = [self.enumerate_group(g, limit) for g in groups or [[]]]
        total = math.prod(len(points) for points in enumerated)
        if total > limit:
            raise TooManyPoints(f"{total:,} points, more than {limit:,}")
        merged = [dict(self.values if names is None else {})]
        for points in enumerated:
            merged = [{**left, **right} for left in merged for right in points]
        order = list(self.space.params)
        if names is None:
            merged = [{name: point[name] for name in order} for point in merged]
        return sorted(merged, key=lambda point: [self._rank(n, point[n]) for n in point])

    def _rank(self, name: str, value: Any) -> Any:
        domain = self.space.params[name].domain
        if isinstance(domain, tuple) and value in domain:
            return domain.index(value)
        return value if isinstance(value, (int, float)) else repr(value)

    def extreme(self, name: str, least: bool) -> list[Any]:
        """The values ``name`` takes in the space, least first (or greatest first)."""
        values = {point[name] for point in self.points(DEFAULT_MAX_POINTS * 10, [name])}
        return sorted(values, reverse=not least)

    def refute(self, query: Query, limit: int = 1, at: Mapping[str, Any] | None = None,
               enumerate_all: bool = False) -> QueryAnswer:
        """Search for points where ``query`` fails, all points at once.

        Quorums are Boolean membership vectors over the nodes up to the largest node count of
        the space; node ``i`` exists iff ``i < n``; sizes are cardinality constraints. With
        ``enumerate_all``, every failing point (over the parameters the query reads) is listed
        by blocking each one found; ``at`` pins parameters to values first.
        """
        z3 = self.z3
        started = time.perf_counter()
        space = self.space
        systems = [space.quorums[s] for s in query.systems]
        formulas = [q.size for q in systems] + [systems[0].nodes]
        if query.faults is not None:
            formulas.append(query.faults)
        reads: set[str] = set()
        for compiled in formulas:
            reads |= space.parameters_of(compiled)
        relevant = [name for name in self.variables if name in reads]
        base = self.solver()
        for name, value in (at or {}).items():
            if name in self.variables:
                variable = self.variables[name]
                base.add(variable.term == self._constant(variable.kind, value,
                                                         space.choices.get(name, ())))
        if _check(base, z3) != z3.sat:
            raise ParamError("no point of the parameter space satisfies the constraints")
        nodes = self.term(systems[0].nodes)
        largest = max(_maximum(z3, base, nodes), 0)
        vacuous = None
        if query.kind == "intersect":
            vacuous = self._vacuous(base, systems, nodes, relevant)
        # One counterexample: the smallest (fewest nodes, then least parameter values), as a
        # trace is the shortest. All of them: block each point found, then sort.
        target = z3.Solver() if enumerate_all else z3.Optimize()
        target.add(*base.assertions())
        members = self._refutation(target, query, systems, nodes, largest)
        if not enumerate_all:
            target.minimize(nodes)
            for name in relevant:
                if self.variables[name].kind != "bool":
                    target.minimize(self.variables[name].term)
        counterexamples = []
        while len(counterexamples) < limit and _check(target, z3) == z3.sat:
            model = target.model()
            point = {name: self.decode(model, name) for name in relevant}
            witness = {**self.values, **{n: self.decode(model, n) for n in self.variables}}
            count = model.eval(nodes, model_completion=True).as_long()
            sets = {key: [i for i, member in enumerate(bits) if z3.is_true(
                model.eval(member, model_completion=True))] for key, bits in members.items()}
            if query.kind == "alive":
                sets["live"] = [i for i in range(count) if i not in sets["crashed"]]
            witness = {name: witness[name] for name in space.params}
            counterexamples.append(Counterexample(point, count, sets, witness))
            if not enumerate_all or not relevant:
                break
            target.add(z3.Or(*[self.variables[n].term != model.eval(
                self.variables[n].term, model_completion=True) for n in relevant]))
        counterexamples.sort(key=lambda c: [self._rank(n, v) for n, v in c.point.items()])
        points: int | None = 1
        if at is None:
            try:
                points = len({tuple(p[n] for n in relevant)
                              for p in self.points(DEFAULT_MAX_POINTS, relevant)})
            except TooManyPoints:
                points = None
        return QueryAnswer(query, counterexamples, relevant, points, vacuous,
                           time.perf_counter() - started)

    def _refutation(self, solver: Any, query: Query, systems: list[Quorum], nodes: Any,
                    largest: int) -> dict[str, list[Any]]:
        """Add to ``solver`` what a counterexample to ``query`` is; return the node-set
        variables to read it from."""
        z3 = self.z3
        tag = "_".join(query.systems)

        def node_set(label: str) -> list[Any]:
            bits = [z3.Bool(f"{tag}_{label}_{i}") for i in range(largest)]
            for i, bit in enumerate(bits):
                solver.add(z3.Implies(bit, nodes > i))
            return bits

        def cardinality(bits: list[Any]) -> Any:
            return z3.Sum([z3.If(bit, 1, 0) for bit in bits]) if bits else z3.IntVal(0)

        if query.kind == "alive":
            assert query.faults is not None
            crashed = node_set("crashed")
            faults = self.term(query.faults)
            crashes = self.ops.minimum([self.ops.maximum([faults, z3.IntVal(0)]), nodes])
            solver.add(cardinality(crashed) == crashes)
            solver.add(nodes - cardinality(crashed) < self.term(systems[0].size))
            return {"crashed": crashed}
        first, second = node_set("first"), node_set("second")
        solver.add(cardinality(first) == self.term(systems[0].size))
        solver.add(cardinality(second) == self.term(systems[-1].size))
        for a, b in zip(first, second, strict=True):
            solver.add(z3.Not(z3.And(a, b)))
        return {"first": first, "second": second}

    def _vacuous(self, solver: Any, systems: list[Quorum], nodes: Any,
                 relevant: list[str]) -> dict[str, Any] | None:
        """A point where some system has no quorum at all (size above the node count), where an
        intersection claim holds only vacuously; None if there is none."""
        z3 = self.z3
        solver.push()
        solver.add(z3.Or(*[self.term(q.size) > nodes for q in systems]))
        point = None
        if _check(solver, z3) == z3.sat:
            model = solver.model()
            point = {name: self.decode(model, name) for name in relevant}
        solver.pop()
        return point


def _check(solver: Any, z3: Any) -> Any:
    result = solver.check()
    if result == z3.unknown:
        raise CheckerError(f"Z3 could not decide a query: {solver.reason_unknown()}")
    return result


def _maximum(z3: Any, solver: Any, term: Any) -> int:
    """The largest value of ``term`` under the constraints of ``solver`` (bounded domains)."""
    optimizer = z3.Optimize()
    optimizer.add(*solver.assertions())
    handle = optimizer.maximize(term)
    if optimizer.check() != z3.sat:
        raise CheckerError("Z3 could not bound the node count")
    return optimizer.upper(handle).as_long()


def check_point(task: tuple[str, str | None, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Model-check one point; runs in a worker process, which rebuilds the model from its
    path and parameters. Returns the row of the sweep table."""
    from checker.cli import make_fingerprint
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model

    path, model_name, params, settings = task
    started = time.perf_counter()
    row: dict[str, Any] = {"params": params, "verdict": "error", "distinct_states": 0,
                           "depth": 0, "seconds": 0.0, "property": None, "error": None}
    try:
        model = build_model(path, params, model_name)
        fingerprint_fn, symmetry = make_fingerprint(model, settings.get("symmetry"))
        options = Options(max_depth=settings.get("max_depth"),
                          max_states=settings.get("max_states"),
                          time_limit=settings.get("time_limit"),
                          check_deadlock=settings.get("check_deadlock", True))
        result = drain(Explorer(model, options, fingerprint_fn, symmetry).run())
        row.update(verdict=result.verdict, distinct_states=result.distinct_states,
                   depth=result.depth, property=result.property, error=result.error,
                   symmetry=symmetry, incomplete_reason=result.incomplete_reason)
    except CheckerError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken point must not stop the sweep
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = round(time.perf_counter() - started, 4)
    return row


def sweep(path: str, model_name: str | None, points: list[dict[str, Any]],
          settings: dict[str, Any], workers: int) -> Iterator[dict[str, Any]]:
    """Model-check every point, in ``workers`` processes; yield rows in the order of
    ``points`` as they finish."""
    tasks = [(path, model_name, point, settings) for point in points]
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield check_point(task)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker, so nothing from this process (Z3's state, loaded
    # model modules) leaks into the runs; each worker rebuilds the model from its path.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        yield from pool.map(check_point, tasks)


def parser() -> argparse.ArgumentParser:
    """The options of ``params``."""
    from checker.cli import add_model_arguments, new_parser

    result = new_parser(
        "params",
        "Questions about a model's parameter space, answered by Z3: list the space and count "
        "its points, check quorum properties for every point at once, find the least or "
        "greatest value of a parameter, or model-check every point (--sweep).",
    )
    result.add_argument("model_path", metavar="MODEL.py")
    add_model_arguments(result)
    result.add_argument("--range", action="append", default=[], metavar="NAME=LO..HI",
                        help="bound an integer parameter (repeatable)")
    result.add_argument("--where", metavar="FORMULA",
                        help="only points where this formula holds")
    result.add_argument("--quorum", action="append", default=[], metavar="'NAME=SIZE of NODES'",
                        help="declare a threshold quorum system (repeatable)")
    result.add_argument("--max-points", type=_positive, default=DEFAULT_MAX_POINTS, metavar="N",
                        help=f"refuse to list more points (default {DEFAULT_MAX_POINTS:,})")
    result.add_argument("--points", action="store_true", help="list every point of the space")
    result.add_argument("--query", action="append", default=[], metavar="QUERY",
                        help="intersect:Q, intersect:Q1,Q2 or alive:Q,F (repeatable)")
    result.add_argument("--all", action="store_true",
                        help="with --query: list every point where a query fails")
    extreme = result.add_mutually_exclusive_group()
    extreme.add_argument("--least", metavar="NAME",
                         help="the least value of NAME for which the queries hold")
    extreme.add_argument("--greatest", metavar="NAME",
                         help="the greatest value of NAME for which the queries hold")
    result.add_argument("--sweep", action="store_true", help="model-check every point")
    result.add_argument("--workers", type=_positive, default=None, metavar="N",
                        help="sweep: worker processes (default: the number of CPUs)")
    result.add_argument("--max-states", type=_positive, metavar="N",
                        help="sweep: bound each run")
    result.add_argument("--max-depth", type=_positive, metavar="N")
    result.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="sweep: time limit of each run")
    result.add_argument("--no-deadlock", action="store_true",
                        help="sweep: do not report states without successors")
    symmetry = result.add_mutually_exclusive_group()
    symmetry.add_argument("--symmetry", dest="symmetry", action="store_true", default=None,
                          help="sweep: symmetry reduction (default where declared)")
    symmetry.add_argument("--no-symmetry", dest="symmetry", action="store_false")
    result.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return result


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_range(text: str, space: ParamSpace) -> tuple[str, tuple[int, int]]:
    name, sep, bounds = text.partition("=")
    low, dots, high = bounds.partition("..")
    name = name.strip()
    try:
        parsed = (int(low), int(high))
    except ValueError:
        parsed = None
    if not sep or not dots or parsed is None:
        raise ParamError(f"--range {text!r} is not of the form NAME=LO..HI (integers)")
    if name not in space.params:
        known = ", ".join(space.params) or "none"
        raise ParamError(f"--range {text!r}: unknown parameter {name!r}; the model declares: "
                         f"{known}")
    return name, parsed


def _parse_quorum(text: str, space: ParamSpace) -> tuple[str, Quorum]:
    name, sep, rest = text.partition("=")
    size, of, nodes = rest.rpartition(" of ")
    name = name.strip()
    if not sep or not of or not name.isidentifier():
        raise ParamError(f"--quorum {text!r} is not of the form 'NAME=SIZE of NODES'")
    try:
        declared = Quorum(space.check(size, "int"), space.check(nodes, "int"))
    except FormulaError as exc:
        raise ParamError(f"--quorum {text!r}: {exc}") from None
    return name, declared


def _usage(message: str) -> int:
    sys.stderr.write(f"python -m checker params: usage error: {message}\n")
    return EXIT_USAGE


def main(argv: list[str]) -> int:
    """Entry point of ``python -m checker params``; returns the exit code."""
    from checker.cli import model_params
    from checker.loader import load_model_class

    args = parser().parse_args(argv)
    sweep_only = [flag for flag, on in (
        ("--workers", args.workers is not None), ("--max-states", args.max_states is not None),
        ("--max-depth", args.max_depth is not None), ("--time-limit", args.time_limit is not None),
        ("--no-deadlock", args.no_deadlock), ("--symmetry", args.symmetry is not None),
    ) if on]
    extreme = args.least or args.greatest
    if sweep_only and not args.sweep:
        return _usage(f"{sweep_only[0]} applies to --sweep only")
    if args.sweep and extreme:
        return _usage("--sweep and --least/--greatest do not combine")
    if args.all and not args.query:
        return _usage("--all lists the points where a --query fails; give a --query")
    if args.points and (args.sweep or args.query or extreme):
        return _usage("--points lists the space; it does not combine with queries or sweeps")
    cls = load_model_class(args.model_path, args.model_name)
    space = space_of(cls)
    fixed = model_params(args)
    for name, value in fixed.items():
        if name not in space.params:
            known = ", ".join(space.params) or "none"
            raise ParamError(f"{space.model}: unknown parameter {name!r}; the model declares: "
                             f"{known}")
        fixed[name] = space.params[name].validate(value, space.model)
    extra = dict(_parse_quorum(text, space) for text in args.quorum)
    if extra:
        space = ParamSpace(space.model, space.params, space.assume, space.derived,
                           {**space.quorums, **extra}, space.types)
    ranges = dict(_parse_range(text, space) for text in args.range)
    where = None
    if args.where is not None:
        try:
            where = space.check(args.where, "bool")
        except FormulaError as exc:
            raise ParamError(f"--where: {exc}") from None
    queries = [parse_query(text, space) for text in args.query]
    held: frozenset[str] = frozenset()
    if extreme:
        if extreme not in space.params or space.types[extreme] != "int":
            raise ParamError(f"--{'least' if args.least else 'greatest'} {extreme}: not an "
                             f"integer parameter of {space.model}")
        held = frozenset(set(space.params) - {extreme} - set(fixed) - set(ranges))
    encoding = Encoding(space, fixed, ranges, where, held)
    context = _Context(args, cls, space, encoding, fixed, ranges, where)
    if args.sweep:
        return context.run_sweep(queries)
    if extreme:
        return context.run_extreme(extreme, bool(args.least), queries)
    if queries:
        return context.run_queries(queries)
    return context.run_listing()


@dataclass
class _Context:
    """One ``params`` command: the parsed options and the encoded space, and its outputs."""

    args: argparse.Namespace
    cls: type
    space: ParamSpace
    encoding: Encoding
    fixed: dict[str, Any]
    ranges: dict[str, tuple[int, int]]
    where: Formula | None

    def emit(self, human: list[str], data: dict[str, Any]) -> None:
        if self.args.json:
            base = {"model": self.space.model, "path": self.args.model_path,
                    "fixed": self.fixed, "ranges": {k: list(v) for k, v in self.ranges.items()},
                    "where": self.where.text if self.where else None}
            sys.stdout.write(json.dumps({**base, **data}, default=repr) + "\n")
        else:
            sys.stdout.write("\n".join(human) + "\n")

    def header(self) -> list[str]:
        lines = [f"model       {self.space.model} ({self.args.model_path})"]
        restrictions = [f"{k}={v!r}" for k, v in self.fixed.items()]
        restrictions += [f"{k} in {lo}..{hi}" for k, (lo, hi) in self.ranges.items()]
        if self.where is not None:
            restrictions.append(f"where {self.where.text}")
        if restrictions:
            lines.append(f"restricted  {', '.join(restrictions)}")
        return lines

    def too_many(self, exc: TooManyPoints) -> ParamError:
        return ParamError(
            f"{self.space.model}: the space has {exc}; narrow it with -p NAME=VALUE, "
            "--range NAME=LO..HI or --where FORMULA, or raise --max-points"
        )

    def run_listing(self) -> int:
        started = time.perf_counter()
        try:
            count = self.encoding.count(self.args.max_points)
            points = self.encoding.points(self.args.max_points) if self.args.points else None
        except TooManyPoints as exc:
            raise self.too_many(exc) from None
        seconds = time.perf_counter() - started
        described = describe_space(self.cls)
        described["quorums"] = {n: {"size": q.size.text, "nodes": q.nodes.text}
                                for n, q in self.space.quorums.items()}
        human = self.header() + _describe_lines(self.space)
        human.append(f"space       {count:,} point{'s' if count != 1 else ''} satisfy the "
                     f"constraints (Z3, {seconds:.2f} s)")
        data: dict[str, Any] = {"space": described, "count": count,
                                "seconds": round(seconds, 4)}
        if points is not None:
            names = list(self.space.params)
            human += [""] + _table([names] + [[_show(p[n]) for n in names] for p in points])
            data["points"] = points
        self.emit(human, data)
        return EXIT_OK

    def run_queries(self, queries: list[Query]) -> int:
        limit = self.args.max_points if self.args.all else 1
        answers = [self.encoding.refute(q, limit, enumerate_all=self.args.all) for q in queries]
        human = self.header()
        for answer in answers:
            human += _answer_lines(answer, self.args.all)
        data = {"queries": [_answer_data(answer) for answer in answers],
                "holds": all(a.holds for a in answers)}
        self.emit(human, data)
        return EXIT_OK if data["holds"] else EXIT_SAFETY

    def run_extreme(self, name: str, least: bool, queries: list[Query]) -> int:
        word = "least" if least else "greatest"
        started = time.perf_counter()
        candidates = self.encoding.extreme(name, least)
        if not candidates:
            raise ParamError("no point of the parameter space satisfies the constraints")
        tried: list[dict[str, Any]] = []
        found = None
        for value in candidates:
            failing = None
            for query in queries:
                answer = self.encoding.refute(query, 1, at={name: value})
                if not answer.holds:
                    failing = (query, answer.counterexamples[0])
                    break
            tried.append({"value": value, "holds": failing is None,
                          "query": failing[0].text if failing else None})
            if failing is None:
                found = value
                break
        seconds = time.perf_counter() - started
        held = {n: (self.space.params[n].describe_default()) for n in self.encoding.held}
        human = self.header()
        if held:
            human.append("held        " + ", ".join(
                f"{n}={held[n]}" for n in self.space.params if n in held))
        for query in queries:
            human.append(f"query       {query.text}: {query.describe()}")
        marks = ", ".join(f"{t['value']} {'holds' if t['holds'] else 'fails'}" for t in tried)
        human.append(f"tried       {marks}")
        if found is None:
            human.append(f"result      no value of {name} satisfies the queries "
                         f"(Z3, {seconds:.2f} s)")
        else:
            human.append(f"result      {word} {name} = {found} (Z3, {seconds:.2f} s)")
        data = {word: name, "value": found, "held": held, "tried": tried,
                "queries": [q.text for q in queries], "seconds": round(seconds, 4)}
        self.emit(human, data)
        return EXIT_OK if found is not None else EXIT_SAFETY

    def run_sweep(self, queries: list[Query]) -> int:
        args = self.args
        try:
            points = self.encoding.points(args.max_points)
        except TooManyPoints as exc:
            raise self.too_many(exc) from None
        if not points:
            raise ParamError("no point of the parameter space satisfies the constraints")
        names = list(self.space.params)
        varying = [n for n in names if len({repr(p[n]) for p in points}) > 1] or names
        # One Z3 call per query lists every failing point; each row looks its point up there.
        failing = {}
        for query in queries:
            answer = self.encoding.refute(query, len(points), enumerate_all=True)
            failing[query.text] = (answer.relevant, {
                tuple(c.point[n] for n in answer.relevant) for c in answer.counterexamples})
        verdicts = [
            {text: tuple(point[n] for n in names) not in failed
             for text, (names, failed) in failing.items()}
            for point in points
        ]
        settings = {"max_states": args.max_states, "max_depth": args.max_depth,
                    "time_limit": args.time_limit, "check_deadlock": not args.no_deadlock,
                    "symmetry": args.symmetry}
        workers = args.workers or os.cpu_count() or 1
        human = sys.stderr if args.json else sys.stdout
        head = varying + [q.text for q in queries] + ["verdict", "states", "seconds", "property"]
        widths = [max(len(h), 9) for h in head]
        if not args.json:
            for line in self.header():
                human.write(line + "\n")
            human.write(f"sweep       {len(points)} point{'s' if len(points) != 1 else ''}, "
                        f"{min(workers, len(points))} worker(s)\n\n")
        human.write(_row(head, widths) + "\n")
        human.flush()
        rows = []
        started = time.perf_counter()
        for row, holds in zip(sweep(args.model_path, args.model_name, points, settings, workers),
                              verdicts, strict=True):
            row["queries"] = holds
            rows.append(row)
            cells = [_show(row["params"][n]) for n in varying]
            cells += ["holds" if holds[q.text] else "fails" for q in queries]
            cells += [row["verdict"], f"{row['distinct_states']:,}", f"{row['seconds']:.2f}",
                      row["property"] or (row["error"] or "")[:60]]
            human.write(_row(cells, widths) + "\n")
            human.flush()
        seconds = time.perf_counter() - started
        tally: dict[str, int] = {}
        for row in rows:
            tally[row["verdict"]] = tally.get(row["verdict"], 0) + 1
        summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(tally.items()))
        if args.json:
            sys.stdout.write(json.dumps({
                "model": self.space.model, "path": args.model_path, "fixed": self.fixed,
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "where": self.where.text if self.where else None,
                "queries": [q.text for q in queries], "points": rows, "tally": tally,
                "seconds": round(seconds, 4),
            }, default=repr) + "\n")
        else:
            sys.stdout.write(f"\nresult      {summary} ({seconds:.2f} s)\n")
        if tally.get("violation"):
            return EXIT_SAFETY
        if tally.get("error"):
            return EXIT_ERROR
        if tally.get("incomplete"):
            return EXIT_INCOMPLETE
        return EXIT_OK


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + _row(row, widths) for row in rows]


def _describe_lines(space: ParamSpace) -> list[str]:
    rows = [["name", "domain", "default", "description"]]
    for name, declaration in space.params.items():
        rows.append([name, declaration.describe_domain(), declaration.describe_default(),
                     declaration.doc])
    lines = ["parameters"] + _table(rows, "  ")
    lines.append("constraints " + (", ".join(c.text for c in space.assume) or "none"))
    lines.append("derived     " + (", ".join(f"{n} = {f.text}" for n, f in space.derived.items())
                                   or "none"))
    lines.append("quorums     " + (", ".join(f"{n}: {q}" for n, q in space.quorums.items())
                                   or "none"))
    return lines


def _point(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in point.items()) or "every point"


def _answer_lines(answer: QueryAnswer, enumerate_all: bool) -> list[str]:
    query = answer.query
    lines = [f"query       {query.text}: {query.describe()}"]
    over = ", ".join(answer.relevant) or "no varying parameter"
    if answer.holds:
        covered = (f"all {answer.points:,} points" if answer.points is not None
                   else "every point")
        lines.append(f"result      holds at {covered} of ({over}) (Z3, {answer.seconds:.2f} s)")
    elif enumerate_all:
        lines.append(f"result      fails at {len(answer.counterexamples)} of "
                     f"{_of(answer.points)} points of ({over}) (Z3, {answer.seconds:.2f} s)")
        for example in answer.counterexamples:
            lines.append(f"  {_point(example.point)}: {example.describe(query)}")
    else:
        example = answer.counterexamples[0]
        lines.append(f"result      fails at {_point(example.point)} (Z3, {answer.seconds:.2f} s)")
        lines.append(f"            {example.describe(query)}")
    if answer.vacuous is not None:
        lines.append(f"note        at some points a quorum is larger than the node set and no "
                     f"quorum exists, e.g. {_point(answer.vacuous)}; there the claim holds "
                     "vacuously")
    return lines


def _of(points: int | None) -> str:
    return f"{points:,}" if points is not None else "more than " + f"{DEFAULT_MAX_POINTS:,}"


def _answer_data(answer: QueryAnswer) -> dict[str, Any]:
    return {
        "query": answer.query.text,
        "question": answer.query.describe(),
        "holds": answer.holds,
        "over": answer.relevant,
        "points": answer.points,
        "counterexamples": [
            {"point": example.point, "nodes": example.nodes, "sets": example.sets,
             "witness": example.witness}
            for example in answer.counterexamples
        ],
        "vacuous_at": answer.vacuous,
        "seconds": round(answer.seconds, 4),
    }
