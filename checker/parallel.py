"""Multi-core search: worker processes sharing one lock-free fingerprint table.

The search is level-synchronous breadth-first search, so its results equal those of the plain
search (:mod:`checker.explore`): the same distinct states, transitions, depth, verdict and the
same shortest counterexample.

How a level goes:

1. Each worker expands its part of the current level. It offers every successor's fingerprint
   to the shared table (:mod:`checker._table`) with a key ``(level, rank of parent, ordinal)``
   packed in 64 bits; the table keeps the smallest key offered for a fingerprint, which is the
   transition through which the plain search would have found the state first. States seen in
   earlier levels are rejected at once, so no state crosses a process boundary.
2. At the barrier each worker keeps the candidates whose key won: they are the next level's
   states it will expand. It records their parents, checks their invariants, and sends the
   coordinator only their keys.
3. The coordinator merges the sorted keys into global ranks (the plain search's order) and
   picks the earliest event of the level (a broken property, a deadlock, an exception) by key,
   which is exactly where the plain search would have stopped; counts at that point are
   rebuilt from the keys.

The model is rebuilt in each worker from its file and parameters (processes are spawned, not
forked), so the same engine can later run on other machines.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from array import array
from collections.abc import Generator
from dataclasses import dataclass
from itertools import chain, islice
from multiprocessing.shared_memory import SharedMemory
from typing import Any

from checker.errors import CheckerError, InvalidInput
from checker.explore import (
    DEADLOCK,
    ERROR,
    INCOMPLETE,
    OK,
    VIOLATION,
    Explorer,
    ModelRaised,
    Options,
    Progress,
    Result,
    collect_less,
    describe_exception,
    memory_short,
    successors,
)
from checker.model import ACTION_INVARIANT, Model
from checker.trace import Step, step_for

__all__ = ["available", "explore"]

LEVEL_SHIFT = 54
RANK_SHIFT = 16
ORDINAL_LIMIT = 1 << RANK_SHIFT
RANK_LIMIT = 1 << (LEVEL_SHIFT - RANK_SHIFT)
INITIAL_CAPACITY = 1 << 16
AFTER_ALL = ORDINAL_LIMIT - 1

# Kinds of event, in the order the plain search meets them at one transition.
TRANSITION_EVENT = 0
STATE_EVENT = 1


def available() -> bool:
    """Whether the compiled shared table exists (it is needed for more than one worker)."""
    try:
        from checker import _table  # noqa: F401
    except ImportError:
        return False
    return True


def pack(level: int, rank: int, ordinal: int) -> int:
    """The 64-bit key of a transition: smaller keys come first in breadth-first order."""
    return (level << LEVEL_SHIFT) | (rank << RANK_SHIFT) | ordinal


@dataclass(frozen=True, order=True)
class Event:
    """Something that ends the search, ordered as the plain search would meet it."""

    rank: int
    ordinal: int
    kind: int
    what: str = ""
    fingerprint: int = 0
    detail: str = ""


class _Shared:
    """The fingerprint table in shared memory, grown by rehashing between levels."""

    def __init__(self, capacity: int) -> None:
        from checker import _table

        self._table_module = _table
        self.memory = SharedMemory(create=True, size=_table.required_bytes(capacity))
        self.capacity = capacity
        self.table = _table.Table(self.memory.buf, capacity)

    def grow(self) -> None:
        bigger = _Shared(self.capacity * 4)
        self._table_module.rehash(self.table, bigger.table)
        self.close()
        self.memory, self.capacity, self.table = bigger.memory, bigger.capacity, bigger.table

    def close(self) -> None:
        self.table.close()
        self.memory.close()
        self.memory.unlink()


def _worker(index: int, source: tuple[str, dict[str, Any], str, bool], options: Options,
            conn: Any) -> None:
    """A worker process: expand states on request, report keys and events."""
    from checker import _table
    from checker.cli import make_fingerprint
    from checker.loader import build_model

    path, params, name, symmetry = source
    collect_less()
    model = build_model(path, params, name)
    fingerprint = make_fingerprint(model, symmetry)[0]
    explorer = Explorer(model, options, fingerprint, symmetry)
    fingerprint = explorer.fingerprint
    attached: tuple[str, Any, Any] | None = None
    frontier: list[tuple[Any, int, int]] = []
    candidates: dict[int, tuple[Any, int, int]] = {}
    won: list[tuple[int, int, Any]] = []
    degrees: dict[int, int] = {}
    while True:
        message = conn.recv()
        command = message[0]
        if command == "stop":
            break
        if command == "attach":
            _, memory_name, capacity = message
            _detach(attached)
            memory = SharedMemory(name=memory_name)
            attached = (memory_name, memory, _table.Table(memory.buf, capacity))
            conn.send(("attached",))
        elif command == "seed":
            frontier = message[1]
            conn.send(("seeded",))
        elif command == "expand":
            _, level, retry = message
            candidates = {}
            degrees = {}
            try:
                event = _expand(explorer, fingerprint, attached[2], frontier, level, candidates,
                                degrees, retry)
            except _table.TableFull:
                conn.send(("full",))
                continue
            conn.send(("expanded", event, sum(degrees.values())))
        elif command == "settle":
            table = attached[2]
            won = []
            for code, (state, key, parent) in candidates.items():
                if table.key(code) == key:
                    table.set_parent(code, parent)
                    won.append((key, code, state))
            won.sort()
            candidates = {}
            event, reached = _check_new(explorer, won)
            keys = array("Q", (key for key, _, _ in won))
            conn.send(("settled", keys.tobytes(), event, reached))
        elif command == "ranks":
            ranks = array("Q")
            ranks.frombytes(message[1])
            frontier = [(state, rank, code) for (_, code, state), rank in zip(won, ranks)]
            won = []
            conn.send(("ranked",))
        elif command == "ship":
            parcels = {}
            for target, count in message[1]:
                parcels[target] = pickle.dumps(frontier[-count:], pickle.HIGHEST_PROTOCOL)
                del frontier[-count:]
            conn.send(("shipped", parcels))
        elif command == "receive":
            for parcel in message[1]:
                frontier.extend(pickle.loads(parcel))
            frontier.sort(key=lambda entry: entry[1])
            conn.send(("received",))
        elif command == "count":
            _, limit, inclusive, below_rank = message
            keys = [key for key, _, _ in won]
            new = sum(1 for key in keys if key < limit or (inclusive and key == limit))
            moves = sum(d for rank, d in degrees.items() if rank < below_rank)
            conn.send(("counted", new, moves))
    _detach(attached)
    conn.close()


def _detach(attached: tuple[str, Any, Any] | None) -> None:
    """Let go of a shared table (the table first: it holds the memory's buffer)."""
    if attached is not None:
        attached[2].close()
        attached[1].close()


def _expand(explorer: Explorer, fingerprint: Any, table: Any, frontier: list, level: int,
            candidates: dict, degrees: dict, retry: bool) -> Event | None:
    """Expand this worker's states of ``level``; offer successors; return the first event.

    On a retry after the table grew, this worker's own earlier offers are in the table with
    the same keys, so a tie with the stored key also makes a candidate.
    """
    from checker._table import TableFull

    action_invariants = explorer.action_invariants
    constraints = explorer.constraints
    model = explorer.model
    base = (level + 1) << LEVEL_SHIFT
    offer = table.offer
    first: Event | None = None
    for state, rank, parent in frontier:
        if first is not None and rank > first.rank:
            break
        if constraints and not all(c.check(state) for c in constraints):
            continue
        prefix = base | (rank << RANK_SHIFT)
        ordinal = 0
        produced = explorer.produce(state)
        try:
            for successor in produced:
                if action_invariants:
                    broken = explorer._broken_action_invariant(state, successor)
                    if broken is not None:
                        event = Event(rank, ordinal, TRANSITION_EVENT, broken.name, parent)
                        degrees[rank] = ordinal
                        return min(filter(None, (first, event)))
                code = parent if successor is state else fingerprint(successor)
                key = prefix | ordinal
                ordinal += 1
                outcome = offer(code, key, base)
                if outcome == 1 or (retry and outcome == 2 and table.key(code) == key):
                    candidates[code] = (successor, key, parent)
        except TableFull:
            raise
        except Exception as exc:
            original = exc.original if isinstance(exc, ModelRaised) else exc
            label = (exc.label if isinstance(exc, ModelRaised)
                     else explorer.describe_transition(state, ordinal))
            message = describe_exception(original, explorer.model_file)
            degrees[rank] = ordinal
            event = Event(rank, ordinal, TRANSITION_EVENT, ERROR, parent, f"{label}\n{message}")
            return min(filter(None, (first, event)))
        if ordinal >= ORDINAL_LIMIT:
            raise InvalidInput(f"a state has {ordinal} successors; at most {AFTER_ALL} are "
                               "supported by the parallel search (use --workers 1)")
        degrees[rank] = ordinal
        if ordinal == 0 and first is None and explorer.check_deadlock and not model.final(state):
            first = Event(rank, AFTER_ALL, STATE_EVENT, DEADLOCK, parent)
    return first


def _check_new(explorer: Explorer, won: list[tuple[int, int, Any]]) -> tuple[Event | None, list]:
    """Check invariants on this worker's new states; return the first violation and the
    sometimes properties reached."""
    reached = []
    pending = list(explorer.sometimes)
    for key, code, state in won:
        rank = (key >> RANK_SHIFT) & (RANK_LIMIT - 1)
        ordinal = key & (ORDINAL_LIMIT - 1)
        for prop in explorer.invariants:
            try:
                holds = prop.check(state)
            except Exception as exc:
                message = describe_exception(exc, explorer.model_file)
                return Event(rank, ordinal, STATE_EVENT, ERROR, code,
                             f"invariant {prop.name}\n{message}"), reached
            if not holds:
                return Event(rank, ordinal, STATE_EVENT, prop.name, code), reached
        for prop in list(pending):
            try:
                hit = prop.check(state)
            except Exception as exc:
                message = describe_exception(exc, explorer.model_file)
                return Event(rank, ordinal, STATE_EVENT, ERROR, code,
                             f"sometimes {prop.name}\n{message}"), reached
            if hit:
                pending.remove(prop)
                reached.append(prop.name)
    return None, reached


class _TablePaths:
    """Gives :meth:`Explorer.trace_to` the paths it needs, read from the shared table."""

    def __init__(self, shared: _Shared, distinct: int) -> None:
        self.shared = shared
        self.distinct = distinct

    def __len__(self) -> int:
        return self.distinct

    def path_to(self, code: int) -> list[tuple[int, int]]:
        table = self.shared.table
        path = []
        while code:
            path.append((table.key(code) & (ORDINAL_LIMIT - 1), code))
            code = table.parent(code)
        path.reverse()
        return path


def explore(model: Model, options: Options, workers: int,
            symmetry: bool) -> Generator[Progress, None, Result]:
    """Search ``model`` with ``workers`` processes; yields progress, returns the result."""
    from checker import _table
    from checker.cli import make_fingerprint

    path = getattr(type(model), "__checker_file__", None)
    if path is None:
        raise InvalidInput("parallel search needs a model loaded from a file")
    source = (path, dict(model.params), type(model).__name__, symmetry)
    explorer = Explorer(model, options, make_fingerprint(model, symmetry)[0], symmetry)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for index in range(workers):
        mine, theirs = context.Pipe()
        process = context.Process(target=_worker, args=(index, source, options, theirs),
                                  daemon=True)
        process.start()
        theirs.close()  # so that a worker's death reads as EOF here, not as a hang
        pipes.append(mine)
        processes.append(process)
    shared = _Shared(INITIAL_CAPACITY)
    try:
        return (yield from _coordinate(explorer, shared, pipes, started, _table))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        codes = [process.exitcode for process in processes]
        raise CheckerError(f"a worker process died (exit codes {codes}); its error is "
                           "printed above; rerun with --workers 1 to see it in place") from None
    finally:
        for pipe in pipes:
            try:
                pipe.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        shared.close()


def _all(pipes: list, message: tuple, expect: str) -> list[tuple]:
    for pipe in pipes:
        pipe.send(message)
    replies = [pipe.recv() for pipe in pipes]
    for reply in replies:
        if reply[0] != expect:
            raise RuntimeError(f"worker answered {reply[0]!r}, expected {expect!r}")
    return replies


def _coordinate(explorer: Explorer, shared: _Shared, pipes: list, started: float,
                table_module: Any) -> Generator[Progress, None, Result]:
    options = explorer.options
    model = explorer.model
    fingerprint = explorer.fingerprint
    pending = {p.name for p in explorer.sometimes}
    workers = len(pipes)

    def result(verdict: str, distinct: int, depth: int, transitions: int, **extra: Any) -> Result:
        explorer.store = _TablePaths(shared, distinct)
        return explorer._result(verdict, started, depth, transitions, **extra)

    _all(pipes, ("attach", shared.memory.name, shared.capacity), "attached")
    initial = model.initial_states()
    frontier: list[tuple[Any, int, int]] = []
    for ordinal, state in enumerate(initial):
        code = fingerprint(state)
        if shared.table.offer(code, pack(0, 0, ordinal), 0) != 1:
            continue
        shared.table.set_parent(code, 0)
        for prop in explorer.invariants:
            if not prop.check(state):
                explorer.store = _TablePaths(shared, len(frontier) + 1)
                return explorer._result(VIOLATION, started, 0, 0, property=prop.name,
                                        property_kind=prop.kind,
                                        trace=explorer.trace_to(code))
        pending -= {p.name for p in explorer.sometimes if p.name in pending and p.check(state)}
        frontier.append((state, len(frontier), code))
    for index, pipe in enumerate(pipes):
        pipe.send(("seed", frontier[index::workers]))
    for pipe in pipes:
        pipe.recv()
    distinct = len(frontier)
    transitions = 0
    depth = 0
    level_size = len(frontier)
    next_report = started + options.progress_interval
    truncated = None
    while level_size:
        if options.max_depth is not None and depth >= options.max_depth:
            truncated = f"max depth {options.max_depth} reached"
            break
        if shared.table.count() * 3 > shared.capacity:
            _grow(shared, pipes)
        retry = False
        while True:
            replies = _expand_all(pipes, depth, retry)
            if replies is not None:
                break
            retry = True
            _grow(shared, pipes)
        expansion_events = [r[1] for r in replies if r[1] is not None]
        settled = _all(pipes, ("settle",), "settled")
        keys_per_worker = []
        for reply in settled:
            keys = array("Q")
            keys.frombytes(reply[1])
            keys_per_worker.append(keys)
        events = expansion_events + [r[2] for r in settled if r[2] is not None]
        if events:
            first = min(events)
            return _stop(explorer, shared, pipes, first, distinct, transitions, depth, result)
        for reply in settled:
            pending -= set(reply[3])
        transitions += sum(r[2] for r in replies)
        ranks = _global_ranks(keys_per_worker)
        _all_each(pipes, [("ranks", r.tobytes()) for r in ranks], "ranked")
        _balance(pipes, [len(keys) for keys in keys_per_worker])
        level_size = sum(len(keys) for keys in keys_per_worker)
        distinct += level_size
        if level_size:
            depth += 1
        now = time.perf_counter()
        if now >= next_report:
            next_report = now + options.progress_interval
            yield Progress(depth, distinct, level_size, transitions, now - started)
        if options.max_states is not None and distinct >= options.max_states:
            truncated = f"max states {options.max_states} reached"
            break
        short = memory_short(distinct, shared.memory.size / max(distinct, 1))
        if short:
            truncated = short
            break
        if options.time_limit is not None and now - started >= options.time_limit:
            truncated = f"time limit {options.time_limit:g} s reached"
            break
    if truncated:
        return result(INCOMPLETE, distinct, depth, transitions, incomplete_reason=truncated)
    if pending:
        first_pending = next(p for p in explorer.sometimes if p.name in pending)
        return result(VIOLATION, distinct, depth, transitions, property=first_pending.name,
                      property_kind=first_pending.kind)
    return result(OK, distinct, depth, transitions)


def _expand_all(pipes: list, depth: int, retry: bool) -> list[tuple] | None:
    """Ask every worker to expand the level; None if the table filled up (grow and retry)."""
    for pipe in pipes:
        pipe.send(("expand", depth, retry))
    replies = [pipe.recv() for pipe in pipes]
    if any(reply[0] == "full" for reply in replies):
        return None
    return replies


def _all_each(pipes: list, messages: list[tuple], expect: str) -> None:
    for pipe, message in zip(pipes, messages):
        pipe.send(message)
    for pipe in pipes:
        reply = pipe.recv()
        if reply[0] != expect:
            raise RuntimeError(f"worker answered {reply[0]!r}, expected {expect!r}")


def transfers(sizes: list[int]) -> list[list[tuple[int, int]]]:
    """For each worker, ``(target, count)`` moves that even out the next level's states.

    A worker keeps the states it discovered (no state crosses a process boundary for
    deduplication), but the earliest discoverer wins most states, so levels drift towards one
    worker; moving only the excess keeps every core busy at the smallest shipping cost.

    >>> transfers([10, 2, 0])
    [[(1, 2), (2, 4)], [], []]
    """
    total, count = sum(sizes), len(sizes)
    targets = [total // count + (1 if i < total % count else 0) for i in range(count)]
    excess = [(i, size - target) for i, (size, target) in enumerate(zip(sizes, targets))
              if size > target]
    deficit = [[i, target - size] for i, (size, target) in enumerate(zip(sizes, targets))
               if size < target]
    moves: list[list[tuple[int, int]]] = [[] for _ in sizes]
    for source, amount in excess:
        while amount:
            receiver = deficit[0]
            moved = min(amount, receiver[1])
            moves[source].append((receiver[0], moved))
            amount -= moved
            receiver[1] -= moved
            if not receiver[1]:
                deficit.pop(0)
    return moves


def _balance(pipes: list, sizes: list[int]) -> None:
    """Move states between workers so that each expands its share of the next level."""
    moves = transfers(sizes)
    if not any(moves):
        return
    for pipe, plan in zip(pipes, moves):
        pipe.send(("ship", plan))
    incoming: list[list[bytes]] = [[] for _ in pipes]
    for pipe in pipes:
        reply = pipe.recv()
        for target, parcel in reply[1].items():
            incoming[target].append(parcel)
    _all_each(pipes, [("receive", parcels) for parcels in incoming], "received")


def _grow(shared: _Shared, pipes: list) -> None:
    shared.grow()
    _all(pipes, ("attach", shared.memory.name, shared.capacity), "attached")


def _global_ranks(keys_per_worker: list[array]) -> list[array]:
    """Each worker's keys replaced by their positions in the merged order of all keys.

    Keys are distinct (each names one transition) and each worker's are sorted, so sorting
    them all is a merge of sorted runs, done in C, and a dict gives each key its position.
    """
    merged: list[int] = sorted(chain.from_iterable(keys_per_worker))
    position = {key: rank for rank, key in enumerate(merged)}
    return [array("Q", map(position.__getitem__, keys)) for keys in keys_per_worker]


def _stop(explorer: Explorer, shared: _Shared, pipes: list, event: Event, distinct: int,
          transitions: int, depth: int, result: Any) -> Result:
    """The result of a search that ends at ``event``, with the counts of the plain search."""
    limit = pack(depth + 1, event.rank, event.ordinal)
    inclusive = event.kind == STATE_EVENT and event.what != DEADLOCK
    counts = _all(pipes, ("count", limit, inclusive, event.rank), "counted")
    distinct += sum(c[1] for c in counts)
    transitions += sum(c[2] for c in counts)
    if event.what == DEADLOCK:
        return result(VIOLATION, distinct, depth, transitions, property=DEADLOCK,
                      property_kind=DEADLOCK, trace=_trace(explorer, shared, distinct,
                                                           event.fingerprint))
    if event.what == ERROR:
        label, message = event.detail.split("\n", 1)
        if event.kind == TRANSITION_EVENT:
            transitions += event.ordinal
            extra = Step(label, None, error=message)
            trace = _trace(explorer, shared, distinct, event.fingerprint, extra)
        else:
            transitions += event.ordinal + 1
            trace = _trace(explorer, shared, distinct, event.fingerprint)
        return result(ERROR, distinct, depth, transitions, trace=trace,
                      error=f"{label}: {message}")
    prop = next(p for p in explorer._all_properties() if p.name == event.what)
    transitions += event.ordinal + 1
    trace = _trace(explorer, shared, distinct, event.fingerprint)
    if prop.kind == ACTION_INVARIANT:
        state = trace.steps[-1].state
        spec, args, successor = next(islice(successors(state, explorer.actions),
                                            event.ordinal, None))
        trace.steps.append(step_for(spec, args, state, successor))
    return result(VIOLATION, distinct, depth, transitions, property=prop.name,
                  property_kind=prop.kind, trace=trace)


def _trace(explorer: Explorer, shared: _Shared, distinct: int, code: int,
           extra: Step | None = None) -> Any:
    explorer.store = _TablePaths(shared, distinct)
    return explorer.trace_to(code, extra)
