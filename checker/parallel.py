"""Multi-core search: worker processes sharing one lock-free fingerprint table.

The search is level-synchronous breadth-first search, so its results equal those of the plain
search (:mod:`checker.explore`): the same distinct states, transitions, depth, verdict and the
same shortest counterexample.

Each level is held as pieces: runs of consecutive states in the plain search's order, about
``PIECES_PER_WORKER`` per worker, interleaved between the workers. How a level goes:

1. Each worker expands its pieces. It offers every successor's fingerprint to the shared table
   (:mod:`checker._table`) with a key ``(level, rank of parent, ordinal)`` packed in 64 bits;
   the table keeps the smallest key offered for a fingerprint, which is the transition through
   which the plain search would have found the state first. States seen in earlier levels are
   rejected at once, so no state crosses a process boundary for deduplication. A successor
   whose offer set the smallest key so far is a candidate: the worker checks its properties
   at once (a state found by several workers is checked by each, at its own key). A worker
   done with its own pieces steals the last open piece of the busiest one (:class:`_Share`).
2. At the barrier each worker keeps the candidates whose key won: they are the next level's
   states. It records their parents and reports how many states each of its pieces won. All
   children of a state are offered by the worker that expanded it, so the states a piece won
   rank together, right after those of the piece before it: the next level's ranks follow
   from these counts, and no keys need merging.
3. The coordinator picks the earliest event of the level (a broken property, a deadlock, an
   exception) by rank, which is exactly where the plain search would have stopped; counts at
   that point are rebuilt from the keys. Otherwise it cuts the next level into pieces and moves
   pieces from the busiest workers to the idlest until their shares are even.

When the table needs to grow, every worker rehashes a slice of it into the new one.

The model is rebuilt in each worker from its file and parameters (processes are spawned, not
forked), so the same engine can later run on other machines.

With the default workers the search starts as the plain search in this process and is handed
over to the workers at a level boundary once it proves big enough (:class:`WarmUp`): the
plain search's seen set is the same C table, so it moves into shared memory as it is, and the
level is pickled to the workers.
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import pickle
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from multiprocessing.shared_memory import SharedMemory
from operator import attrgetter, itemgetter
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
from checker.trace import Step, Trace, step_for
from checker.values import _values

__all__ = ["available", "explore"]

LEVEL_SHIFT = 54
RANK_SHIFT = 16
ORDINAL_LIMIT = 1 << RANK_SHIFT
RANK_LIMIT = 1 << (LEVEL_SHIFT - RANK_SHIFT)
INITIAL_CAPACITY = 1 << 16
LEVEL_GROWTH = 3
"""Before a level the table makes room for this many new states per state of the level: a
level that finds more fills the table, which then grows and the level is expanded again."""
AFTER_ALL = ORDINAL_LIMIT - 1
OWNER = 1
"""The claim a worker puts on one of its pieces of a level as it starts it (see
:class:`_Share`); worker ``i`` claims a piece it steals with ``THIEF + i``."""
THIEF = 2

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


Entry = tuple[int, int, Any, int]
"""A state of a level as it was won: ``(key, fingerprint, state, parent's fingerprint)``."""


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

        self.memory = SharedMemory(create=True, size=_table.required_bytes(capacity))
        self.capacity = capacity
        self.table = _table.Table(self.memory.buf, capacity)

    def replace_by(self, bigger: _Shared) -> None:
        """Let go of this table and take over ``bigger`` (which holds all its entries)."""
        self.close()
        self.memory, self.capacity, self.table = bigger.memory, bigger.capacity, bigger.table

    def close(self) -> None:
        self.table.close()
        self.memory.close()
        self.memory.unlink()


def _worker(index: int, source: tuple[str, dict[str, Any], str, bool], options: Options,
            conn: Any, inboxes: list[Any]) -> None:
    """A worker process: rebuild the model, say so, then answer the coordinator's messages.
    ``inboxes[i]`` takes the pieces stolen by worker ``i``."""
    from checker.cli import make_fingerprint
    from checker.loader import build_model

    path, params, name, symmetry = source
    collect_less()
    model = build_model(path, params, name)
    worker = _Worker(index, Explorer(model, options, make_fingerprint(model, symmetry)[0],
                                     symmetry), inboxes)
    conn.send(("ready",))
    while True:
        message = conn.recv()
        reply = worker.handle(message)
        if message[0] == "stop":
            break
        conn.send(reply)
    conn.close()


class _Worker:
    """What a worker process (:func:`_worker`) does with each message of the coordinator:
    expand its pieces of a level, settle, cut the next level, report counts and events."""

    def __init__(self, index: int, explorer: Explorer, inboxes: list[Any]) -> None:
        from checker import _table

        self.index = index
        self.explorer = explorer
        self.fingerprint = explorer.fingerprint
        self.inboxes = inboxes
        self.table_module = _table
        self.attached: tuple[Any, Any] | None = None
        self.claims: tuple[SharedMemory, memoryview] | None = None
        self.pieces: list[_Piece] = []
        self.level = 0
        self.candidates: list[Entry] = []
        self.won: list[Entry] = []

    def handle(self, message: tuple) -> tuple:
        """The reply to ``message``."""
        command = message[0]
        if command == "stop":
            _detach(self.attached)
            self.attached = None
            self._release_claims()
            return ("stopped",)
        if command == "attach":
            _detach(self.attached)
            self.attached = _attach(self.table_module, *message[1:])
            return ("attached",)
        if command == "grow":
            _, memory_name, capacity, part, parts = message
            bigger = _attach(self.table_module, memory_name, capacity)
            old = self.attached[1]
            self.table_module.rehash(old, bigger[1], old.capacity * part // parts,
                                     old.capacity * (part + 1) // parts)
            _detach(self.attached)
            self.attached = bigger
            return ("grown",)
        if command == "seed":
            self.pieces = [_Piece(message[2], _initial_entries(self.explorer.model,
                                                               message[1]))]
            return ("seeded",)
        if command == "expand":
            return self._expand(*message[1:])
        if command == "settle":
            self.won = self.attached[1].settle(self.candidates)
            self.candidates = []
            return ("settled", _children(self.won, self.pieces, self.level))
        if command == "next":
            self.pieces, parcels = _cut(self.won, message[1], self.index)
            self.won = []
            return ("shipped", parcels)
        if command == "memory":
            from checker.report import peak_memory_bytes

            return ("memory", peak_memory_bytes())
        if command == "count":
            _, limit, inclusive, below_rank = message
            new = sum(1 for entry in self.won
                      if entry[0] < limit or (inclusive and entry[0] == limit))
            moves = sum(sum(piece.degrees[:max(0, below_rank - piece.first_rank)])
                        for piece in self.pieces)
            return ("counted", new, moves)
        raise RuntimeError(f"unknown message {command!r}")

    def _expand(self, level: int, retry: bool, parcels: list[bytes], pending: set[str],
                claims: str, owners: list[int]) -> tuple:
        """Expand this worker's pieces of the level (``owners``: the worker of each piece of
        the level, in rank order; ``claims``: their claims' shared memory), then steal. The
        reply ends with the first ranks of the pieces stolen."""
        explorer = self.explorer
        self.level = level
        plain = None if explorer.symmetry else self.fingerprint
        if parcels:
            self.pieces = _received(self.pieces, parcels, plain)
        self.candidates = []
        share = _Share(self.index, self.pieces, self._claims(claims), owners, self.inboxes,
                       plain)
        checks = _Checks(explorer, pending)
        try:
            event = _expand(explorer, self.fingerprint, self.attached[1], share, level,
                            self.candidates, retry, checks)
        except self.table_module.TableFull:
            return ("full", share.stolen_ranks())
        except InvalidInput as exc:
            return ("invalid", str(exc))
        finally:
            self.pieces = share.held()
        if share.stolen:  # its candidates came after this worker's own
            self.candidates.sort(key=itemgetter(0))
        return ("expanded", sum(sum(piece.degrees) for piece in self.pieces),
                checks.outcome(event), share.stolen_ranks())

    def _claims(self, name: str) -> memoryview:
        """The claims of the level's pieces, in the shared memory of that name."""
        if self.claims is None or self.claims[0].name != name:
            self._release_claims()
            memory = SharedMemory(name=name)
            self.claims = memory, memory.buf.cast("I")
        return self.claims[1]

    def _release_claims(self) -> None:
        if self.claims is not None:
            self.claims[1].release()
            self.claims[0].close()
            self.claims = None


class _Share:
    """A worker's pieces of a level while the workers expand it, and the pieces it steals.

    Each piece of the level has a claim, a word in shared memory set once
    (:func:`checker._table.claim`). A worker claims its own pieces in rank order as it starts
    them. Once it has expanded all of them it steals: it claims the last open piece of the
    worker with the most open pieces (at least two, so that the owner still has work while
    the piece travels), and the owner pickles the piece to the thief's inbox as soon as it has
    expanded the state it is on. The pieces a worker loses are thus always its last ones.
    Levels differ in how long their states take and the workers' processors in speed from
    moment to moment: on two-phase commit the two workers of a 2-core machine took up to 40%
    longer than each other over one level.
    """

    def __init__(self, me: int, pieces: list[_Piece], claims: memoryview, owners: list[int],
                 inboxes: list[Any], plain: Callable[[Any], int] | None) -> None:
        from checker._table import claim

        self.claim = claim
        self.me = me
        self.pieces = pieces
        self.claims = claims
        self.slots = [slot for slot, owner in enumerate(owners) if owner == me]
        if len(self.slots) != len(pieces):
            raise RuntimeError(f"worker {me} holds {len(pieces)} pieces, the level says "
                               f"{len(self.slots)}")
        self.others = [[slot for slot, owner in enumerate(owners) if owner == worker]
                       for worker in range(len(inboxes)) if worker != me]
        self.inboxes = inboxes
        self.plain = plain
        self.quiet = len(owners)
        """The word after the level's claims, which stays 0."""
        self.started = 0
        """This worker's pieces before this one are claimed by it."""
        self.kept = len(pieces)
        """This worker's pieces from this one on were stolen and shipped."""
        self.stolen: list[_Piece] = []

    def next(self) -> _Piece | None:
        """The next piece to expand: this worker's own next one, else a stolen one; None
        when neither is left."""
        if self.started < self.kept and self.claim(self.claims, self.slots[self.started],
                                                   OWNER) == 0:
            self.started += 1
            return self.pieces[self.started - 1]
        self.ship_stolen()  # the piece was stolen meanwhile, and so were all after it
        return self._steal()

    def watched(self) -> int:
        """The claim a thief would take next from this worker (the quiet word when it has no
        open piece): once that claim is a thief's, :meth:`ship_stolen` is due."""
        return self.slots[self.kept - 1] if self.kept > self.started else self.quiet

    def close(self) -> None:
        """Claim this worker's pieces not started (an event or an error ended its level
        early) and ship those stolen: no thief waits for a piece in vain."""
        while self.started < self.kept and self.claim(self.claims, self.slots[self.started],
                                                      OWNER) == 0:
            self.started += 1
        self.ship_stolen()

    def held(self) -> list[_Piece]:
        """This worker's pieces once the level is expanded, in rank order."""
        if not self.stolen:
            return self.pieces[:self.kept]
        return sorted(self.pieces[:self.kept] + self.stolen, key=_by_rank)

    def stolen_ranks(self) -> list[int]:
        return [piece.first_rank for piece in self.stolen]

    def ship_stolen(self) -> None:
        """Pickle the pieces stolen from this worker to their thieves."""
        claims, slots = self.claims, self.slots
        while self.kept > self.started and claims[slots[self.kept - 1]] >= THIEF:
            self.kept -= 1
            piece = self.pieces[self.kept]
            with _no_collections():
                parcel = _pickled((piece.first_rank, piece.entries))
            self.inboxes[claims[slots[self.kept]] - THIEF].put(parcel)

    def _steal(self) -> _Piece | None:
        claims = self.claims
        while True:
            slot, most = None, 1
            for slots in self.others:
                open_slots = [slot for slot in slots if claims[slot] == 0]
                if len(open_slots) > most:
                    slot, most = open_slots[-1], len(open_slots)
            if slot is None:
                return None
            if self.claim(claims, slot, THIEF + self.me) == 0:
                with _no_collections():
                    piece = _arrived(self.inboxes[self.me].get(), self.plain)
                self.stolen.append(piece)
                return piece


class _Piece:
    """Consecutive states of a level on one worker, ranked from ``first_rank`` on.
    ``degrees`` holds, once they are expanded, each state's number of transitions."""

    __slots__ = ("first_rank", "entries", "degrees")

    def __init__(self, first_rank: int, entries: list[Entry]) -> None:
        self.first_rank = first_rank
        self.entries = entries
        self.degrees: list[int] = []


_by_rank = attrgetter("first_rank")
"""Sorts pieces into rank order."""


def _initial_entries(model: Model, seeds: list[tuple[int, int]]) -> list[Entry]:
    """This worker's initial states, rebuilt here from ``(key, fingerprint)`` pairs.

    The worker's own states share their values with its model (ids, prebuilt records,
    strings), so comparisons succeed on identity; copies unpickled from the coordinator made
    the whole search about 18% slower.
    """
    initial = model.initial_states()
    return [(key, code, initial[key & (ORDINAL_LIMIT - 1)], 0) for key, code in seeds]


def _children(won: list[Entry], pieces: list[_Piece], level: int) -> list[int]:
    """How many of this worker's winners each of its pieces found (a parent's children are
    all offered by the worker that expanded it, so a piece's winners are all here)."""
    base = (level + 1) << LEVEL_SHIFT
    counts, at = [], 0
    for piece in pieces:
        end = bisect_left(won, (base | ((piece.first_rank + len(piece.entries)) << RANK_SHIFT),),
                          at)
        counts.append(end - at)
        at = end
    return counts


def _cut(won: list[Entry], plan: list[tuple[int, int, int]], me: int
         ) -> tuple[list[_Piece], dict[int, list[bytes]]]:
    """Cut this worker's winners into the next level's pieces as ``plan`` says: one
    ``(first rank, count, worker)`` per slice, in order. The slices for this worker become its
    pieces; the others are pickled into parcels per worker."""
    kept: list[_Piece] = []
    parcels: dict[int, list[bytes]] = {}
    at = 0
    with _no_collections():
        for first_rank, count, worker in plan:
            if worker == me:
                kept.append(_Piece(first_rank, won[at:at + count]))
            else:
                parcels.setdefault(worker, []).append(_pickled((first_rank, won[at:at + count])))
            at += count
    return kept, parcels


def _python_text_by_value(value: Any) -> str | None:
    """Strings travel as persistent ids, so that the receiver can use its own copy."""
    return value if type(value) is str else None


# The persistent id of _pickled: pickle calls it for every object it writes (32 times per
# state of two-phase commit), so the C one when built (a state pickled in 12.2 us with the
# Python function, 7.3 us with it and the C pickling methods of records and maps).
_text_by_value = _values.text_by_value if _values is not None else _python_text_by_value


def _pickled(value: Any) -> bytes:
    """``value`` pickled for another worker (see :func:`_unpickled`)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = _text_by_value
    pickler.dump(value)
    return out.getvalue()


def _unpickled(parcel: bytes) -> Any:
    """A parcel of :func:`_pickled` with this process's interned strings and ids: the model's
    code holds those, so lookups and comparisons with them succeed on identity (a worker
    searching states it received as plain copies was 8-22% slower than one searching its own)."""
    unpickler = pickle.Unpickler(io.BytesIO(parcel))
    unpickler.persistent_load = sys.intern
    return unpickler.load()


def _received(pieces: list[_Piece], parcels: list[bytes], plain: Callable[[Any], int] | None
              ) -> list[_Piece]:
    """This worker's pieces with those shipped to it (see :func:`_arrived`), in rank order."""
    with _no_collections():
        pieces = pieces + [_arrived(parcel, plain) for parcel in parcels]
    pieces.sort(key=_by_rank)
    return pieces


def _arrived(parcel: bytes, plain: Callable[[Any], int] | None) -> _Piece:
    """A piece shipped to this worker.

    With ``plain``, the plain fingerprint function, each received state is fingerprinted once:
    maps arrive without the fingerprint sums they keep (:mod:`checker._values`), and a map
    derives its sum from its parent's only when the parent's is known; without this every
    child of a received state summed its maps in full (two-phase commit: expanding a received
    state took 15% more instructions than expanding one of the worker's own).
    """
    piece = _Piece(*_unpickled(parcel))
    if plain is not None:
        for entry in piece.entries:
            plain(entry[2])
    return piece


@contextmanager
def _no_collections() -> Iterator[None]:
    """Pause the cycle collector while pickling or unpickling a level's moving states.

    Those allocate many objects at once, which would set off full collections over every
    state a worker holds (pickling two-phase commit states took 20 us each with the collector
    running, 4 us without). Pickles hold no cycles; any made meanwhile are collected later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _attach(table_module: Any, memory_name: str, capacity: int) -> tuple[Any, Any]:
    """Open the shared table of that name: ``(memory, table)``."""
    memory = SharedMemory(name=memory_name)
    return memory, table_module.Table(memory.buf, capacity)


def _detach(attached: tuple[Any, Any] | None) -> None:
    """Let go of a shared table (the table first: it holds the memory's buffer)."""
    if attached is not None:
        attached[1].close()
        attached[0].close()


def _expand(explorer: Explorer, fingerprint: Any, table: Any, share: _Share, level: int,
            candidates: list, retry: bool, checks: _Checks) -> Event | None:
    """Expand this worker's pieces of ``level`` and those it steals; offer successors and
    check the candidates' properties; return the first event.

    A successor whose offer set the smallest key so far becomes a candidate ``(key, code,
    state, parent)``. A worker's own pieces are in rank order, so their candidates come in key
    order; those of stolen pieces follow. On a retry after the table grew, the level's earlier
    offers are in the table with the same keys, so a tie with the stored key also makes a
    candidate.
    """
    base = (level + 1) << LEVEL_SHIFT
    for piece in share.pieces:
        piece.degrees = []
    try:
        while (piece := share.next()) is not None:
            event = _expand_piece(explorer, fingerprint, table, piece, base, candidates, retry,
                                  checks, share)
            if event is not None:  # the worker's pieces after it rank later
                return event
        return None
    finally:
        share.close()


def _expand_piece(explorer: Explorer, fingerprint: Any, table: Any, piece: _Piece, base: int,
                  candidates: list, retry: bool, checks: _Checks, share: _Share
                  ) -> Event | None:
    """Expand one piece (see :func:`_expand`); return its first event. Between states it
    ships the pieces other workers steal from this one, so that they wait for a piece no
    longer than it takes to pickle it."""
    from checker._table import TableFull

    constraints = explorer.constraints
    model = explorer.model
    in_c = not explorer.action_invariants
    offer_candidates = table.offer_candidates
    watch = bool(checks)
    check = checks.check
    degrees = piece.degrees
    claims = share.claims
    watched = share.watched()
    rank = piece.first_rank - 1
    for _, parent, state, _ in piece.entries:
        rank += 1
        if claims[watched] >= THIEF:
            share.ship_stolen()
            watched = share.watched()
        if constraints and not all(c.check(state) for c in constraints):
            degrees.append(0)
            continue
        prefix = base | (rank << RANK_SHIFT)
        produced = explorer.produce(state)
        if in_c and type(produced) is list:
            ordinal = len(produced)
            _check_successors(ordinal)
            before = len(candidates)
            try:
                offer_candidates(produced, state, parent, fingerprint, prefix, base, retry,
                                 candidates)
            except TableFull:
                raise
            except Exception as exc:  # the candidates before the failing successor count
                failing = explorer._unfingerprintable(produced, state, 0)
                degrees.append(failing)
                return ((check(candidates, before) if watch else None)
                        or _raised(explorer, state, rank, failing, parent, exc))
            if watch and len(candidates) > before:
                event = check(candidates, before)
                if event is not None:
                    degrees.append(ordinal)
                    return event
        else:
            ordinal, event = _offer_each(explorer, fingerprint, table, state, parent, rank,
                                         produced, base, candidates, retry, checks)
            if event is not None:
                degrees.append(ordinal)
                return event
        degrees.append(ordinal)
        if ordinal == 0 and explorer.check_deadlock and not model.final(state):
            return Event(rank, AFTER_ALL, STATE_EVENT, DEADLOCK, parent)
    return None


def _offer_each(explorer: Explorer, fingerprint: Any, table: Any, state: Any, parent: int,
                rank: int, produced: Any, base: int, candidates: list, retry: bool,
                checks: _Checks) -> tuple[int, Event | None]:
    """Offer a state's successors one by one, checking action invariants and candidates on
    the way (or re-running an enumeration that raised); return their number and an event."""
    from checker._table import TableFull

    prefix = base | (rank << RANK_SHIFT)
    watch = bool(checks)
    ordinal = 0
    try:
        for successor in produced:
            if explorer.action_invariants:
                broken = explorer._broken_action_invariant(state, successor)
                if broken is not None:
                    return ordinal, Event(rank, ordinal, TRANSITION_EVENT, broken.name, parent)
            code = parent if successor is state else fingerprint(successor)
            key = prefix | ordinal
            ordinal += 1
            outcome = table.offer(code, key, base)
            if outcome == 1 or (retry and outcome == 2 and table.key(code) == key):
                candidates.append((key, code, successor, parent))
                if watch:
                    event = checks.check(candidates, len(candidates) - 1)
                    if event is not None:
                        return ordinal, event
    except TableFull:
        raise
    except Exception as exc:
        return ordinal, _raised(explorer, state, rank, ordinal, parent, exc)
    _check_successors(ordinal)
    return ordinal, None


def _check_successors(count: int) -> None:
    """Refuse a state with more successors than a key has room for."""
    if count >= ORDINAL_LIMIT:
        raise InvalidInput(f"a state has {count} successors; at most {AFTER_ALL} are "
                           "supported by the parallel search (use --workers 1)")


def _raised(explorer: Explorer, state: Any, rank: int, ordinal: int, parent: int,
            exc: Exception) -> Event:
    """The event of transition ``ordinal`` out of ``state`` raising ``exc``."""
    original = exc.original if isinstance(exc, ModelRaised) else exc
    label = (exc.label if isinstance(exc, ModelRaised)
             else explorer.describe_transition(state, ordinal))
    message = describe_exception(original, explorer.model_file)
    return Event(rank, ordinal, TRANSITION_EVENT, ERROR, parent, f"{label}\n{message}")


class _Checks:
    """Properties checked on a worker's candidates as it finds them, as the plain search checks
    a state when it finds it, while the state is still in the processor's caches. (Checked at
    the level's barrier instead, every new state was read back from memory while the other
    workers waited: two-phase commit with 8 RMs and 2 workers spent 1.5-2.2 s of 14-21 s
    there, 0.4-0.5 s since.)

    A candidate may lose to another worker's smaller key for the same state; that worker
    checked the same state at that key, so over all workers the smallest key of an event is
    where the plain search meets it. Holds where each pending sometimes property first held
    and the sometimes checks that raised: the plain search meets those only if no state
    reached the property at an earlier transition of the level.
    """

    __slots__ = ("invariants", "pending", "model_file", "reached", "doubtful")

    def __init__(self, explorer: Explorer, pending_names: set[str]) -> None:
        self.invariants = explorer.invariants
        self.pending = [p for p in explorer.sometimes if p.name in pending_names]
        self.model_file = explorer.model_file
        self.reached: dict[str, tuple[int, int]] = {}
        self.doubtful: list[tuple[str, Event]] = []

    def __bool__(self) -> bool:
        return bool(self.invariants or self.pending)

    def check(self, entries: list[Entry], start: int) -> Event | None:
        """Check ``entries[start:]`` in order; the first broken invariant or invariant check
        that raised."""
        for index in range(start, len(entries)):
            key, code, state, _ = entries[index]
            for prop in self.invariants:
                try:
                    holds = prop.check(state)
                except Exception as exc:
                    message = describe_exception(exc, self.model_file)
                    return _state_event(key, code, ERROR, f"invariant {prop.name}\n{message}")
                if not holds:
                    return _state_event(key, code, prop.name)
            if self.pending:
                self._sometimes(key, code, state)
        return None

    def _sometimes(self, key: int, code: int, state: Any) -> None:
        for prop in list(self.pending):
            try:
                hit = prop.check(state)
            except Exception as exc:
                message = describe_exception(exc, self.model_file)
                self.doubtful.append((prop.name, _state_event(
                    key, code, ERROR, f"sometimes {prop.name}\n{message}")))
                self.pending.remove(prop)
                continue
            if hit:
                self.pending.remove(prop)
                self.reached[prop.name] = _position(key)

    def outcome(self, event: Event | None
                ) -> tuple[Event | None, dict[str, tuple[int, int]], list[tuple[str, Event]]]:
        """``event`` with what the sometimes checks found, as :func:`_first_events` takes it."""
        return event, self.reached, self.doubtful


def _position(key: int) -> tuple[int, int]:
    """``(rank of the parent, ordinal)`` of the transition with ``key``."""
    return (key >> RANK_SHIFT) & (RANK_LIMIT - 1), key & (ORDINAL_LIMIT - 1)


def _state_event(key: int, code: int, what: str, detail: str = "") -> Event:
    """The event of the state that transition ``key`` found (as the plain search meets it
    once the state is new)."""
    return Event(*_position(key), STATE_EVENT, what, code, detail)


def _first_events(checked: list[tuple[Event | None, dict[str, tuple[int, int]],
                                      list[tuple[str, Event]]]]
                  ) -> tuple[list[Event], set[str]]:
    """The events of a level (one :meth:`_Checks.outcome` per worker) and the
    sometimes properties it reached: a sometimes check that raised counts unless another state
    reached that property at an earlier transition."""
    reached: dict[str, tuple[int, int]] = {}
    for _, found, _ in checked:
        for name, where in found.items():
            reached[name] = min(where, reached.get(name, where))
    events = [event for event, _, _ in checked if event is not None]
    for _, _, doubtful in checked:
        events += [event for name, event in doubtful
                   if name not in reached or reached[name] > (event.rank, event.ordinal)]
    return events, set(reached)


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
            key = table.key(code)  # the plain search's keys, before a hand-over, are ordinals
            path.append((key & (ORDINAL_LIMIT - 1) if key >> LEVEL_SHIFT else key, code))
            code = table.parent(code)
        path.reverse()
        return path


@dataclass(frozen=True)
class WarmUp:
    """When a search with the default workers starts them. The plain search runs alone in
    this process for ``seconds`` (a small model is done by then, and spawning would only cost
    it); past that it starts the workers at the first level at least ``growth`` times the size
    of the one before (the search is still widening, so much is left) or, whatever the levels
    do, after ``latest`` seconds; it hands them the search at the first level with at least
    ``states_per_worker`` states per worker at which they are all ready. It waits for them
    there when the level would take the plain search longer than they have left of
    ``startup`` seconds (or always, with ``wait``), and otherwise searches on alone."""

    seconds: float = 0.25
    growth: float = 1.2
    latest: float = 1.0
    states_per_worker: int = 500
    startup: float = 0.5
    wait: bool = False


class _Crew:
    """The worker processes of a search, spawned when :meth:`spawn` is called."""

    def __init__(self, source: tuple[str, dict[str, Any], str, bool], options: Options,
                 count: int) -> None:
        self.source = source
        self.options = options
        self.count = count
        self.pipes: list[Any] = []
        self.inboxes: list[Any] = []
        self.processes: list[Any] = []
        self.started: list[bool] = []
        self.working = False
        """Whether the workers have been given the search."""
        self.shared: _Shared | None = None
        self.claims: SharedMemory | None = None

    def spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.inboxes = [context.SimpleQueue() for _ in range(self.count)]
        for index in range(self.count):
            mine, theirs = context.Pipe()
            process = context.Process(target=_worker,
                                      args=(index, self.source, self.options, theirs,
                                            self.inboxes),
                                      daemon=True)
            process.start()
            theirs.close()  # so that a worker's death reads as EOF here, not as a hang
            self.pipes.append(mine)
            self.processes.append(process)
            self.started.append(False)

    def ready(self, wait: bool) -> bool:
        """Whether every worker has rebuilt the model (waiting for them with ``wait``)."""
        for index, pipe in enumerate(self.pipes):
            if not self.started[index] and (wait or pipe.poll()):
                reply = pipe.recv()
                if reply[0] != "ready":
                    raise RuntimeError(f"worker answered {reply[0]!r}, expected 'ready'")
                self.started[index] = True
        return bool(self.pipes) and all(self.started)

    def claims_for(self, pieces: int) -> str:
        """The name of the shared memory that holds the claims of a level of ``pieces``
        pieces (see :class:`_Share`), all open, and a word after them that stays 0."""
        size = 4 * (pieces + 1)
        if self.claims is None or self.claims.size < size:
            self._close_claims()
            self.claims = SharedMemory(create=True, size=max(size, 4096))
        self.claims.buf[:size] = bytes(size)
        return self.claims.name

    def _close_claims(self) -> None:
        if self.claims is not None:
            self.claims.close()
            self.claims.unlink()
            self.claims = None

    def stop(self) -> None:
        """Stop the workers; those that never got work are ended at once."""
        for pipe, started in zip(self.pipes, self.started):
            try:
                if started:
                    pipe.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for process, started in zip(self.processes, self.started):
            if started:
                process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self._close_claims()

    def died(self) -> CheckerError:
        codes = [process.exitcode for process in self.processes]
        return CheckerError(f"a worker process died (exit codes {codes}); its error is "
                            "printed above; rerun with --workers 1 to see it in place")


def explore(model: Model, options: Options, workers: int, symmetry: bool,
            warm_up: WarmUp | None = None) -> Generator[Progress, None, Result]:
    """Search ``model`` with ``workers`` processes; yields progress, returns the result.

    With ``warm_up`` the plain search starts in this process and passes the search to the
    workers once it is big enough (see :class:`WarmUp`); the result is the same either way.
    """
    from checker.cli import make_fingerprint

    path = getattr(type(model), "__checker_file__", None)
    if path is None:
        raise InvalidInput("parallel search needs a model loaded from a file")
    source = (path, dict(model.params), type(model).__name__, symmetry)
    explorer = Explorer(model, options, make_fingerprint(model, symmetry)[0], symmetry)
    crew = _Crew(source, options, workers)
    try:
        if warm_up is None:
            started = time.perf_counter()
            crew.spawn()
            result = yield from _coordinate(explorer, crew, started)
        else:
            explorer.hand_over = _HandOver(crew, warm_up)
            result = yield from explorer.run()
        if crew.working:
            result.worker_memory_bytes = sum(
                reply[1] for reply in _all(crew.pipes, ("memory",), "memory"))
        return result
    except (EOFError, BrokenPipeError, ConnectionResetError):
        raise crew.died() from None
    finally:
        crew.stop()
        if crew.shared is not None:
            crew.shared.close()


class _HandOver:
    """Asked by the plain search at each new level whether to pass the search on to the
    workers (see :class:`WarmUp`), and does it."""

    def __init__(self, crew: _Crew, warm_up: WarmUp) -> None:
        self.crew = crew
        self.warm_up = warm_up
        self.last_size = 0
        self.last_time = 0.0
        self.spawned = 0.0

    def wanted(self, started: float, level_size: int) -> bool:
        """Whether the plain search should hand over its next level of ``level_size`` states;
        starts the workers when the warm-up says so."""
        crew, warm_up = self.crew, self.warm_up
        now = time.perf_counter()
        # The plain search's time for the next level, guessed from the last one.
        alone = (now - (self.last_time or started)) * level_size / max(self.last_size, 1)
        growing = level_size >= warm_up.growth * self.last_size
        self.last_size, self.last_time = level_size, now
        if not crew.pipes:
            if now - started < warm_up.seconds or (now - started < warm_up.latest
                                                   and not growing):
                return False
            crew.spawn()
            self.spawned = now
        if level_size < warm_up.states_per_worker * crew.count:
            return False
        return crew.ready(warm_up.wait or alone >= warm_up.startup - (now - self.spawned))

    def take(self, explorer: Explorer, table: Any, frontier: list[tuple[Any, int]], depth: int,
             transitions: int, pending: set[str], started: float
             ) -> Generator[Progress, None, Result]:
        """Go on with the search from the plain search's level ``depth`` (``frontier``:
        ``(state, fingerprint)`` in its order) and its seen set ``table``: the table moves
        into shared memory, the level is pickled to the workers in even shares."""
        from checker import _table

        crew = self.crew
        distinct = table.count()
        crew.shared = shared = _Shared(_room_for(distinct + LEVEL_GROWTH * len(frontier),
                                                 max(table.capacity, INITIAL_CAPACITY)))
        _table.rehash(table, shared.table)
        crew.working = True
        _all(crew.pipes, ("attach", shared.memory.name, shared.capacity), "attached")
        layout = [(begin + first, last - first, worker)
                  for worker, (begin, end) in enumerate(_shares(len(frontier), crew.count))
                  for first, last in _shares(end - begin, PIECES_PER_WORKER) if last > first]
        parcels: list[list[bytes]] = [[] for _ in crew.pipes]
        with _no_collections():
            for begin, size, worker in layout:
                parcels[worker].append(_pickled((begin, [
                    (0, code, state, 0) for state, code in frontier[begin:begin + size]])))
        frontier.clear()  # the workers hold the level now
        return (yield from _levels(explorer, crew, layout, parcels, depth, distinct,
                                   transitions, pending, started))


def _all(pipes: list, message: tuple, expect: str) -> list[tuple]:
    for pipe in pipes:
        pipe.send(message)
    replies = [pipe.recv() for pipe in pipes]
    for reply in replies:
        if reply[0] != expect:
            raise RuntimeError(f"worker answered {reply[0]!r}, expected {expect!r}")
    return replies


def _coordinate(explorer: Explorer, crew: _Crew, started: float
                ) -> Generator[Progress, None, Result]:
    """The search with the workers from the start: this process finds the initial states,
    the workers rebuild theirs and search every level."""
    model = explorer.model
    fingerprint = explorer.fingerprint
    pending = {p.name for p in explorer.sometimes}
    crew.ready(wait=True)
    crew.working = True
    crew.shared = shared = _Shared(INITIAL_CAPACITY)
    pipes = crew.pipes
    _all(pipes, ("attach", shared.memory.name, shared.capacity), "attached")
    try:
        initial = model.initial_states()
    except Exception as exc:
        message = describe_exception(exc, explorer.model_file)
        return explorer._result(ERROR, started, 0, 0, error=f"init: {message}",
                                trace=Trace(model.name, dict(model.params), []))
    frontier: list[Entry] = []
    for ordinal, state in enumerate(initial):
        code = fingerprint(state)
        if shared.table.offer(code, pack(0, 0, ordinal), 0) == 1:
            shared.table.set_parent(code, 0)
            frontier.append((pack(0, 0, ordinal), code, state, 0))
    checks = _Checks(explorer, pending)
    events, reached = _first_events([checks.outcome(checks.check(frontier, 0))])
    if events:
        return _stop_at_start(explorer, shared, frontier, min(events),
                              _results(explorer, shared, started))
    pending -= reached
    bounds = _shares(len(frontier), len(pipes))
    _all_each(pipes, [("seed", [(key, code) for key, code, _, _ in frontier[begin:end]], begin)
                      for begin, end in bounds], "seeded")
    layout = [(begin, end - begin, worker) for worker, (begin, end) in enumerate(bounds)]
    return (yield from _levels(explorer, crew, layout, [[] for _ in pipes], 0, len(frontier), 0,
                               pending, started))


def _results(explorer: Explorer, shared: _Shared, started: float) -> Callable[..., Result]:
    """Makes a search's result, its traces rebuilt from the paths in the shared table."""
    def result(verdict: str, distinct: int, depth: int, transitions: int, **extra: Any) -> Result:
        explorer.store = _TablePaths(shared, distinct)
        return explorer._result(verdict, started, depth, transitions, **extra)
    return result


def _levels(explorer: Explorer, crew: _Crew, layout: list[tuple[int, int, int]],
            parcels: list[list[bytes]], depth: int, distinct: int, transitions: int,
            pending: set[str], started: float) -> Generator[Progress, None, Result]:
    """Search level by level from level ``depth``, laid out as ``layout`` says (with
    ``parcels`` on their way to the workers), to the end."""
    shared, pipes = crew.shared, crew.pipes
    options = explorer.options
    result = _results(explorer, shared, started)
    level_size = sum(size for _, size, _ in layout)
    next_report = started + options.progress_interval
    truncated = None
    while level_size:
        if options.max_depth is not None and depth >= options.max_depth:
            truncated = f"max depth {options.max_depth} reached"
            break
        room = _room_for(shared.table.count() + LEVEL_GROWTH * level_size, shared.capacity)
        if room > shared.capacity:
            _grow(shared, pipes, room)
        replies, layout = _expand_all(crew, depth, False, parcels, pending, layout)
        while replies is None:
            _grow(shared, pipes, shared.capacity * 2)
            replies, layout = _expand_all(crew, depth, True, [[] for _ in pipes], pending,
                                          layout)
        settled = _all(pipes, ("settle",), "settled")
        events, reached = _first_events([reply[2] for reply in replies])
        if events:
            first = min(events)
            return _stop(explorer, shared, pipes, first, distinct, transitions, depth, result)
        pending -= reached
        transitions += sum(r[1] for r in replies)
        layout, parcels = _next_level(pipes, layout, [reply[1] for reply in settled])
        level_size = sum(size for _, size, _ in layout)
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


def _expand_all(crew: _Crew, depth: int, retry: bool, parcels: list, pending: set[str],
                layout: list[tuple[int, int, int]]
                ) -> tuple[list[tuple] | None, list[tuple[int, int, int]]]:
    """Ask every worker to expand its pieces of the level laid out as ``layout`` says (taking
    in the pieces shipped to it first, stealing pieces once done with its own) and check
    ``pending`` sometimes properties. Returns the replies, None if the table filled up (grow
    and retry), and the layout with each stolen piece at its thief. A model the parallel
    search cannot take is reported as by the plain search's bad input."""
    claims = crew.claims_for(len(layout))
    owners = [worker for _, _, worker in layout]
    for pipe, incoming in zip(crew.pipes, parcels):
        pipe.send(("expand", depth, retry, incoming, pending, claims, owners))
    replies = [pipe.recv() for pipe in crew.pipes]
    for reply in replies:
        if reply[0] == "invalid":
            raise InvalidInput(reply[1])
    thieves = {rank: worker for worker, reply in enumerate(replies) for rank in reply[-1]}
    layout = [(rank, size, thieves.get(rank, worker)) for rank, size, worker in layout]
    if any(reply[0] == "full" for reply in replies):
        return None, layout
    return replies, layout


def _all_each(pipes: list, messages: list[tuple], expect: str) -> list[tuple]:
    for pipe, message in zip(pipes, messages):
        pipe.send(message)
    replies = [pipe.recv() for pipe in pipes]
    for reply in replies:
        if reply[0] != expect:
            raise RuntimeError(f"worker answered {reply[0]!r}, expected {expect!r}")
    return replies


def _shares(total: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous ``(begin, end)`` ranges of ``range(total)`` as even as can be.

    >>> _shares(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    bounds, begin = [], 0
    for i in range(count):
        end = begin + total // count + (1 if i < total % count else 0)
        bounds.append((begin, end))
        begin = end
    return bounds


PIECES_PER_WORKER = 32
"""A level is cut into about this many pieces per worker, so that evening out the workers'
shares moves few states (moving a state costs more than expanding it: it is pickled)."""


def plan_level(layout: list[tuple[int, int, int]], counts: list[list[int]], workers: int
               ) -> tuple[list[list[tuple[int, int, int]]], list[tuple[int, int, int]]]:
    """The next level's pieces, from this level's ``layout`` (``(first rank, size, worker)``
    per piece, in rank order) and the states each piece found (``counts[worker]``, in the
    order of that worker's pieces).

    A piece's children rank together, in its worker, right after the children of the piece
    before it; each worker's children are cut into pieces of at most an even share over
    ``PIECES_PER_WORKER``, and pieces move from the busiest workers to the idlest until the
    shares are even. Returns, per worker, the ``(first rank, count, target worker)`` slices
    of its winners in order, and the next level's layout.

    >>> plans, layout = plan_level([(0, 1, 0), (1, 0, 1)], [[4], [0]], 2)
    >>> plans
    [[(0, 1, 1), (1, 1, 1), (2, 1, 0), (3, 1, 0)], []]
    >>> layout
    [(0, 1, 1), (1, 1, 1), (2, 1, 0), (3, 1, 0)]
    """
    at = [0] * workers
    blocks: list[list[int]] = []
    for _, _, worker in layout:
        count = counts[worker][at[worker]]
        at[worker] += 1
        if not count:
            continue
        if blocks and blocks[-1][1] == worker:
            blocks[-1][0] += count
        else:
            blocks.append([count, worker])
    total = sum(count for count, _ in blocks)
    grain = max(1, -(-total // (workers * PIECES_PER_WORKER)))
    pieces: list[list[int]] = []  # first rank, count, source worker, target worker
    rank = 0
    for count, worker in blocks:
        for begin in range(0, count, grain):
            size = min(grain, count - begin)
            pieces.append([rank, size, worker, worker])
            rank += size
    _even_out(pieces, workers, total)
    plans: list[list[tuple[int, int, int]]] = [[] for _ in range(workers)]
    for first_rank, size, source, target in pieces:
        plans[source].append((first_rank, size, target))
    return plans, [(first_rank, size, target) for first_rank, size, _, target in pieces]


def _even_out(pieces: list[list[int]], workers: int, total: int) -> None:
    """Give pieces of the busiest workers to the idlest (changing their target) until every
    worker's share is within 2% of even, or no move makes the busiest worker less busy."""
    loads = [0] * workers
    held: list[list[list[int]]] = [[] for _ in range(workers)]
    for piece in pieces:
        loads[piece[3]] += piece[1]
        held[piece[3]].append(piece)
    enough = total / workers * 1.02
    while True:
        busiest = max(range(workers), key=loads.__getitem__)
        idlest = min(range(workers), key=loads.__getitem__)
        gap = loads[busiest] - loads[idlest]
        if loads[busiest] <= enough or not held[busiest]:
            return
        piece = min(held[busiest], key=lambda p: abs(2 * p[1] - gap))
        if piece[1] >= gap:
            return
        held[busiest].remove(piece)
        held[idlest].append(piece)
        loads[busiest] -= piece[1]
        loads[idlest] += piece[1]
        piece[3] = idlest


def _next_level(pipes: list, layout: list[tuple[int, int, int]], counts: list[list[int]]
                ) -> tuple[list[tuple[int, int, int]], list[list[bytes]]]:
    """Have the workers cut their winners into the next level's pieces and pickle those that
    move; return the next level's layout and, per worker, the parcels shipped to it."""
    plans, layout = plan_level(layout, counts, len(pipes))
    replies = _all_each(pipes, [("next", plan) for plan in plans], "shipped")
    incoming: list[list[bytes]] = [[] for _ in pipes]
    for reply in replies:
        for target, parcels in reply[1].items():
            incoming[target].extend(parcels)
    return layout, incoming


def _room_for(entries: int, capacity: int) -> int:
    """The capacity, doubling ``capacity`` as needed, that keeps ``entries`` at most 85% full.

    >>> _room_for(900, 1024), _room_for(1000, 1024)
    (2048, 2048)
    """
    while entries > capacity * 0.85:
        capacity *= 2
    return capacity


def _grow(shared: _Shared, pipes: list, capacity: int) -> None:
    """Move the table into one of ``capacity`` slots; each worker rehashes a slice of it."""
    bigger = _Shared(capacity)
    parts = len(pipes)
    _all_each(pipes, [("grow", bigger.memory.name, bigger.capacity, part, parts)
                      for part in range(parts)], "grown")
    shared.replace_by(bigger)


def _stop_at_start(explorer: Explorer, shared: _Shared, frontier: list[Entry], event: Event,
                   result: Any) -> Result:
    """The result of a search that ends at an initial state, as the plain search gives it."""
    distinct = next(i for i, entry in enumerate(frontier) if entry[1] == event.fingerprint) + 1
    if event.what == ERROR:
        label, message = event.detail.split("\n", 1)
        return result(ERROR, distinct, 0, 0, error=f"{label}: {message}",
                      trace=_trace(explorer, shared, distinct, event.fingerprint))
    prop = next(p for p in explorer._all_properties() if p.name == event.what)
    return result(VIOLATION, distinct, 0, 0, property=prop.name, property_kind=prop.kind,
                  trace=_trace(explorer, shared, distinct, event.fingerprint))


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
