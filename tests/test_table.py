"""checker._table: the lock-free fingerprint table of the parallel breadth-first search.

The single-process tests compare every operation against a dict model; the concurrency test
has several spawned processes offer overlapping fingerprints into one SharedMemory table and
checks that each fingerprint ends up once, with the smallest key any process offered.
"""

import multiprocessing
import random
from array import array
from multiprocessing import shared_memory

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_table = pytest.importorskip(
    "checker._table", reason="C extension checker._table not built (pip install -e .)"
)

Table = _table.Table
TableFull = _table.TableFull
U64 = 2**64 - 1
LEVEL_SHIFT = 54


def key_of(level, rank, ordinal):
    return (level << LEVEL_SHIFT) | (rank << 16) | ordinal


def canon(fp):
    """The table identifies fingerprint 0 with ZERO_ALIAS and reports both as 0."""
    return 0 if fp == _table.ZERO_ALIAS else fp


def new_table(capacity):
    return Table(bytearray(_table.required_bytes(capacity)), capacity)


class Model:
    """Reference semantics: canonical fp -> [key, parent]."""

    def __init__(self):
        self.entries = {}

    def offer(self, fp, key, level_base):
        entry = self.entries.get(canon(fp))
        if entry is None:
            self.entries[canon(fp)] = [key, None]
            return 1
        if entry[0] < level_base:
            return 0
        if entry[0] <= key:
            return 2
        entry[0] = key
        return 1

    def add(self, fp):
        if canon(fp) in self.entries:
            return False
        self.entries[canon(fp)] = [0, None]
        return True

    def items(self):
        return [(fp, key, parent) for fp, (key, parent) in self.entries.items()]


fps = st.one_of(
    st.sampled_from([0, 1, U64, _table.ZERO_ALIAS, 2**63]),
    st.integers(0, 40),
    st.integers(0, U64),
)
offers = st.tuples(fps, st.integers(0, 3), st.integers(0, 2**LEVEL_SHIFT - 1))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), offers),
        st.tuples(st.just("add"), fps),
        st.tuples(st.just("parent"), st.tuples(fps, fps)),
    ),
    max_size=50,
)


# -- layout and construction ---------------------------------------------------------------


def test_layout():
    assert _table.slot_bytes() == _table.SLOT_BYTES == 24
    assert _table.required_bytes(1024) == _table.HEADER_BYTES + 1024 * 24
    t = new_table(1024)
    assert (t.capacity, t.limit, t.count(), len(t)) == (1024, 921, 0, 0)
    assert list(t.items()) == []


@pytest.mark.parametrize("capacity", [0, -4, 3, 12, 1000])
def test_capacity_must_be_power_of_two(capacity):
    with pytest.raises(ValueError, match="power of two"):
        Table(bytearray(100_000), capacity)
    with pytest.raises(ValueError, match="power of two"):
        _table.required_bytes(capacity)


def test_buffer_checks():
    with pytest.raises(ValueError, match="too small"):
        Table(bytearray(_table.required_bytes(16) - 1), 16)
    with pytest.raises(BufferError):
        Table(bytes(_table.required_bytes(16)), 16)
    with pytest.raises(ValueError, match="aligned"):
        Table(memoryview(bytearray(_table.required_bytes(16) + 8))[1:], 16)
    buf = bytearray(_table.required_bytes(32))
    Table(buf, 16)
    with pytest.raises(ValueError, match="capacity 16, not 32"):
        Table(buf, 32)


def test_close_releases_the_buffer():
    buf = bytearray(_table.required_bytes(8))
    with Table(buf, 8) as t:
        t.add(5)
        with pytest.raises(BufferError):
            buf.extend(b"x")  # exported while the table is open
    buf.extend(b"x")
    with pytest.raises(ValueError, match="closed"):
        t.key(5)
    t.close()  # idempotent
    assert Table(buf, 8).key(5) == 0  # the entry lives in the buffer, not the object


def test_argument_checks():
    t = new_table(8)
    with pytest.raises(OverflowError):
        t.offer(-1, 0, 0)
    with pytest.raises(OverflowError):
        t.offer(1, 2**64, 0)
    with pytest.raises(TypeError):
        t.offer(1, 2)
    with pytest.raises(TypeError):
        t.add("1")
    with pytest.raises(ValueError, match="reserved"):
        t.offer(1, U64, 0)
    with pytest.raises(KeyError):
        t.set_parent(1, 2)
    assert t.count() == 0


# -- single-process semantics --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(operations)
def test_matches_dict_model(ops):
    t, model = new_table(64), Model()  # at most 50 entries: below the limit of 57
    for op, arg in ops:
        if op == "offer":
            fp, level, low = arg
            base = level << LEVEL_SHIFT
            assert t.offer(fp, base | low, base) == model.offer(fp, base | low, base)
        elif op == "add":
            fp = arg
            assert t.add(fp) == model.add(fp)
        else:
            fp, parent = arg
            if canon(fp) in model.entries:
                t.set_parent(fp, parent)
                model.entries[canon(fp)][1] = canon(parent)
        entry = model.entries.get(canon(fp))
        assert (fp in t) == (entry is not None)
        assert t.key(fp) == (entry[0] if entry else None)
        assert t.parent(fp) == (entry[1] if entry else None)
    assert t.count() == len(t) == len(model.entries)
    assert sorted(t.items(), key=repr) == sorted(model.items(), key=repr)


def test_min_key_within_a_level():
    t = new_table(16)
    base = key_of(3, 0, 0)
    assert t.offer(42, key_of(3, 5, 9), base) == 1  # inserted
    assert t.offer(42, key_of(3, 7, 0), base) == 2  # larger: the stored key wins
    assert t.offer(42, key_of(3, 5, 9), base) == 2  # equal: the stored key wins
    assert t.offer(42, key_of(3, 2, 100), base) == 1  # smaller: lowered
    assert t.key(42) == key_of(3, 2, 100)
    assert t.count() == 1


def test_old_states_by_level_base():
    t = new_table(16)
    assert t.offer(7, key_of(2, 1, 1), key_of(2, 0, 0)) == 1
    # Next level: 7 is old, whatever key is offered, and its key stays.
    assert t.offer(7, key_of(3, 0, 0), key_of(3, 0, 0)) == 0
    assert t.offer(7, 0, key_of(3, 0, 0)) == 0
    assert t.key(7) == key_of(2, 1, 1)
    # Seen as a plain set, add() entries have key 0: old in every later level.
    assert t.add(8) is True
    assert t.offer(8, key_of(1, 0, 0), key_of(1, 0, 0)) == 0
    assert t.add(7) is False and t.key(7) == key_of(2, 1, 1)


def test_zero_fingerprint_is_an_ordinary_member():
    t = new_table(16)
    assert t.add(0) is True
    assert 0 in t and _table.ZERO_ALIAS in t  # documented: the same fingerprint
    assert t.add(U64) is True
    t.set_parent(U64, 0)
    t.set_parent(0, U64)
    assert t.parent(U64) == 0 and t.parent(0) == U64
    assert sorted(t.items()) == [(0, 0, U64), (U64, 0, 0)]
    assert t.parent(12345) is None and t.key(12345) is None


@pytest.mark.parametrize("capacity", [1, 2, 16, 1024])
def test_table_full_at_the_limit(capacity):
    t = new_table(capacity)
    assert t.limit == int(capacity * 0.9)
    for fp in range(t.limit):
        assert t.offer(fp, fp, 0) == 1
    with pytest.raises(TableFull, match="table full") as info:
        t.offer(10**9, 5, 0)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(TableFull):
        t.add(10**9)
    # A full table changed nothing, and still answers for what it holds.
    assert t.count() == t.limit and t.key(10**9) is None
    if t.limit:
        assert t.offer(0, 0, 0) == 2  # stored key 0 is not above 0
    if t.limit > 1:
        assert t.offer(t.limit - 1, 0, 0) == 1  # lowering needs no new slot


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(fps, st.integers(0, U64 - 1), st.none() | fps), max_size=50))
def test_rehash_preserves_everything(entries):
    old, model = new_table(64), {}
    for fp, key, parent in entries:
        if len(model) < old.limit:
            old.offer(fp, key, 0)
            model[canon(fp)] = model.get(canon(fp), key)
            model[canon(fp)] = min(model[canon(fp)], key)
            if parent is not None:
                old.set_parent(fp, parent)
    new = new_table(256)
    _table.rehash(old, new)
    assert new.count() == old.count() == len(model)
    assert sorted(new.items()) == sorted(old.items())
    for fp, key, parent in old.items():
        assert (new.key(fp), new.parent(fp)) == (key, parent)


@settings(max_examples=40, deadline=None)
@given(st.lists(fps, max_size=50, unique_by=canon), st.lists(st.integers(0, 64), max_size=5))
def test_rehash_in_slot_ranges_copies_each_entry_once(codes, cuts):
    old = new_table(64)
    for rank, fp in enumerate(codes[:old.limit]):
        old.offer(fp, rank, 0)
        old.set_parent(fp, rank + 1)
    new = new_table(256)
    bounds = [0, *sorted(cuts), 64]
    for start, stop in zip(bounds, bounds[1:]):
        _table.rehash(old, new, start, stop)  # the slices the workers copy
    assert new.count() == old.count()
    assert sorted(new.items()) == sorted(old.items())
    with pytest.raises(ValueError, match="slot range"):
        _table.rehash(old, new_table(256), 3, 65)


def test_rehash_checks():
    old = new_table(16)
    for fp in range(10):
        old.add(fp)
    with pytest.raises(TableFull):
        _table.rehash(old, new_table(8))
    target = new_table(32)
    target.add(99)
    with pytest.raises(ValueError, match="not empty"):
        _table.rehash(old, target)
    with pytest.raises(ValueError, match="share memory"):
        _table.rehash(old, old)
    with pytest.raises(TypeError):
        _table.rehash(old, {})


# -- offer_many ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(offers, max_size=55), st.integers(0, 3))
def test_offer_many_equals_offer(batch, level):
    one, many = new_table(64), new_table(64)
    base = level << LEVEL_SHIFT
    keys = [(lv << LEVEL_SHIFT) | low for _, lv, low in batch]
    expected = bytes(one.offer(fp, key, base) for (fp, _, _), key in zip(batch, keys))
    got = many.offer_many(array("Q", [fp for fp, _, _ in batch]), array("Q", keys), base)
    assert got == expected
    assert sorted(many.items()) == sorted(one.items())


def test_offer_many_buffers_and_errors():
    t = new_table(16)
    raw = b"\0" + array("Q", [5, 6]).tobytes()  # unaligned words are fine
    assert t.offer_many(memoryview(raw)[1:], array("Q", [1, 2]), 0) == b"\x01\x01"
    with pytest.raises(ValueError, match="words"):
        t.offer_many(array("Q", [1, 2]), array("Q", [1]), 0)
    with pytest.raises(ValueError, match="whole number"):
        t.offer_many(b"1234567", b"1234567", 0)
    with pytest.raises(ValueError, match=r"keys\[1\]"):
        t.offer_many(array("Q", [7, 8]), array("Q", [1, U64]), 0)
    assert t.count() == 2  # validation comes before any offer


def test_offer_many_table_full_reports_progress():
    t = new_table(16)
    fps = array("Q", range(100, 120))
    with pytest.raises(TableFull) as info:
        t.offer_many(fps, array("Q", range(20)), 0)
    assert info.value.done == t.limit == 14
    assert info.value.results == b"\x01" * 14
    bigger = new_table(64)
    _table.rehash(t, bigger)
    rest = bigger.offer_many(fps[14:], array("Q", range(14, 20)), 0)
    assert rest == b"\x01" * 6 and bigger.count() == 20


# -- several processes ---------------------------------------------------------------------


CAPACITY = 1 << 16
LEVEL_1 = 1 << LEVEL_SHIFT


def _plan(processes, per_process=20_000):
    """The experiment, rebuilt identically in every process from its arguments, so that
    spawning sends no data (a big argument pickle would make each start() wait for its child
    to finish importing).  Returns the level-0 entries {fp: key} and, per rank, the (fps, keys)
    it offers in level 1: draws from a small shared pool, so that ranks collide often, with
    keys unique across ranks (distinct low bits) but randomly ordered (random high bits)."""
    rng = random.Random(processes)
    pool = sorted({rng.getrandbits(64) for _ in range(5_000)} | {0, U64})
    old = {fp: rng.randrange(LEVEL_1) for fp in rng.sample(pool, 1_000)}
    work = []
    for rank in range(processes):
        fps = rng.choices(pool, k=per_process)
        first = rank * per_process
        keys = [LEVEL_1 | rng.getrandbits(30) << 20 | first + i for i in range(per_process)]
        work.append((array("Q", fps), array("Q", keys)))
    return old, work


def _worker(shm_name, processes, rank, barrier, results):
    fps, keys = _plan(processes)[1][rank]
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        with Table(shm.buf, CAPACITY) as table:
            barrier.wait()
            # Even ranks batch, odd ranks offer one at a time: both paths race each other.
            if rank % 2 == 0:
                out = table.offer_many(fps, keys, LEVEL_1)
            else:
                out = bytes(table.offer(fp, key, LEVEL_1) for fp, key in zip(fps, keys))
        results.put((rank, out))
    finally:
        shm.close()


def _race(target, args):
    """Run ``target(*each, barrier, results)`` for each of ``args`` in its own spawned process,
    all released at once by the barrier; each puts one ``(name, value)`` pair on results.
    Returns them as a dict once every process has exited cleanly."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*each, barrier, results)) for each in args]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return outcome


@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_offers_keep_the_minimum_key(processes):
    old, work = _plan(processes)
    shm = shared_memory.SharedMemory(create=True, size=_table.required_bytes(CAPACITY))
    try:
        with Table(shm.buf, CAPACITY) as table:
            for fp, key in old.items():
                assert table.offer(fp, key, 0) == 1
            outcome = _race(_worker, [(shm.name, processes, rank) for rank in range(processes)])
            items = list(table.items())
            assert table.count() == len(items)
    finally:
        shm.close()
        shm.unlink()

    best = {}
    for fps, keys in work:
        for fp, key in zip(fps, keys):
            best[fp] = min(best.get(fp, U64), key)
    distinct = set(old) | set(best)
    assert len(items) == len(distinct)
    stored = {fp: key for fp, key, _ in items}
    assert stored.keys() == distinct
    for fp in distinct:
        assert stored[fp] == old.get(fp, best.get(fp))
    for rank, (fps, keys) in enumerate(work):
        for fp, key, result in zip(fps, keys, outcome[rank]):
            if fp in old:
                assert result == 0
            elif key == best[fp]:
                assert result == 1  # the overall winner was the best when it offered
            else:
                assert result in (1, 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 10**6), st.integers(0, 99)),
                max_size=60))
def test_settle_keeps_the_candidates_whose_key_won_and_records_their_parents(offers):
    t = new_table(256)
    candidates = []
    for fp, key, parent in offers:
        if t.offer(fp, key, 0) == 1:
            candidates.append((key, fp, f"state {fp}", parent))
    won = t.settle(candidates)
    assert won == [c for c in candidates if t.key(c[1]) == c[0]]
    assert len({c[1] for c in won}) == len(won) == t.count()
    for _, fp, _, parent in won:
        assert t.parent(fp) == parent
    with pytest.raises(TypeError):
        t.settle([(1, 2)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 30), max_size=8), max_size=8), st.booleans())
def test_offer_candidates_matches_offering_one_by_one(levels, retry):
    fast, slow = new_table(256), new_table(256)
    base = 1 << LEVEL_SHIFT
    for table in (fast, slow):
        table.offer(7, 0, 0)  # state 7 is from an earlier level
    got, want = [], []
    for rank, successors in enumerate(levels):
        prefix = base | (rank << 16)
        state = successors[0] if successors else None
        fast.offer_candidates(successors, state, 999, lambda s: s * 11, prefix, base, retry, got)
        for ordinal, successor in enumerate(successors):
            code = 999 if successor is state else successor * 11
            key = prefix | ordinal
            outcome = slow.offer(code, key, base)
            if outcome == 1 or (retry and outcome == 2 and slow.key(code) == key):
                want.append((key, code, successor, 999))
    assert got == want
    assert sorted(fast.items()) == sorted(slow.items())
    with pytest.raises(ValueError):
        fast.offer_candidates([1] * 70_000, None, 1, lambda s: s, base, base, False, [])


values = st.recursive(st.integers(-3, 3) | st.text("ab", max_size=2),
                      lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
                      max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(values, max_size=70), st.none() | st.integers(0, 69)),
                max_size=6))
def test_offer_candidates_runs_the_compiled_fingerprint_as_called_from_python(levels):
    # The compiled fingerprint runs 32 successors ahead of their offers: lists longer than
    # that, and one successor that cannot be fingerprinted (at ``bad``) after candidates,
    # must come out as the offers one at a time do.
    fingerprint = pytest.importorskip("checker._fp").fingerprint
    direct, called = new_table(256), new_table(256)
    base = 1 << LEVEL_SHIFT
    got, want = [], []
    for rank, (successors, bad) in enumerate(levels):
        if bad is not None and bad < len(successors):
            successors[bad] = [bad]
        state = successors[0] if successors else None
        raised = []
        for table, function, out in ((direct, fingerprint, got),
                                     (called, lambda v: fingerprint(v), want)):
            try:
                table.offer_candidates(successors, state, 999, function, base | (rank << 16),
                                       base, False, out)
            except TypeError as exc:
                raised.append(str(exc))
        assert got == want
        assert len(raised) in (0, 2) and len(set(raised)) <= 1
    assert sorted(direct.items()) == sorted(called.items())


# -- claims ----------------------------------------------------------------------------------


def test_claim_sets_a_word_once_and_says_who_holds_it():
    words = bytearray(12)
    assert _table.claim(words, 1, 5) == 0
    assert _table.claim(words, 1, 7) == 5
    assert array("I", words).tolist() == [0, 5, 0]
    for index, value, error in [(3, 1, IndexError), (-1, 1, IndexError), (0, 0, ValueError),
                                (0, 2**32, ValueError)]:
        with pytest.raises(error):
            _table.claim(words, index, value)
    with pytest.raises(BufferError):
        _table.claim(bytes(12), 0, 1)  # read-only


def _claimer(shm_name, words, value, barrier, results):
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        barrier.wait()
        mine = [index for index in range(words) if _table.claim(shm.buf, index, value) == 0]
        results.put((value, mine))
    finally:
        shm.close()


def test_processes_racing_for_the_same_words_claim_each_word_once():
    words, processes = 50_000, 3
    shm = shared_memory.SharedMemory(create=True, size=4 * words)
    try:
        shm.buf[:4 * words] = bytes(4 * words)
        claimed = _race(_claimer, [(shm.name, words, value) for value in range(1, processes + 1)])
        held = array("I", bytes(shm.buf[:4 * words])).tolist()
    finally:
        shm.close()
        shm.unlink()
    assert sorted(index for mine in claimed.values() for index in mine) == list(range(words))
    for value, mine in claimed.items():
        assert all(held[index] == value for index in mine)


def test_candidates_are_kept_out_of_the_cycle_collector_and_keep_their_states():
    """A candidate (key, fingerprint, state, parent) holds only values made before it, so it
    can be in no cycle: the collector need not walk it (a worker keeps one per new state until
    the level ends). Its state must still live as long as the candidate does."""
    import gc
    import weakref

    class State:
        def __init__(self, n):
            self.n = n

    table = new_table(256)
    base = 1 << LEVEL_SHIFT
    states = [State(n) for n in range(40)]
    watchers = [weakref.ref(state) for state in states]
    candidates = []
    table.offer_candidates(states, None, 999, lambda s: s.n + 1, base, base, False, candidates)
    del states
    gc.collect()
    assert [gc.is_tracked(entry) for entry in candidates] == [False] * 40
    assert [entry[2].n for entry in candidates] == list(range(40))
    assert all(watcher() is not None for watcher in watchers)
    del candidates
    gc.collect()
    assert all(watcher() is None for watcher in watchers)
