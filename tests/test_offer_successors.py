"""offer_successors: the plain search's loop over successors, in C and in Python, alike."""

import enum
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from checker import Model, action, action_invariant, check, invariant
from checker import fingerprint as fingerprint_module
from checker.fingerprint import fingerprint, offer_successors_python
from checker.parallel import available as parallel_available
from checker.store import NEW_ONLY

IMPLEMENTATIONS = [offer_successors_python]
if fingerprint_module.uses_c_extension():
    IMPLEMENTATIONS.append(fingerprint_module.offer_successors)


class Full(Exception):
    """Stands for the table's TableFull."""


class FakeTable:
    """Answers offers like the seen set, records them, and is full once at one call."""

    def __init__(self, full_at: int | None = None) -> None:
        self.seen: set[int] = set()
        self.calls: list[tuple[int, int, int]] = []
        self.full_at = full_at

    def offer(self, code: int, ordinal: int, level_base: int) -> int:
        if len(self.calls) == self.full_at:
            self.full_at = None
            raise Full("full")
        self.calls.append((code, ordinal, level_base))
        if code in self.seen:
            return 0
        self.seen.add(code)
        return 1


def _drain(offer_successors, successors, state, number, table, function=fingerprint):
    """Every answer until the end, growing (here: nothing to do) on Full."""
    answers, start = [], 0
    while True:
        hit = offer_successors(successors, state, number, table.offer, start, NEW_ONLY, Full,
                               function)
        answers.append(hit)
        if hit is None:
            return answers
        start = hit[0] if hit[1] is None else hit[0] + 1


@pytest.mark.parametrize("offer_successors", IMPLEMENTATIONS)
def test_each_new_successor_is_returned_with_its_fingerprint_in_order(offer_successors):
    state = ("s", 0)
    successors = [("a", 1), state, ("a", 1), ("b", frozenset({2})), state]
    table = FakeTable()
    table.seen.add(7)  # the state's own number: not new
    answers = _drain(offer_successors, successors, state, 7, table)
    assert answers == [(0, fingerprint(("a", 1))), (3, fingerprint(("b", frozenset({2})))), None]
    assert table.calls == [(fingerprint(("a", 1)), 0, NEW_ONLY), (7, 1, NEW_ONLY),
                           (fingerprint(("a", 1)), 2, NEW_ONLY),
                           (fingerprint(("b", frozenset({2}))), 3, NEW_ONLY), (7, 4, NEW_ONLY)]


@pytest.mark.parametrize("offer_successors", IMPLEMENTATIONS)
def test_a_full_table_stops_at_the_successor_not_offered(offer_successors):
    successors = [1, 2, 3, 2]
    table = FakeTable(full_at=2)
    answers = _drain(offer_successors, successors, 0, 99, table)
    assert answers == [(0, fingerprint(1)), (1, fingerprint(2)), (2, None), (2, fingerprint(3)),
                       None]
    assert [ordinal for _, ordinal, _ in table.calls] == [0, 1, 2, 3]


@pytest.mark.parametrize("offer_successors", IMPLEMENTATIONS)
def test_another_fingerprint_function_is_called_for_each_successor(offer_successors):
    answers = _drain(offer_successors, [3, 4, 3], 0, 99, FakeTable(), function=lambda v: v * 10)
    assert answers == [(0, 30), (1, 40), None]


@pytest.mark.parametrize("offer_successors", IMPLEMENTATIONS)
def test_an_unfingerprintable_successor_raises_after_the_ones_before_it(offer_successors):
    table = FakeTable()
    with pytest.raises(TypeError, match="cannot fingerprint"):
        offer_successors([1, [2]], 0, 99, table.offer, 1, NEW_ONLY, Full, fingerprint)
    assert table.calls == []
    table.seen.add(2)
    with pytest.raises(ZeroDivisionError):
        offer_successors([1, 2], 0, 99, table.offer, 0, NEW_ONLY, Full, lambda v: 2 // (2 - v))
    assert table.calls == [(2, 0, NEW_ONLY)]


def _real_table(capacity: int):
    """A compiled seen set of ``capacity`` slots."""
    from checker import _table

    return _table.Table(bytearray(_table.required_bytes(capacity)), capacity)


direct_paths = pytest.mark.skipif(
    not fingerprint_module.uses_c_extension() or not parallel_available(),
    reason="the C extensions checker._fp and checker._table are not built")


def _answers(offer_successors, successors, state, number, table, then="next"):
    """Every answer until the end, calling again from the successor after each new one
    (``then="next"``, as the search does), from the first successor again (``"again"``), or
    not at all (``"stop"``: the search stops at a new state that breaks a property); an
    exception ends the answers with its message."""
    answers, start = [], 0
    while True:
        try:
            hit = offer_successors(successors, state, number, table.offer, start, NEW_ONLY,
                                   Full, fingerprint)
        except Exception as exc:
            return answers + [f"{type(exc).__name__}: {exc}"]
        answers.append(hit)
        if hit is None or then == "stop":
            return answers
        start = hit[0] + 1 if then == "next" else 0


lists_of_successors = st.lists(
    st.tuples(st.lists(st.one_of(st.integers(0, 60), st.just("state")), max_size=80),
              st.none() | st.integers(0, 79), st.sampled_from(["next", "again", "stop"])),
    max_size=8)
"""Per state: its successors (ints, or the state itself), where one that cannot be
fingerprinted goes (if anywhere), and how the caller goes on after a new state."""


@direct_paths
@settings(max_examples=80, deadline=None)
@given(lists_of_successors)
@example([(list(range(70)), None, "again")])
def test_offers_straight_into_a_table_equal_offers_through_its_method(states):
    # The direct path fingerprints up to 32 successors ahead of their offers and keeps those
    # codes between the calls for one state: longer lists, a successor that raises after new
    # ones, a call from another start and a state left after its first new successor all
    # have to come out as the offers one at a time do.
    offer_successors = fingerprint_module.offer_successors
    direct, called = _real_table(1024), _real_table(1024)
    for number, (successors, bad, then) in enumerate(states):
        state = ("s", number)
        successors = [state if s == "state" else s for s in successors]
        if bad is not None and bad < len(successors):
            successors[bad] = [bad]
        code = fingerprint(state)
        assert (_answers(offer_successors, successors, state, code, direct, then)
                == _answers(offer_successors, successors, state, code, _through(called.offer),
                            then))
    assert sorted(direct.items()) == sorted(called.items())


class Flaky(enum.Enum):
    """A value whose fingerprint raises, and counts how often it was tried."""

    A = 1

    @property
    def name(self):
        Flaky.tries += 1
        raise RuntimeError("no name today")


@direct_paths
def test_each_successor_is_fingerprinted_once_even_when_that_raises_after_new_ones():
    offer_successors = fingerprint_module.offer_successors
    for table in (_real_table(64), _through(_real_table(64).offer)):
        Flaky.tries = 0
        answers = _answers(offer_successors, [1, 2, 1, Flaky.A, 3], 0, 99, table)
        assert answers == [(0, fingerprint(1)), (1, fingerprint(2)),
                           "RuntimeError: no name today"]
        assert Flaky.tries == 1


def _through(offer) -> SimpleNamespace:
    """A table whose offer is ``offer`` behind a Python function, so that offer_successors
    calls it."""
    return SimpleNamespace(offer=lambda code, ordinal, base: offer(code, ordinal, base))


@direct_paths
def test_a_full_table_stops_the_direct_offers_where_the_called_ones_stop():
    from checker._table import TableFull

    offer_successors = fingerprint_module.offer_successors
    runs = []
    for through in (False, True):
        table = _real_table(16)  # holds 14 entries
        offer = _through(table.offer).offer if through else table.offer
        answers, start = [], 0
        while (hit := offer_successors(list(range(20)), -1, 5, offer, start, NEW_ONLY,
                                       TableFull, fingerprint))[1] is not None:
            answers.append(hit)
            start = hit[0] + 1
        runs.append(answers + [hit])
        assert table.count() == 14
        table.close()
        with pytest.raises(ValueError, match="closed"):
            offer_successors([1], 0, 5, table.offer, 0, NEW_ONLY, TableFull, fingerprint)
    assert runs[0] == runs[1] == [(i, fingerprint(i)) for i in range(14)] + [(14, None)]


class Fan(Model):
    """One state with more successors than the seen set first holds: it fills mid-state."""

    deadlock = False

    @action(over=tuple(range(1, 70_001)))
    def spread(self, s, k):
        if s == 0:
            return k

    @invariant
    def below_limit(self, s):
        return s != 65_000

    def init(self):
        return 0


class FanChecked(Fan):
    """The same with an action invariant, which the plain search checks one successor at a
    time (the loop without offer_successors)."""

    @action_invariant
    def grows(self, s, t):
        return t > s


def test_a_state_that_fills_the_seen_set_gives_the_same_result_in_both_loops():
    fast, slow = check(Fan()), check(FanChecked())
    assert (fast.verdict, fast.property, fast.distinct_states, fast.transitions) == (
        "violation", "below_limit", 65_001, 65_000)
    assert (slow.verdict, slow.property, slow.distinct_states, slow.transitions) == (
        fast.verdict, fast.property, fast.distinct_states, fast.transitions)
    assert [step.state for step in fast.trace.steps] == [step.state for step in slow.trace.steps]
