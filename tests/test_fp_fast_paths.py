"""The C fingerprint's shortcuts (last record and map class, ASCII text) match the reference."""

import collections

from checker import Map, Record
from checker.fingerprint import fingerprint, fingerprint_python


class Left(Record):
    x: object


class Right(Record):
    x: object


class PlainDict(dict):
    pass


Pair = collections.namedtuple("Pair", "x")


def test_alternating_record_tuple_and_map_classes_hash_like_the_reference():
    values = [Left(1), Pair(1), Right(1), (1,), Left(Map({"a": 1})), Map({"a": 1}),
              PlainDict(a=1), {"a": 1}, Right(PlainDict(a=1)), Pair(Map({"b": "é"}))]
    for _ in range(3):
        for value in values:
            assert fingerprint(value) == fingerprint_python(value)


def test_a_record_class_built_after_another_was_freed_hashes_like_the_reference():
    for round_number in range(20):
        cls = type(Record)(f"Temporary{round_number}", (Record,), {"__annotations__": {"x": int}})
        assert fingerprint(cls(round_number)) == fingerprint_python(cls(round_number))
        del cls
        other = type(f"NotARecord{round_number}", (tuple,), {})
        assert fingerprint(other((round_number,))) == fingerprint_python(other((round_number,)))


def test_ascii_and_other_text_hash_like_the_reference():
    for text in ["", "working", "a" * 100, "é", "\ud800", "mixé\U0001f600", "\x00\x7f"]:
        assert fingerprint(text) == fingerprint_python(text)


def test_strings_remembered_by_address_hash_like_the_reference_after_being_freed():
    """Strings nested in a value are cached by address; new strings that take the addresses of
    freed ones (here thousands, more than the cache holds) must not find their fingerprints."""
    for round_number in range(3):
        texts = ["".join(chr(97 + (i * 7 + j + round_number) % 26) for j in range(6))
                 for i in range(20_000)]
        for text in texts:
            assert fingerprint((text, 1)) == fingerprint_python((text, 1))
        for text in texts[:50]:
            assert fingerprint(Left(text)) == fingerprint_python(Left(text))
        del texts
