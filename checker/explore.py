"""Breadth-first exploration of a model's reachable states.

:class:`Explorer` is a generator of events that never prints: it yields :class:`Progress`
records while it runs and returns a :class:`Result`. Reporting, traces and statistics are built
on top. The search is deterministic: states are expanded level by level, actions in declaration
order, arguments in domain order, so two runs give the same counts and the same trace.

The seen set holds a 64-bit fingerprint per distinct state (of the canonical form when symmetry
is on) with its parent's fingerprint and the ordinal of the transition that reached it.
States themselves are kept only for the current and the next level; a trace is rebuilt by
re-executing the recorded ordinals from an initial state (see :mod:`checker.trace`).
"""

from __future__ import annotations

import ast
import builtins
import gc
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from types import CodeType, FunctionType, GeneratorType
from typing import Any

from checker.fingerprint import collision_probability, fingerprint, offer_successors
from checker.inline import inline_body
from checker.model import (
    ACTION_INVARIANT,
    CONSTRAINT,
    INVARIANT,
    SOMETIMES,
    ActionSpec,
    Model,
    Property,
    iterate_results,
)
from checker.store import NEW_ONLY, new_store
from checker.trace import Step, Trace, rebuild_path, step_for

__all__ = [
    "Explorer", "Options", "Progress", "Result", "check", "drain", "expander", "start",
    "successors",
]

OK = "ok"
VIOLATION = "violation"
INCOMPLETE = "incomplete"
ERROR = "error"
DEADLOCK = "deadlock"


@dataclass
class Options:
    """Bounds and switches of one search."""

    max_depth: int | None = None
    max_states: int | None = None
    time_limit: float | None = None
    check_deadlock: bool = True
    invariants: list[str] | None = None
    progress_interval: float = 2.0


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running search."""

    depth: int
    distinct_states: int
    queue: int
    transitions: int
    seconds: float


@dataclass
class Result:
    """The outcome of a search, with the figures every report shows."""

    verdict: str
    model: str
    params: dict[str, Any]
    distinct_states: int
    transitions: int
    depth: int
    seconds: float
    property: str | None = None
    property_kind: str | None = None
    trace: Trace | None = None
    error: str | None = None
    symmetry: bool = False
    incomplete_reason: str | None = None
    properties: list[tuple[str, str]] = field(default_factory=list)
    worker_memory_bytes: int = 0
    """Peak resident memory of a parallel search's worker processes, added together."""

    @builtins.property
    def states_per_second(self) -> float:
        """Distinct states found per second of search."""
        return self.distinct_states / self.seconds if self.seconds > 0 else 0.0

    @builtins.property
    def collision_probability(self) -> float:
        """Odds that a fingerprint collision hid a state in this run."""
        return collision_probability(self.distinct_states, self.transitions)


class ModelRaised(Exception):
    """Model code raised while computing successors or evaluating a property."""

    def __init__(self, label: str, original: BaseException) -> None:
        super().__init__(label)
        self.label = label
        self.original = original


def successors(state: Any, actions: list[ActionSpec]) -> Iterator[tuple[ActionSpec, tuple, Any]]:
    """Every transition out of ``state`` in the explorer's fixed order.

    The plain search, the parallel workers and trace reconstruction all enumerate transitions
    through this function, so a recorded ordinal always names the same transition.
    """
    for spec in actions:
        step = spec.step
        for args in spec.arguments(state):
            try:
                result = step(state, *args)
                produced = iterate_results(result)
                for successor in produced:
                    yield spec, args, successor
            except ModelRaised:
                raise
            except Exception as exc:
                raise ModelRaised(spec.describe(args), exc) from exc


def _appended(value: str, indent: str) -> list[str]:
    """Statements appending the successors an action gave: ``value`` is its result.

    A result of the class of the state being expanded (``_xS``), the common case, is
    appended after one test; then come None, lists and generators, and other classes."""
    return [f"{indent}_xr = {value}",
            f"{indent}if _xtype(_xr) is _xS:",
            f"{indent}    _xappend(_xr)",
            f"{indent}elif _xr is not None:",
            f"{indent}    _xt = _xtype(_xr)",
            f"{indent}    if _xt is _xlist or _xt is _xGen:",
            f"{indent}        for _xy in _xr:",
            f"{indent}            if _xy is not None:",
            f"{indent}                _xappend(_xy)",
            f"{indent}    else:",
            f"{indent}        _xappend(_xr)"]


def _emitted(value: ast.expr) -> list[ast.stmt]:
    """:func:`_appended` for a returned expression, as syntax trees."""
    statements = ast.parse("\n".join(_appended("None", ""))).body
    statements[0].value = value  # type: ignore[attr-defined]
    return statements


def expander(actions: list[ActionSpec], inline: bool = True) -> Callable[[Any], list[Any]]:
    """A function returning the successor states of a state, in :func:`successors` order.

    This is the search's hot path: the function is generated with one loop per action and its
    arguments unpacked, because calling an action with ``*args`` costs more than the call.
    With ``inline``, the bodies of simple actions are pasted into their loops
    (:mod:`checker.inline`), which saves the call itself: most calls find the action disabled.
    It gives no labels; when it raises, re-run :func:`successors` to find the failing step.
    """
    bound: dict[str, Any] = {"_xGen": GeneratorType, "_xtype": type, "_xlist": list}
    namespace: dict[str, Any] | None = None
    lines = ["def _xexpand(_xs):", "    _xout = []", "    _xappend = _xout.append",
             "    _xS = _xtype(_xs)",
             "    if _xS is _xlist or _xS is _xGen:",  # never states: results to unpack
             "        _xS = None"]
    for i, spec in enumerate(actions):
        names = [f"_xa{k}" for k in range(len(spec.domains))]
        unpacked = ", ".join(names)
        if not spec.domains:
            loop = "if True:"
        elif spec.static_args is not None:
            bound[f"_xargs{i}"] = spec.static_args
            loop = f"for {unpacked}, in _xargs{i}:"
        elif len(spec.domains) == 1:
            bound[f"_xdomain{i}"] = spec.domains[0]
            loop = f"for _xa0 in _xdomain{i}(_xs):"
        else:
            bound[f"_xspec{i}"] = spec
            loop = f"for {unpacked}, in _xspec{i}.arguments(_xs):"
        body = inline_body(spec.step, "_xs", names, f"_xself{i}", str(i), _emitted,
                           hoist=bool(spec.domains and spec.static_args)) if inline else None
        if body is not None and namespace not in (None, body.globals):
            body = None  # the expander runs over one module's globals
        if body is not None:
            namespace = body.globals
            bound[f"_xself{i}"] = spec.step.__self__
            indent = "        "
            if body.hoisted is not None:  # tested once, not once per argument
                lines.append(f"    if {body.hoisted}:")
                loop, indent = f"    {loop}", indent + "    "
            lines += [f"    {loop}"] + [f"{indent}{line}" for line in body.lines]
        else:
            bound[f"_xstep{i}"] = spec.step
            lines += [f"    {loop}"] + _appended(f"_xstep{i}({', '.join(['_xs', *names])})",
                                                 " " * 8)
    lines.append("    return _xout")
    source = "\n".join(["def _xmake(" + ", ".join(bound) + "):"]
                       + [f"    {line}" for line in lines] + ["    return _xexpand"])
    code = compile(source, "<checker expander>", "exec")
    make = next(c for c in code.co_consts if isinstance(c, CodeType))
    if namespace is None:
        namespace = {"__builtins__": builtins}
    return FunctionType(make, namespace)(**bound)


def replayed(state: Any, actions: list[ActionSpec], original: BaseException) -> Iterator[Any]:
    """The successors of ``state`` one by one, for a state whose :func:`expander` raised.

    Re-running the enumeration raises the model's exception again at the failing step, with
    its label, after the successors before it; should it not raise again, ``original`` is
    reported as it is.
    """
    for _, _, successor in successors(state, actions):
        yield successor
    raise ModelRaised("an action (it did not raise when run again)", original)


YOUNG_OBJECTS = 100_000
"""Allocations between collections of the youngest generation while a search runs."""

MIDDLE_COLLECTIONS = 100
"""Collections of the youngest generation between collections of the middle one while a
search runs: each middle collection walks every state of the level that survived (two-phase
commit with 8 RMs: 0.5-1.9 s of about 25 s at the default of 10)."""


@contextmanager
def few_collections() -> Iterator[None]:
    """Collect reference cycles less often while searching, then restore the thresholds.

    A search allocates millions of short-lived records and maps that reference counting frees;
    with the default threshold of 700 the cycle collector runs every few states and costs
    about a fifth of the time (two-phase commit with 7 RMs: 6.9 s of CPU against 5.7 s).
    Cycles are still collected, just in bigger batches.
    """
    thresholds = collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def collect_less() -> tuple[int, int, int]:
    """Let YOUNG_OBJECTS allocations pass between collections of the youngest generation and
    MIDDLE_COLLECTIONS of those between collections of the middle one; return the old
    thresholds."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_OBJECTS), max(thresholds[1], MIDDLE_COLLECTIONS),
                     thresholds[2])
    return thresholds


def describe_exception(exc: BaseException, model_file: str | None) -> str:
    """``Type: message`` plus the model file's line where it was raised, when known."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if model_file is None or frame.filename == model_file:
            where = f" ({frame.filename}, line {frame.lineno})"
            break
    return f"{type(exc).__name__}: {exc}{where}"


class Explorer:
    """Breadth-first search over a model; iterate :meth:`run` for events."""

    def __init__(
        self,
        model: Model,
        options: Options | None = None,
        fingerprint_fn: Callable[[Any], int] | None = None,
        symmetry: bool = False,
    ) -> None:
        self.model = model
        self.options = options or Options()
        self.fingerprint = fingerprint_fn or fingerprint
        self.symmetry = symmetry
        self.actions = model.actions()
        self.expand = expander(self.actions)
        properties = model.properties()
        selected = self.options.invariants
        self.invariants = [p for p in properties if p.kind == INVARIANT]
        if selected is not None:
            self.invariants = [p for p in self.invariants if p.name in selected]
        self.sometimes = [p for p in properties if p.kind == SOMETIMES]
        self.action_invariants = [p for p in properties if p.kind == ACTION_INVARIANT]
        self.constraints = [p for p in properties if p.kind == CONSTRAINT]
        self.check_deadlock = self.options.check_deadlock and model.deadlock
        self.store = new_store()
        self.model_file = getattr(type(model), "__checker_file__", None)
        self.hand_over: Any = None
        """Set by the parallel search (:class:`checker.parallel.WarmUp`): asked at each new
        level whether to pass the search on to worker processes."""

    def _result(self, verdict: str, started: float, depth: int, transitions: int, **extra: Any):
        trace = extra.get("trace")
        if trace is not None and trace.steps:
            depth = max(depth, len([s for s in trace.steps if s.state is not None]) - 1)
        return Result(
            verdict=verdict,
            model=self.model.name,
            params=dict(self.model.params),
            distinct_states=len(self.store),
            transitions=transitions,
            depth=depth,
            seconds=time.perf_counter() - started,
            symmetry=self.symmetry,
            properties=[(p.name, p.kind) for p in self._all_properties()],
            **extra,
        )

    def _all_properties(self) -> list[Property]:
        return self.invariants + self.action_invariants + self.sometimes

    def trace_to(self, code: int, extra: Step | None = None) -> Trace:
        """The shortest path from an initial state to the state with fingerprint ``code``."""
        path = self.store.path_to(code)
        steps = rebuild_path(self.model, self.actions, self.fingerprint, path, successors)
        if extra is not None:
            steps.append(extra)
        return Trace(self.model.name, dict(self.model.params), steps)

    def run(self) -> Generator[Progress, None, Result]:
        """Search breadth-first, yielding progress; return the result."""
        with few_collections():
            return (yield from self._search())

    def _search(self) -> Generator[Progress, None, Result]:
        started = time.perf_counter()
        options = self.options
        store = self.store
        offer, set_parent, table_full = store.offer, store.set_parent, store.table_full
        fingerprint = self.fingerprint
        invariants = self.invariants
        action_invariants = self.action_invariants
        constraints = self.constraints
        pending = list(self.sometimes)
        max_depth = options.max_depth
        max_states = options.max_states
        deadline = started + options.time_limit if options.time_limit is not None else None
        next_report = started + options.progress_interval
        transitions = 0
        depth = 0
        truncated: str | None = None
        stopped: str | None = None

        def violated(prop: Property, number: int, kind: str | None = None, extra=None) -> Result:
            return self._result(
                VIOLATION, started, depth, transitions, property=prop.name if prop else DEADLOCK,
                property_kind=kind or prop.kind, trace=self.trace_to(number, extra),
            )

        def raised(exc: ModelRaised, number: int, during: str | None) -> Result:
            label = during or exc.label
            message = describe_exception(exc.original, self.model_file)
            extra = Step(label, None, error=message) if during is None else None
            return self._result(
                ERROR, started, depth, transitions, trace=self.trace_to(number, extra),
                error=f"{label}: {message}",
            )

        def check_new(state: Any, number: int, moves: int) -> Result | None:
            """Check a new state; ``moves`` is the transition count as of its discovery."""
            nonlocal transitions
            for prop in invariants:
                try:
                    holds = prop.check(state)
                except Exception as exc:
                    transitions = moves
                    return raised(ModelRaised(prop.name, exc), number, f"invariant {prop.name}")
                if not holds:
                    transitions = moves
                    return violated(prop, number)
            for prop in list(pending):
                try:
                    reached = prop.check(state)
                except Exception as exc:
                    transitions = moves
                    return raised(ModelRaised(prop.name, exc), number, f"sometimes {prop.name}")
                if reached:
                    pending.remove(prop)
            return None

        try:
            initial = self.model.initial_states()
        except Exception as exc:
            message = describe_exception(exc, self.model_file)
            return self._result(ERROR, started, 0, 0, error=f"init: {message}",
                                trace=Trace(self.model.name, dict(self.model.params), []))
        # States are known by their fingerprints: ``number`` below is one.
        frontier: list[tuple[Any, int]] = []
        for ordinal, state in enumerate(initial):
            number = fingerprint(state)
            if not store.add(number, None, ordinal):
                continue
            outcome = check_new(state, number, 0)
            if outcome is not None:
                return outcome
            frontier.append((state, number))

        while frontier:
            next_frontier: list[tuple[Any, int]] = []
            for state, number in frontier:
                if constraints and not all(c.check(state) for c in constraints):
                    continue
                if max_depth is not None and depth >= max_depth:
                    truncated = truncated or f"max depth {max_depth} reached"
                    continue
                if len(store) > store.grow_at:
                    store.grow()
                    offer, set_parent = store.offer, store.set_parent
                ordinal = 0
                produced = self.produce(state)
                if type(produced) is list and not action_invariants:
                    # The common case, with the loop over successors that are not new in C.
                    while True:
                        try:
                            hit = offer_successors(produced, state, number, offer, ordinal,
                                                   NEW_ONLY, table_full, fingerprint)
                        except Exception as exc:
                            ordinal = self._unfingerprintable(produced, state, ordinal)
                            transitions += ordinal
                            label = self.describe_transition(state, ordinal)
                            return raised(ModelRaised(label, exc), number, None)
                        if hit is None:
                            break
                        ordinal, code = hit
                        if code is None:
                            store.grow()
                            offer, set_parent = store.offer, store.set_parent
                            continue
                        successor = produced[ordinal]
                        ordinal += 1
                        set_parent(code, number)
                        outcome = check_new(successor, code, transitions + ordinal)
                        if outcome is not None:
                            return outcome
                        next_frontier.append((successor, code))
                    ordinal = len(produced)
                    produced = ()
                try:
                    for successor in produced:
                        if action_invariants:
                            broken = self._broken_action_invariant(state, successor)
                            if broken is not None:
                                return self._violated_transition(
                                    broken, number, ordinal, started, depth,
                                    transitions + ordinal + 1,
                                )
                        # A step that leaves the state as it is returns the state itself.
                        code = number if successor is state else fingerprint(successor)
                        try:
                            fresh = offer(code, ordinal, NEW_ONLY)
                        except table_full:
                            store.grow()
                            offer, set_parent = store.offer, store.set_parent
                            fresh = offer(code, ordinal, NEW_ONLY)
                        ordinal += 1
                        if fresh != 1:
                            continue
                        set_parent(code, number)
                        outcome = check_new(successor, code, transitions + ordinal)
                        if outcome is not None:
                            return outcome
                        next_frontier.append((successor, code))
                except Exception as exc:
                    transitions += ordinal
                    if not isinstance(exc, ModelRaised):
                        exc = ModelRaised(self.describe_transition(state, ordinal), exc)
                    return raised(exc, number, None)
                transitions += ordinal
                if ordinal == 0 and self.check_deadlock and not self.model.final(state):
                    return self._result(
                        VIOLATION, started, depth, transitions, property=DEADLOCK,
                        property_kind=DEADLOCK, trace=self.trace_to(number),
                    )
                if max_states is not None and len(store) >= max_states:
                    truncated = stopped = f"max states {max_states} reached"
                    break
                now = time.perf_counter()
                if now >= next_report:
                    next_report = now + options.progress_interval
                    yield Progress(depth, len(store), len(frontier) + len(next_frontier),
                                   transitions, now - started)
                    short = memory_short(len(store), store.bytes_per_state())
                    if short:
                        truncated = stopped = short
                        break
                if deadline is not None and now >= deadline:
                    truncated = stopped = f"time limit {options.time_limit:g} s reached"
                    break
            if stopped:
                break
            frontier = next_frontier
            if frontier:
                depth += 1
                if self.hand_over is not None and self.hand_over.wanted(started, len(frontier)):
                    return (yield from self.hand_over.take(
                        self, store.table, frontier, depth, transitions,
                        {p.name for p in pending}, started))
        if truncated:
            return self._result(INCOMPLETE, started, depth, transitions,
                                incomplete_reason=truncated)
        if pending:
            return self._result(VIOLATION, started, depth, transitions,
                                property=pending[0].name, property_kind=SOMETIMES)
        return self._result(OK, started, depth, transitions)

    def produce(self, state: Any) -> list[Any] | Iterator[Any]:
        """The successors of ``state``: the expander's list or, when the model raised, a
        re-run of the enumeration that raises again with the failing step's label."""
        try:
            return self.expand(state)
        except Exception as exc:
            return replayed(state, self.actions, exc)

    def _unfingerprintable(self, produced: list[Any], state: Any, start: int) -> int:
        """The position of the first successor from ``start`` whose fingerprint raises."""
        for position in range(start, len(produced)):
            if produced[position] is not state:
                try:
                    self.fingerprint(produced[position])
                except Exception:
                    return position
        return start

    def describe_transition(self, state: Any, ordinal: int) -> str:
        """The label of transition ``ordinal`` out of ``state`` (for error messages)."""
        for spec, args, _ in islice(successors(state, self.actions), ordinal, None):
            return spec.describe(args)
        return "?"

    def _broken_action_invariant(self, state: Any, successor: Any) -> Property | None:
        for prop in self.action_invariants:
            try:
                holds = prop.check(state, successor)
            except Exception as exc:
                raise ModelRaised(f"action invariant {prop.name}", exc) from exc
            if not holds:
                return prop
        return None

    def _violated_transition(
        self, prop: Property, number: int, ordinal: int, started: float, depth: int,
        transitions: int,
    ) -> Result:
        """An action invariant failed on transition ``ordinal`` out of state ``number``."""
        trace = self.trace_to(number)
        state = trace.steps[-1].state
        spec, args, successor = next(islice(successors(state, self.actions), ordinal, None))
        trace.steps.append(step_for(spec, args, state, successor))
        return self._result(VIOLATION, started, depth, transitions, property=prop.name,
                            property_kind=prop.kind, trace=trace)


def memory_short(distinct_states: int, bytes_per_state: float,
                 meminfo: str = "/proc/meminfo") -> str | None:
    """A message when the machine's available memory is nearly gone, else None.

    The search stops with it (verdict incomplete) before the operating system kills the
    process; the figures say how far it got and what to bound. Linux only: elsewhere None.
    """
    try:
        with open(meminfo) as info:
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in info}
    except (OSError, ValueError, IndexError):
        return None
    available, total = fields.get("MemAvailable"), fields.get("MemTotal")
    if available is None or total is None or available > max(total // 20, 256 << 20):
        return None
    return (f"memory running short ({available >> 20:,} MiB of {total >> 20:,} MiB left) "
            f"after {distinct_states:,} distinct states ({bytes_per_state:.0f} bytes per state "
            "in the seen set, plus the states of two levels); bound the model with smaller "
            "parameters or a constraint, or use --max-states")


def start(
    model: Model,
    options: Options,
    fingerprint_fn: Callable[[Any], int] | None = None,
    symmetry: bool = False,
    workers: int | None = 1,
) -> tuple[Generator[Progress, None, Result], str | None]:
    """The search for ``workers`` processes, and a note when it has to fall back to one.

    ``None`` asks for the default (see :func:`default_workers`): a small model is searched in
    this process, as with one worker, and the workers start once the search proves big enough.
    """
    if workers is None:
        workers = default_workers(model, options)
        if workers > 1:
            from checker import parallel

            return parallel.explore(model, options, workers, symmetry, parallel.WarmUp()), None
        return Explorer(model, options, fingerprint_fn, symmetry).run(), None
    if workers > 1:
        from checker import parallel

        if parallel.available():
            return parallel.explore(model, options, workers, symmetry), None
        note = ("the compiled extension checker._table is missing (reinstall with a C "
                "compiler); searching with 1 worker")
        return Explorer(model, options, fingerprint_fn, symmetry).run(), note
    return Explorer(model, options, fingerprint_fn, symmetry).run(), None


def default_workers(model: Model, options: Options) -> int:
    """The workers a search gets without ``--workers``: one per core, where the parallel
    search can run (a model from a file, the compiled table). A search bounded by
    ``max_states`` gets one: the plain search stops right after the state that reaches the
    bound, the parallel one at the end of its level."""
    workers = cores()
    if (workers < 2 or options.max_states is not None
            or getattr(type(model), "__checker_file__", None) is None):
        return 1
    from checker import parallel

    return workers if parallel.available() else 1


def cores() -> int:
    """The processor cores this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def drain(
    search: Generator[Progress, None, Result],
    on_progress: Callable[[Progress], None] | None = None,
) -> Result:
    """Run a search to its end, passing each progress event to ``on_progress``."""
    while True:
        try:
            event = next(search)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)


def check(model: Model, options: Options | None = None, **kwargs: Any) -> Result:
    """Run a whole search and return its result (progress events are dropped)."""
    return drain(Explorer(model, options, **kwargs).run())
