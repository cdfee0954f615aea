"""Stable 64-bit fingerprints of states.

A fingerprint depends only on the value of a state: the same in every process and every run,
whatever PYTHONHASHSEED is, and independent of the iteration order of sets and maps (two equal
frozensets may iterate differently). Python's own ``hash`` fails the first test for strings and
has systematic collisions (``hash(-1) == hash(-2)``), so it is not used.

The definition below is the reference. ``checker._fp`` is a C implementation of exactly the same
function; :func:`fingerprint` uses it when it was built and falls back to this module otherwise.

Definition (all arithmetic modulo 2**64, ``mix`` is the SplitMix64 finaliser, a bijection):

- ``None``, ``False``, ``True``: ``mix(TAG)``;
- ``int`` in the signed 64-bit range: ``mix((i mod 2**64) ^ mix(TAG_INT))``; a bigger int is
  hashed as the bytes of its two's complement, little-endian, with ``TAG_BIGINT``;
- ``str`` (UTF-8) and ``bytes``: FNV-1a over the bytes, seeded with the tag, then ``mix``;
- ``float``: as the int of its IEEE-754 bits, with ``TAG_FLOAT``;
- ``tuple``: ``h = mix(TAG_TUPLE + len)``, then ``h = mix(h ^ fp(e))`` for each element;
  a tuple subclass (records) starts from ``mix(fp(class name) + len)`` instead;
- ``Id``: ``mix(fp(kind) ^ mix(index + TAG_ID))``;
- ``frozenset``/``set``: ``mix(sum(mix(fp(e) ^ SET_SALT)) ^ mix(TAG_SET + len))``;
- ``dict`` (``Map``, ``Bag``): ``mix(sum(mix(fp(k) ^ mix(fp(v) + PAIR_SALT)))
  ^ mix(TAG_MAP + len))``;
- an ``enum.Enum`` member: as the tuple ``(class name, member name)``.

Sums make set and map fingerprints independent of iteration order without sorting.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import Enum
from typing import Any

from checker.values import Id

__all__ = [
    "collision_probability", "fingerprint", "fingerprint_python", "offer_successors",
    "offer_successors_python", "uses_c_extension",
]

MASK = (1 << 64) - 1
TAG_NONE = 0x01
TAG_FALSE = 0x02
TAG_TRUE = 0x03
TAG_INT = 0x04
TAG_BIGINT = 0x05
TAG_STR = 0x06
TAG_BYTES = 0x07
TAG_FLOAT = 0x08
TAG_TUPLE = 0x09
TAG_SET = 0x0A
TAG_MAP = 0x0B
TAG_ID = 0x0C
SET_SALT = 0x9E3779B97F4A7C15
PAIR_SALT = 0xC2B2AE3D27D4EB4F
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def mix(x: int) -> int:
    """SplitMix64 finaliser: a bijection on 64-bit words with good avalanche."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _fnv(data: bytes, tag: int) -> int:
    h = FNV_OFFSET ^ tag
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return mix(h)


_MIX_INT = mix(TAG_INT)
_CONSTANTS = {None: mix(TAG_NONE), False: mix(TAG_FALSE), True: mix(TAG_TRUE)}


def fingerprint_python(value: Any) -> int:
    """The reference fingerprint of ``value`` (see the module docstring)."""
    kind = type(value)
    if kind is int:
        if -(1 << 63) <= value < (1 << 63):
            return mix((value & MASK) ^ _MIX_INT)
        size = (value.bit_length() + 8) // 8
        return _fnv(value.to_bytes(size, "little", signed=True), TAG_BIGINT)
    if kind is str:
        return _fnv(value.encode("utf-8", "surrogatepass"), TAG_STR)
    if kind is bool or value is None:
        return _CONSTANTS[value]
    if kind is Id:
        return mix(fingerprint_python(value[0]) ^ mix((value[1] + TAG_ID) & MASK))
    if isinstance(value, tuple):
        if kind is tuple:
            h = mix(TAG_TUPLE + len(value))
        else:
            h = mix((fingerprint_python(kind.__name__) + len(value)) & MASK)
        for element in value:
            h = mix(h ^ fingerprint_python(element))
        return h
    if isinstance(value, (frozenset, set)):
        total = 0
        for element in value:
            total += mix(fingerprint_python(element) ^ SET_SALT)
        return mix((total & MASK) ^ mix(TAG_SET + len(value)))
    if isinstance(value, dict):
        total = 0
        for key, item in dict.items(value):
            inner = mix((fingerprint_python(item) + PAIR_SALT) & MASK)
            total += mix(fingerprint_python(key) ^ inner)
        return mix((total & MASK) ^ mix(TAG_MAP + len(value)))
    if kind is bytes:
        return _fnv(value, TAG_BYTES)
    if kind is float:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        return mix(bits ^ mix(TAG_FLOAT))
    if isinstance(value, Enum):
        return fingerprint_python((kind.__name__, value.name))
    raise TypeError(
        f"cannot fingerprint a value of type {kind.__name__} ({value!r}): states may hold "
        "None, bool, int, float, str, bytes, tuples, records, Id, frozensets, Map/Bag and enums"
    )


def offer_successors_python(
    successors: list[Any], state: Any, number: int, offer: Callable[[int, int, int], int],
    start: int, level_base: int, full: type[BaseException], function: Callable[[Any], int],
) -> tuple[int, int | None] | None:
    """Offer ``successors[start:]`` to the seen set in order, until one is new.

    ``offer(code, i, level_base)`` is called with ``code = function(successors[i])``
    (``number``, the state's own, for a successor that is ``state`` itself). Returns
    ``(i, code)`` at the first offer that answers 1, None once every successor was offered, and
    ``(i, None)`` when offering successor ``i`` raised ``full`` (retry from ``i`` after growing
    the table). The plain search runs this loop in C (``checker._fp``) when it is built.
    """
    for i in range(max(start, 0), len(successors)):
        successor = successors[i]
        code = number if successor is state else function(successor)
        try:
            answer = offer(code, i, level_base)
        except full:
            return i, None
        if type(answer) is int and answer == 1:
            return i, code
    return None


def _load_c_extension() -> Any:
    try:
        from checker import _fp
    except ImportError:
        return None
    return _fp


_fp = _load_c_extension()
fingerprint = _fp.fingerprint if _fp is not None else fingerprint_python
"""Fingerprint of a value: the C implementation when built, else the reference."""
offer_successors = _fp.offer_successors if _fp is not None else offer_successors_python
"""Offer successors to the seen set until a new one: the C loop when built, else Python."""


def uses_c_extension() -> bool:
    """Whether :func:`fingerprint` runs the compiled implementation."""
    return _fp is not None


def collision_probability(distinct_states: int, transitions: int) -> float:
    """Odds that two distinct states shared a fingerprint during a run, as TLC estimates them.

    Each of ``transitions`` lookups compares against at most ``distinct_states`` stored
    fingerprints of 64 bits, so the odds are at most ``distinct_states * transitions / 2**64``.
    """
    return min(1.0, distinct_states * transitions / float(1 << 64))
