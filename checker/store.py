"""The seen set: fingerprints of distinct states with parent links.

Each distinct state gets a number in order of discovery. For each number the store keeps the
state's fingerprint, the number of its parent (-1 for an initial state) and the ordinal of the
transition from the parent that reached it (for an initial state: its position in ``init``).
That is enough to rebuild any path by re-execution, without keeping states.
"""

from __future__ import annotations

from array import array

__all__ = ["SeenStore"]


class SeenStore:
    """Fingerprint → state number, plus flat arrays of fingerprints and parent links."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        """Fingerprint → state number; the search tests membership here directly."""
        self.fingerprints = array("Q")
        self.parents = array("q")
        self.ordinals = array("q")

    def __len__(self) -> int:
        return len(self.fingerprints)

    def add(self, fingerprint: int, parent: int, ordinal: int) -> int:
        """Record a state; return its new number, or -1 if the fingerprint was seen."""
        numbers = self.seen
        if fingerprint in numbers:
            return -1
        number = len(numbers)
        numbers[fingerprint] = number
        self.fingerprints.append(fingerprint)
        self.parents.append(parent)
        self.ordinals.append(ordinal)
        return number

    def number_of(self, fingerprint: int) -> int:
        """The number of the state with ``fingerprint`` (KeyError if unseen)."""
        return self.seen[fingerprint]

    def path_to(self, number: int) -> list[tuple[int, int]]:
        """``(ordinal, fingerprint)`` for each state from an initial state to ``number``."""
        path = []
        while number >= 0:
            path.append((self.ordinals[number], self.fingerprints[number]))
            number = self.parents[number]
        path.reverse()
        return path
