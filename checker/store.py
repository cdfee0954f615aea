"""The seen set: fingerprints of distinct states with parent links.

For each distinct state the store keeps its 64-bit fingerprint, its parent's fingerprint (none
for an initial state) and the ordinal of the transition from the parent that reached it (for
an initial state: its position in ``init``). That is enough to rebuild any path by
re-execution, without keeping states.

The compact store is the open-addressing table of :mod:`checker._table` in one flat buffer:
24 bytes a slot, doubled when it is 85% full, so between 28 and 56 bytes per state (39 at 10.3
million states in 2**24 slots). Without the compiled extension a dict takes its place
(about 150 bytes per state).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NEW_ONLY", "DictStore", "TableStore", "new_store"]

NEW_ONLY = 1 << 63
"""``level_base`` for :meth:`checker._table.Table.offer` that makes every present key old."""

GROW_AT = 0.85


class TableStore:
    """The seen set in a C open-addressing table over a ``bytearray``; grows by rehashing."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        from checker import _table

        self._module = _table
        self.table_full = _table.TableFull
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> Any:
        self.buffer = bytearray(self._module.required_bytes(capacity))
        self.table = self._module.Table(self.buffer, capacity)
        self.grow_at = int(capacity * GROW_AT)
        self.offer = self.table.offer
        self.set_parent = self.table.set_parent
        return self.table

    def __len__(self) -> int:
        return self.table.count()

    def grow(self) -> None:
        """Move every entry into a table twice as large."""
        old, old_buffer = self.table, self.buffer
        self._allocate(old.capacity * 2)
        self._module.rehash(old, self.table)
        old.close()
        del old_buffer

    def add(self, fingerprint: int, parent: int | None, ordinal: int) -> bool:
        """Record a state; True if it is new."""
        while True:
            try:
                fresh = self.table.offer(fingerprint, ordinal, NEW_ONLY) == 1
                break
            except self.table_full:
                self.grow()
        if fresh and parent is not None:
            self.table.set_parent(fingerprint, parent)
        if len(self) > self.grow_at:
            self.grow()
        return fresh

    def bytes_per_state(self) -> float:
        """Bytes of the table per distinct state stored."""
        return len(self.buffer) / max(len(self), 1)

    def path_to(self, fingerprint: int) -> list[tuple[int, int]]:
        """``(ordinal, fingerprint)`` for each state from an initial state to this one."""
        table = self.table
        path = []
        code: int | None = fingerprint
        while code:
            path.append((table.key(code), code))
            code = table.parent(code)
        path.reverse()
        return path


class _NeverRaised(Exception):
    """Stands for TableFull in a store that never fills up."""


class DictStore:
    """The seen set as a dict: the fallback when the C extension is not built."""

    table_full = _NeverRaised
    grow_at = 1 << 62

    def __init__(self) -> None:
        self.links: dict[int, tuple[int | None, int]] = {}

    def offer(self, fingerprint: int, ordinal: int, level_base: int) -> int:
        """1 if the state is new (recorded without a parent), else 0: the table's protocol."""
        if fingerprint in self.links:
            return 0
        self.links[fingerprint] = (None, ordinal)
        return 1

    def set_parent(self, fingerprint: int, parent: int) -> None:
        """Record the parent of a state just offered."""
        self.links[fingerprint] = (parent, self.links[fingerprint][1])

    def grow(self) -> None:
        """Nothing to do: a dict grows by itself."""

    def __len__(self) -> int:
        return len(self.links)

    def add(self, fingerprint: int, parent: int | None, ordinal: int) -> bool:
        """Record a state; True if it is new."""
        if fingerprint in self.links:
            return False
        self.links[fingerprint] = (parent, ordinal)
        return True

    def bytes_per_state(self) -> float:
        """Approximate bytes per distinct state (dict slot, key, tuple, ints)."""
        return 150.0

    def path_to(self, fingerprint: int) -> list[tuple[int, int]]:
        """``(ordinal, fingerprint)`` for each state from an initial state to this one."""
        path = []
        code: int | None = fingerprint
        while code is not None:
            parent, ordinal = self.links[code]
            path.append((ordinal, code))
            code = parent
        path.reverse()
        return path


def new_store() -> TableStore | DictStore:
    """The compact table store when the extension is built, else the dict store."""
    try:
        return TableStore()
    except ImportError:
        return DictStore()
