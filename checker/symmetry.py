"""Symmetry reduction: exact canonical fingerprints over interchangeable ids.

A model lists in ``symmetric`` the kinds of :class:`~checker.values.Id` whose members are
interchangeable (acceptors, values, resource managers). Two states are equivalent when a
permutation of the ids of each symmetric kind maps one onto the other. The explorer's seen set
stores :func:`canonical_fingerprint` of a state: a 64-bit fingerprint of its equivalence class
(its orbit), the same for every member of the orbit and different for states in different
orbits (up to 64-bit collisions). The search goes on from the real states, so traces stay real
executions.

How that fingerprint is found without trying all n! permutations (docs/symmetry.md has the
full argument):

1. Each id gets a signature: the fingerprint of the state with that id replaced by a marker and
   every other symmetric id by a placeholder of its kind. Signatures only depend on where an id
   occurs, so a permutation of the state permutes the signatures with it. They are computed
   field by field and memoised per field value.
2. A state is unary when no set element or map entry holds two different symmetric ids. A
   unary state is known up to permutation from its id-free skeleton and the multiset of its
   ids' signatures, so its fingerprint is taken of exactly that: no sorting, no search.
3. Otherwise ids of a kind are sorted by signature, equal signatures forming a cell. A cell
   whose transposition and cycle leave the state's fingerprint unchanged is fully symmetric:
   every order of its ids gives the same relabelled state. While some cell is tied and not
   fully symmetric, the partition is refined (colour refinement) and each id of that cell is
   tried first in turn (individualisation); the least fingerprint of the relabelled state over
   the leaves is the answer.

The relabelling is applied inside the fingerprint walk (``checker._fp.fingerprint_permuted``
when it is built, else :func:`fingerprint_permuted_python`, which gives identical results), so
no permuted state is ever built on the hot path.

The methods here are the reference. When ``checker._sym`` is built, a C core computes the same
64-bit words for most states: the signatures of every id of a part in one walk, the unary
fingerprint, the sort and the fully-symmetric test, and the relabelled fingerprint, with the
plain fingerprints of recurring parts remembered by object. States that need individualisation
(and values of unusual types) are handed back to the Python path. ``Symmetry(...,
compiled=False)`` always takes the Python path; tests compare the two word for word.

Symmetry is only sound when every property and action treats the ids of a kind alike. Before a
search, :func:`canonical_fingerprint` explores a few hundred states without reduction and
compares properties and successors on permuted copies (fixed seed, so deterministic); a
property that names a particular id is refused with :class:`~checker.errors.InvalidInput`.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, NamedTuple

from checker.errors import InvalidInput
from checker.fingerprint import (
    MASK,
    PAIR_SALT,
    SET_SALT,
    TAG_MAP,
    TAG_SET,
    TAG_TUPLE,
    fingerprint,
    fingerprint_python,
    mix,
)
from checker.model import ACTION_INVARIANT, CONSTRAINT, INVARIANT, SOMETIMES, Model
from checker.values import Id, Record

__all__ = [
    "Symmetry",
    "canonical_fingerprint",
    "check_symmetric",
    "fingerprint_permuted",
    "fingerprint_permuted_python",
    "ids_in",
    "model_ids",
    "permute",
    "uses_c_extension",
]

_tuple_new = tuple.__new__
_ATOMS = (int, str, bool, float, bytes, type(None))

SAMPLE_STATES = 300
"""How many states (breadth-first, without reduction) the soundness check looks at."""
SAMPLE_PERMUTATIONS = 3
"""Random permutations tried on each sampled state."""
SAMPLE_TRANSITION_STATES = 60
"""Of the sampled states, how many also have their successors compared under permutation."""
SAMPLE_SEED = 20240601


def fingerprint_permuted_python(value: Any, mapping: dict[Id, Id]) -> int:
    """The fingerprint of ``value`` with each id that is a key of ``mapping`` replaced.

    The reference for ``checker._fp.fingerprint_permuted``: the walk of
    :func:`checker.fingerprint.fingerprint_python` with ids looked up in ``mapping`` (an image
    is hashed as is). Sets and maps are hashed as sums over their elements, so when ``mapping``
    merges ids (as signatures do) merged elements count twice; for a permutation the result is
    the fingerprint of the rebuilt value.
    """
    kind = type(value)
    if kind is Id:
        return fingerprint_python(mapping.get(value, value))
    if kind in _ATOMS or isinstance(value, Enum):
        return fingerprint_python(value)
    if isinstance(value, tuple):
        if kind is tuple:
            h = mix(TAG_TUPLE + len(value))
        else:
            h = mix((fingerprint_python(kind.__name__) + len(value)) & MASK)
        for element in value:
            h = mix(h ^ fingerprint_permuted_python(element, mapping))
        return h
    if isinstance(value, (frozenset, set)):
        total = 0
        for element in value:
            total += mix(fingerprint_permuted_python(element, mapping) ^ SET_SALT)
        return mix((total & MASK) ^ mix(TAG_SET + len(value)))
    if isinstance(value, dict):
        total = 0
        for key, item in dict.items(value):
            inner = mix((fingerprint_permuted_python(item, mapping) + PAIR_SALT) & MASK)
            total += mix(fingerprint_permuted_python(key, mapping) ^ inner)
        return mix((total & MASK) ^ mix(TAG_MAP + len(value)))
    return fingerprint_python(value)


def _load_c_extension() -> Any:
    try:
        from checker import _fp
    except ImportError:
        return None
    return getattr(_fp, "fingerprint_permuted", None)


def _load_c_core() -> Any:
    try:
        from checker import _sym
    except ImportError:
        return None
    return _sym.Core


_c_fingerprint_permuted = _load_c_extension()
fingerprint_permuted: Callable[[Any, dict[Id, Id]], int] = (
    _c_fingerprint_permuted or fingerprint_permuted_python
)
"""Fingerprint with ids replaced: the C implementation when built, else the reference."""

_CCore = _load_c_core()
MAX_COMPILED_IDS = 64
"""Symmetries with more movable ids than this always take the Python path."""


def uses_c_extension() -> bool:
    """Whether canonical forms are computed by the compiled ``checker._sym``."""
    return _CCore is not None


def permute(value: Any, mapping: dict[Id, Id]) -> Any:
    """``value`` rebuilt with every id that is a key of ``mapping`` replaced by its image.

    Ids are found everywhere: record fields, tuples, frozensets, Map and Bag keys and values.

    >>> from checker.values import Map
    >>> a, b = Id("n", 0), Id("n", 1)
    >>> permute(Map({a: frozenset({b})}), {a: b, b: a})
    Map({n1: frozenset({n0})})
    """
    kind = type(value)
    if kind is Id:
        return mapping.get(value, value)
    if kind in _ATOMS or isinstance(value, Enum):
        return value
    if isinstance(value, tuple):
        items = [permute(element, mapping) for element in value]
        return kind(*items) if isinstance(value, Record) else _tuple_new(kind, items)
    if isinstance(value, (frozenset, set)):
        return kind(permute(element, mapping) for element in value)
    if isinstance(value, dict):
        return kind(
            {permute(k, mapping): permute(v, mapping) for k, v in dict.items(value)}
        )
    return value


def ids_in(value: Any, kinds: Iterable[str] | None = None) -> set[Id]:
    """Every id inside ``value`` (of the given kinds, or of any kind).

    Also looks inside lists and plain dicts, so it can scan a model's attributes.
    """
    wanted = None if kinds is None else set(kinds)
    found: set[Id] = set()
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is Id:
            if wanted is None or item[0] in wanted:
                found.add(item)
            continue
        if kind in _ATOMS or isinstance(item, Enum):
            continue
        if isinstance(item, (tuple, list, frozenset, set)):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(item)
        elif isinstance(item, dict):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(dict.keys(item))
                stack.extend(dict.values(item))
    return found


_UNARY = "unary orbit"
_SIGN = 1 << 63


def _signed(value: int) -> int:
    """A 64-bit fingerprint as a signed int, which fingerprints take the fast path for."""
    return value - (_SIGN << 1) if value >= _SIGN else value


def _marker(kind: str) -> Id:
    """The id that stands for "the id whose signature is computed" (never a real id)."""
    return Id("\x00mark:" + kind, 0)


def _placeholder(kind: str, colour: int = 0) -> Id:
    """The id that stands for "some other id of this kind, of this colour"."""
    return Id("\x00any:" + kind, colour)


class Symmetry:
    """Canonical forms of the states of one model under its symmetric kinds.

    ``ids`` maps each symmetric kind to its ids, sorted by index; those are the ids that get
    permuted (a kind with a single id has nothing to permute). Ids found later in a state
    and missing here are left as they are: the reduction is then weaker, never unsound.
    """

    def __init__(
        self, kinds: Iterable[str], ids: Iterable[Id], memo_size: int = 1 << 18,
        compiled: bool = True,
    ) -> None:
        self.kinds = tuple(dict.fromkeys(kinds))
        by_kind: dict[str, list[Id]] = {kind: [] for kind in self.kinds}
        for item in sorted(set(ids)):
            if item[0] in by_kind:
                by_kind[item[0]].append(item)
        self.ids = {kind: tuple(by_kind[kind]) for kind in self.kinds}
        self._groups = [self.ids[k] for k in self.kinds if len(self.ids[k]) > 1]
        self._movable = tuple(item for group in self._groups for item in group)
        self._position = {item: number for number, item in enumerate(self._movable)}
        kind_number = {kind: number for number, kind in enumerate(self.kinds)}
        self._kind_numbers = tuple(kind_number[item[0]] for item in self._movable)
        self._hidden = {item: _placeholder(item[0]) for item in self._movable}
        self._signature_masks = []
        for item in self._movable:
            mask = dict(self._hidden)
            mask[item] = _marker(item[0])
            self._signature_masks.append(mask)
        self._memo_size = memo_size
        self._by_value: dict[int, _PartInfo] = {}
        self._element_unary: dict[Any, bool] = {}
        self._compiled = (
            compiled and _CCore is not None and 0 < len(self._movable) <= MAX_COMPILED_IDS
        )
        self._unary_possible = True
        self._core = self._new_core(0) if self._compiled else None

    @property
    def unary_possible(self) -> bool:
        """False when some state is known not to be unary: parts are then not scanned.

        Set it before :meth:`fingerprint_function`, whose function keeps the value it found.
        """
        return self._unary_possible

    @unary_possible.setter
    def unary_possible(self, value: bool) -> None:
        self._unary_possible = value
        if self._core is not None:
            self._core.unary_possible = value

    @property
    def compiled(self) -> bool:
        """Whether canonical fingerprints come from ``checker._sym`` (else the Python path)."""
        return self._compiled

    def _new_core(self, cache_size: int) -> Any:
        """A ``checker._sym.Core`` for these ids: the same canonical fingerprints, in C.

        It is given the fingerprints the Python path would compute (of each id, placeholder,
        marker and kind number) and :meth:`_reference` for the states it leaves to Python.
        """
        hidden = self._hidden
        return _CCore(
            movable=self._movable,
            id_fps=tuple(fingerprint(item) for item in self._movable),
            hidden_fps=tuple(fingerprint(hidden[item]) for item in self._movable),
            marker_fps=tuple(fingerprint(_marker(item[0])) for item in self._movable),
            kind_fps=tuple(fingerprint(number) for number in self._kind_numbers),
            group_sizes=tuple(len(group) for group in self._groups),
            unary_tag_fp=fingerprint(_UNARY),
            fallback=self._reference,
            memo_size=self._memo_size,
            cache_size=cache_size,
            unary_possible=self._unary_possible,
        )

    def _reference(self, state: Any) -> int:
        """The canonical fingerprint by the Python path (what the C core leaves to it)."""
        return self._canonical(state, fingerprint(state))

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in self.ids.items())
        return f"Symmetry({sizes})"

    def canonical_fingerprint(self, state: Any) -> int:
        """A 64-bit fingerprint of ``state``'s orbit: equal for the states of one orbit only.

        For a state that is not unary it is the fingerprint of the canonical representative
        (:meth:`canonical_state`); for a unary one, of the orbit's skeleton and views.
        """
        if self._core is not None:
            return self._core.canonical(state)
        return self._canonical(state, fingerprint(state))

    def fingerprint_function(self, cache_size: int = 1 << 18) -> Callable[[Any], int]:
        """:meth:`canonical_fingerprint` behind a cache keyed by the plain fingerprint.

        Breadth-first search meets the same real state many times (once per transition into
        it); the cache answers those repeats with one plain fingerprint and a lookup. The
        Python cache is emptied when it holds ``cache_size`` entries; the compiled one has
        ``cache_size`` slots (rounded down to a power of two), a new entry replacing the one
        in its slot. Either way its memory is bounded.
        """
        if self._compiled:
            return self._new_core(cache_size).fingerprint
        cache: dict[int, int] = {}
        canonical = self._canonical
        plain = fingerprint

        def canonical_fingerprint(state: Any) -> int:
            key = plain(state)
            value = cache.get(key)
            if value is None:
                if len(cache) >= cache_size:
                    cache.clear()
                value = cache[key] = canonical(state, key)
            return value

        return canonical_fingerprint

    def canonical_state(self, state: Any) -> Any:
        """The canonical representative itself (for tests and debugging; never on the hot path)."""
        mapping = self.canonical_permutation(state)
        return state if mapping is None else permute(state, mapping)

    def canonical_permutation(self, state: Any) -> dict[Id, Id] | None:
        """A permutation taking ``state`` to its canonical representative (None: identity)."""
        return self._permutation(state, fingerprint(state))

    def _canonical(self, state: Any, base: int) -> int:
        if not self._movable:
            return base
        parts = self._parts(state)
        skeleton = []
        vectors = [self._kind_numbers]
        unary = True
        for part in parts:
            skeleton.append(part.hidden)
            if part.vector is not None:
                vectors.append(part.vector)
                unary = unary and part.unary
        if unary:
            # A unary state is known up to permutation from the multiset of its ids' views
            # (docs/symmetry.md): hash that multiset as a sum, which needs no sorting.
            views = _signed(sum(map(fingerprint, zip(*vectors))) & MASK)
            return fingerprint((_UNARY, type(state).__name__, tuple(skeleton), views))
        mapping = self._permutation(state, base, parts)
        return base if mapping is None else fingerprint_permuted(state, mapping)

    def _permutation(
        self, state: Any, base: int, parts: list[_PartInfo] | None = None
    ) -> dict[Id, Id] | None:
        """Sort the ids by signature; settle ties as the module docstring explains."""
        if not self._movable:
            return None
        if parts is None:
            parts = self._parts(state)
        vectors = [part.vector for part in parts if part.vector is not None]
        if not vectors:
            return None
        signatures = vectors[0] if len(vectors) == 1 else list(zip(*vectors))
        cells = self._cells(signatures)
        if len(cells) < len(self._movable) and not all(
            part.unary for part in parts if part.vector is not None
        ):
            present = set().union(*(part.present for part in parts))
            if self._asymmetric_cell(state, base, cells, present) is not None:
                return self._search(state, base, cells, present)
        return self._relabelling(cells)

    def _cells(self, signatures: Any) -> list[list[Id]]:
        """The ids of each kind sorted by signature, with equal signatures in one cell."""
        cells: list[list[Id]] = []
        start = 0
        for group in self._groups:
            end = start + len(group)
            previous = None
            for signature, item in sorted(zip(signatures[start:end], group)):
                if signature == previous:
                    cells[-1].append(item)
                else:
                    cells.append([item])
                    previous = signature
            start = end
        return cells

    def _parts(self, state: Any) -> list[_PartInfo]:
        """What the signatures need from each part of ``state``.

        A state that is a record or tuple is split into its fields, each looked up in a memo
        by its fingerprint: a field value recurs in many states (a successor shares most
        fields with its parent), so most lookups hit.
        """
        parts = state if isinstance(state, tuple) and type(state) is not Id else (state,)
        return [self._part_info(part) for part in parts]

    def _part_info(self, part: Any) -> _PartInfo:
        """Signatures of the movable ids in one part of a state, memoised by fingerprint."""
        key = fingerprint(part)
        info = self._by_value.get(key)
        if info is not None:
            return info
        hidden = fingerprint_permuted(part, self._hidden)
        if hidden == key:
            info = _PartInfo(_signed(key), None, True, frozenset())
        else:
            hidden = _signed(hidden)
            vector = tuple(
                (value := fingerprint_permuted(part, mask)) - ((value >> 63) << 64)
                for mask in self._signature_masks
            )
            present = frozenset(
                item for item, signature in zip(self._movable, vector) if signature != hidden
            )
            unary = self.unary_possible and self._part_is_unary(part)
            info = _PartInfo(hidden, vector, unary, present)
        if len(self._by_value) >= self._memo_size:
            self._by_value.clear()
        self._by_value[key] = info
        return info

    def _part_is_unary(self, part: Any) -> bool:
        """Whether ``part`` is unary, looking at the elements of a set or map one by one.

        Elements recur across states far more than whole sets do, so each element's verdict
        is memoised.
        """
        if isinstance(part, (frozenset, set)):
            elements: Iterable[Any] = part
        elif isinstance(part, dict):
            elements = dict.items(part)
        else:
            return _scan(part, self._position, set())
        verdicts = self._element_unary
        for element in elements:
            try:
                verdict = verdicts.get(element)
            except TypeError:  # an unhashable element (a set in a map) is scanned each time
                inner: set[Id] = set()
                if not (_scan(element, self._position, inner) and len(inner) < 2):
                    return False
                continue
            if verdict is None:
                inner = set()
                verdict = _scan(element, self._position, inner) and len(inner) < 2
                if len(verdicts) >= self._memo_size:
                    verdicts.clear()
                verdicts[element] = verdict
            if not verdict:
                return False
        return True

    def is_unary(self, state: Any) -> bool:
        """Whether no set element or map entry of ``state`` holds two different movable ids."""
        return _scan(state, self._position, set())

    def _relabelling(self, cells: list[list[Id]]) -> dict[Id, Id] | None:
        """The permutation sending the ids, in cell order, to the ids of their kind in order.

        Cells come kind by kind in the order of ``_movable``, so position i of the ordered ids
        goes to ``_movable[i]``. None when that is the identity.
        """
        order = tuple(item for cell in cells for item in cell)
        return None if order == self._movable else dict(zip(order, self._movable))

    def _asymmetric_cell(
        self, state: Any, base: int, cells: list[list[Id]], present: set[Id]
    ) -> int | None:
        """The position of the first cell of several ids that is not fully symmetric."""
        for index, cell in enumerate(cells):
            if len(cell) > 1 and not present.isdisjoint(cell):
                if not self._fully_symmetric(state, base, cell):
                    return index
        return None

    @staticmethod
    def _fully_symmetric(state: Any, base: int, cell: list[Id]) -> bool:
        """Whether every permutation of ``cell`` leaves ``state`` unchanged.

        A transposition and a full cycle of the cell generate all its permutations, so two
        fingerprint comparisons settle it.
        """
        first, second = cell[0], cell[1]
        if fingerprint_permuted(state, {first: second, second: first}) != base:
            return False
        if len(cell) == 2:
            return True
        cycle = dict(zip(cell, cell[1:] + cell[:1]))
        return fingerprint_permuted(state, cycle) == base

    def _search(
        self, state: Any, base: int, cells: list[list[Id]], present: set[Id]
    ) -> dict[Id, Id] | None:
        """Individualisation and refinement: the leaf relabelling with the least fingerprint.

        Every step depends only on signatures, which a permutation of the state carries along,
        so two states of one orbit reach the same set of relabelled states and the same least.
        """
        cells = self._refine(state, cells)
        index = self._asymmetric_cell(state, base, cells, present)
        if index is None:
            return self._relabelling(cells)
        cell = cells[index]
        best: tuple[int, dict[Id, Id] | None] | None = None
        for chosen in cell:
            rest = [item for item in cell if item != chosen]
            branch = cells[:index] + [[chosen], rest] + cells[index + 1:]
            mapping = self._search(state, base, branch, present)
            value = base if mapping is None else fingerprint_permuted(state, mapping)
            if best is None or value < best[0]:
                best = (value, mapping)
        assert best is not None
        return best[1]

    @staticmethod
    def _refine(state: Any, cells: list[list[Id]]) -> list[list[Id]]:
        """Split cells by signatures that see the other ids' cells, until nothing splits."""
        while True:
            colours: dict[Id, Id] = {}
            for number, cell in enumerate(cells):
                colour = _placeholder(cell[0][0], number + 1)
                for item in cell:
                    colours[item] = colour
            refined: list[list[Id]] = []
            for cell in cells:
                if len(cell) == 1:
                    refined.append(cell)
                    continue
                marker = _marker(cell[0][0])
                ranked = []
                for item in cell:
                    colour = colours[item]
                    colours[item] = marker
                    ranked.append((fingerprint_permuted(state, colours), item))
                    colours[item] = colour
                ranked.sort()
                previous = None
                for signature, item in ranked:
                    if signature == previous:
                        refined[-1].append(item)
                    else:
                        refined.append([item])
                        previous = signature
            if len(refined) == len(cells):
                return refined
            cells = refined


class _PartInfo(NamedTuple):
    """What canonical forms need to know about one part (field) of a state.

    ``hidden``: its fingerprint with every movable id replaced by a placeholder of its kind;
    ``vector``: the signature of each movable id in it (None when it holds none);
    ``unary``: whether no set element or map entry in it holds two different movable ids;
    ``present``: the movable ids it holds.
    """

    hidden: int
    vector: tuple[int, ...] | None
    unary: bool
    present: frozenset[Id]


def _scan(value: Any, movable: dict[Id, int], present: set[Id]) -> bool:
    """Add the movable ids inside ``value`` to ``present``; return whether ``value`` is unary.

    Unary: no element of a set and no entry of a map holds two different movable ids. In a
    unary state, two ids with equal signatures can be swapped without changing the state
    (docs/symmetry.md), so ties need no further check.
    """
    kind = type(value)
    if kind is Id:
        if value in movable:
            present.add(value)
        return True
    if kind in _ATOMS or isinstance(value, Enum):
        return True
    unary = True
    if isinstance(value, tuple):
        for element in value:
            unary = _scan(element, movable, present) and unary
    elif isinstance(value, (frozenset, set)):
        for element in value:
            inner: set[Id] = set()
            unary = _scan(element, movable, inner) and unary and len(inner) < 2
            present |= inner
    elif isinstance(value, dict):
        for key, item in dict.items(value):
            inner = set()
            unary = _scan(key, movable, inner) and unary
            unary = _scan(item, movable, inner) and unary and len(inner) < 2
            present |= inner
    return unary


def model_ids(model: Model, kinds: Iterable[str]) -> set[Id]:
    """The ids of ``kinds`` a model names before any search: in its attributes (set by
    ``setup``), its actions' fixed argument domains and its initial states."""
    kinds = tuple(kinds)
    found = ids_in(list(vars(model).values()), kinds)
    for spec in model.actions():
        if spec.static_args is not None:
            found |= ids_in(spec.domains, kinds)
    found |= ids_in(model.initial_states(), kinds)
    return found


def _kind_warning(model: Model, kind: str, present: set[str]) -> str:
    others = ", ".join(sorted(present)) or "none"
    return (
        f"checker: warning: model {model.name} declares symmetric kind {kind!r} but no "
        f"initial state, action domain or attribute holds an Id of that kind; check the "
        f"spelling (Id kinds found: {others})"
    )


_warned: set[tuple[str, str]] = set()


def canonical_fingerprint(
    model: Model, *, check: bool = True, warn: bool = True, compiled: bool = True
) -> Callable[[Any], int]:
    """The fingerprint function for searching ``model`` under its declared symmetry.

    It maps a state to a 64-bit fingerprint of its orbit under the permutations of the ids of
    each kind in ``model.symmetric`` (the kinds compose): equal exactly for the states of one
    orbit (up to 64-bit collisions). With
    ``check`` (the default) a short search without reduction first makes sure every property
    and action is symmetric, raising :class:`InvalidInput` otherwise. With ``warn`` a declared
    kind of which the model holds no id is reported on stderr (once per process).
    ``compiled=False`` takes the pure-Python path even where ``checker._sym`` is built (the
    same answers, slower; for comparison). The same model and arguments always give the same
    function, so parallel workers agree.
    """
    declared = getattr(model, "symmetric", ()) or ()
    if isinstance(declared, str):
        raise InvalidInput(
            f"model {model.name}: symmetric must be a tuple of Id kinds, e.g. "
            f"symmetric = ({declared!r},), not a string"
        )
    kinds = tuple(declared)
    try:
        found = model_ids(model, kinds)
        sample = _sample_states(model) if check else []
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - the search reports model errors with a trace
        return Symmetry(kinds, (), compiled=compiled).fingerprint_function()
    for state in sample:
        found |= ids_in(state, kinds)
    symmetry = Symmetry(kinds, found, compiled=compiled)
    symmetry.unary_possible = all(symmetry.is_unary(state) for state in sample)
    if warn:
        present_kinds = {item[0] for item in found}
        for kind in kinds:
            if kind not in present_kinds and (model.name, kind) not in _warned:
                _warned.add((model.name, kind))
                every_kind = {item[0] for item in ids_in(list(vars(model).values()))}
                sys.stderr.write(_kind_warning(model, kind, every_kind) + "\n")
    if check:
        check_symmetric(model, symmetry, sample)
    return symmetry.fingerprint_function()


def _sample_states(model: Model, limit: int = SAMPLE_STATES) -> list[Any]:
    """The first ``limit`` states of a breadth-first search without reduction.

    States outside a constraint are kept but not expanded, as the explorer does. A model that
    raises ends the sample early: the real search reports the error with a trace.
    """
    from checker.explore import successors

    actions = model.actions()
    constraints = [p.check for p in model.properties() if p.kind == CONSTRAINT]
    states: list[Any] = []
    seen: set[int] = set()
    for state in model.initial_states():
        if fingerprint(state) not in seen and len(states) < limit:
            seen.add(fingerprint(state))
            states.append(state)
    position = 0
    try:
        while position < len(states) and len(states) < limit:
            state = states[position]
            position += 1
            if not all(check(state) for check in constraints):
                continue
            for _spec, _args, successor in successors(state, actions):
                key = fingerprint(successor)
                if key not in seen:
                    seen.add(key)
                    states.append(successor)
                    if len(states) >= limit:
                        break
    except Exception:  # noqa: BLE001 - see the docstring
        return states
    return states


def _random_permutations(symmetry: Symmetry, rng: random.Random, count: int) -> list[dict]:
    mappings = []
    for _ in range(count):
        mapping: dict[Id, Id] = {}
        for group in symmetry.ids.values():
            images = list(group)
            rng.shuffle(images)
            mapping.update(zip(group, images))
        mappings.append(mapping)
    return mappings


def _show_mapping(mapping: dict[Id, Id]) -> str:
    moved = [f"{a}->{b}" for a, b in sorted(mapping.items()) if a != b]
    return ", ".join(moved) or "identity"


def _outcome(check: Callable[..., Any], *args: Any) -> Any:
    try:
        return bool(check(*args))
    except Exception as exc:  # noqa: BLE001 - a raise is an outcome to compare
        return type(exc)


def check_symmetric(model: Model, symmetry: Symmetry, sample: list[Any]) -> None:
    """Refuse symmetry reduction if a property or action treats ids of a kind differently.

    Each sampled state is compared with a few permuted copies (fixed-seed random
    permutations of every symmetric kind): every invariant, ``sometimes`` property and
    constraint must give the same answer on both; for the first states, every action
    invariant must agree on each transition and its permuted copy, and the successors of the
    permuted state must be the permuted successors. Raises :class:`InvalidInput` naming the
    first property or action that differs.
    """
    from checker.explore import successors

    if not any(len(group) > 1 for group in symmetry.ids.values()):
        return
    rng = random.Random(SAMPLE_SEED)
    properties = model.properties()
    state_props = [p for p in properties if p.kind in (INVARIANT, SOMETIMES, CONSTRAINT)]
    action_props = [p for p in properties if p.kind == ACTION_INVARIANT]
    actions = model.actions()
    kinds = ", ".join(k for k, group in symmetry.ids.items() if len(group) > 1)
    for position, state in enumerate(sample):
        mappings = _random_permutations(symmetry, rng, SAMPLE_PERMUTATIONS)
        for mapping in mappings:
            permuted = permute(state, mapping)
            for prop in state_props:
                if _outcome(prop.check, state) != _outcome(prop.check, permuted):
                    raise InvalidInput(
                        f"{prop.kind} {prop.name} of model {model.name} is not symmetric in "
                        f"{kinds}: it differs between a reachable state and its copy with "
                        f"{_show_mapping(mapping)}, so it probably names a particular id. "
                        "Make it treat all ids of a kind alike, or run with --no-symmetry"
                    )
        if position >= SAMPLE_TRANSITION_STATES:
            continue
        try:
            moves = list(successors(state, actions))
        except Exception:  # noqa: BLE001 - the search reports model errors with a trace
            continue
        for mapping in mappings[:1]:
            _compare_transitions(model, state, moves, mapping, actions, action_props, kinds)


def _compare_transitions(
    model: Model, state: Any, moves: list, mapping: dict[Id, Id], actions: list,
    action_props: list, kinds: str,
) -> None:
    """The successors of the permuted state must be the permuted successors, per action."""
    from checker.explore import successors

    permuted = permute(state, mapping)
    try:
        permuted_moves = list(successors(permuted, actions))
    except Exception as exc:  # noqa: BLE001 - raising only on the copy is an asymmetry
        raise InvalidInput(
            f"model {model.name} is not symmetric in {kinds}: an action raises "
            f"{type(exc).__name__} in the copy of a reachable state with "
            f"{_show_mapping(mapping)} but not in the state itself. Make every action treat "
            "all ids of a kind alike, or run with --no-symmetry"
        ) from None
    expected: dict[str, set[int]] = {}
    for spec, _args, successor in moves:
        expected.setdefault(spec.name, set()).add(fingerprint(permute(successor, mapping)))
        for prop in action_props:
            if _outcome(prop.check, state, successor) != _outcome(
                prop.check, permuted, permute(successor, mapping)
            ):
                raise InvalidInput(
                    f"action invariant {prop.name} of model {model.name} is not symmetric in "
                    f"{kinds}: it differs between a transition and its copy with "
                    f"{_show_mapping(mapping)}, so it probably names a particular id. "
                    "Make it treat all ids of a kind alike, or run with --no-symmetry"
                )
    found: dict[str, set[int]] = {}
    for spec, _args, successor in permuted_moves:
        found.setdefault(spec.name, set()).add(fingerprint(successor))
    for name in sorted(set(expected) | set(found)):
        if expected.get(name, set()) != found.get(name, set()):
            raise InvalidInput(
                f"action {name} of model {model.name} is not symmetric in {kinds}: from the "
                f"copy of a reachable state with {_show_mapping(mapping)} it does not reach "
                "the copies of the states it reaches from the state itself, so it probably "
                "names a particular id. Make it treat all ids of a kind alike, or run with "
                "--no-symmetry"
            )
