"""Multi-core search gives exactly the results of the plain search: counts, depth, verdict and
the same shortest counterexample."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import parallel

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not parallel.available(),
                                reason="the compiled extension checker._table is not built")

# Small instances of every shipped model, violating and passing ones.
CASES = [
    ("two_phase_commit", ["-p", "rms=4"]),
    ("two_phase_commit", ["-p", "rms=4", "--symmetry"]),
    ("paxos", []),
    ("paxos", ["-p", "q1=1", "-p", "q2=2"]),
    ("paxos", ["-p", "q1=1", "-p", "q2=2", "--symmetry"]),
    ("naive_paxos", []),
    ("paxos_actors", ["-p", "proposers=1"]),
    ("paxos_actors", ["-p", "bug=no_promise_check"]),
    ("paxos_actors", ["-p", "bug=ignore_promised_value", "--symmetry"]),
    ("raft", ["-p", "servers=2", "-p", "max_term=2", "-p", "restarts=1", "--no-symmetry"]),
    ("raft", ["-p", "bug=volatile_vote"]),
    ("primary_backup", ["-p", "writes=1", "-p", "max_crashes=1"]),
    ("primary_backup", ["-p", "bug=early_ack"]),
    ("consistent_hashing", ["-p", "max_crashes=0"]),
    ("consistent_hashing", ["-p", "bug=early_ownership"]),
    ("checkpoint_recovery", ["-p", "writes=3", "-p", "max_crashes=2", "-p", "max_restarts=2"]),
    ("checkpoint_recovery", ["-p", "bug=ack_before_durable"]),
]


def result(model: str, extra: list[str], workers: int) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "checker", model if model.endswith(".py") else f"models/{model}.py",
         "--json", "--quiet",
         "--workers", str(workers), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 11, 12, 75), run.stderr
    found = json.loads(run.stdout)
    for key in ("seconds", "states_per_second", "peak_memory_bytes"):
        found.pop(key, None)
    return found


@pytest.mark.parametrize("model, extra", CASES, ids=[" ".join([m, *e]) for m, e in CASES])
def test_two_workers_give_the_results_of_one(model, extra):
    if "--symmetry" not in extra:
        extra = [*extra, "--no-symmetry"]
    assert result(model, extra, 2) == result(model, extra, 1)


def test_a_table_that_grows_mid_search_changes_nothing():
    extra = ["-p", "rms=6", "--no-symmetry"]
    assert result("two_phase_commit", extra, 2) == result("two_phase_commit", extra, 1)


EDGE_CASES = """
from checker import Model, action, invariant, param, sometimes


class Edges(Model):
    mode = param("deadlock", ("deadlock", "raise", "invariant-raises", "init-raises",
                              "init-invariant-raises", "sometimes-raises-after",
                              "sometimes-raises-before", "bad-successor"), "what goes wrong")

    def init(self):
        if self.mode == "init-raises":
            raise RuntimeError("no start")
        return [0, 1]

    @action(over=(1, 2, 3))
    def step(self, s, by):
        if self.mode == "raise" and s == 7 and by == 2:
            raise ValueError("seven")
        if self.mode == "bad-successor" and s == 5 and by == 3:
            return (s, [by])  # a list cannot be fingerprinted
        if s + by <= 9:
            return s + by

    @invariant
    def fine(self, s):
        if self.mode == "invariant-raises" and s == 8:
            raise KeyError(s)
        if self.mode == "init-invariant-raises" and s == 1:
            raise KeyError(s)
        return True

    @sometimes
    def two_or_three(self, s):
        # Level 1 holds 2, 3, 4 in this order: the plain search checks until one holds.
        if self.mode == "sometimes-raises-after" and s == 3:
            raise ValueError("checked after it held")
        if self.mode == "sometimes-raises-before" and s == 2:
            raise ValueError("checked before it held")
        return s in (2, 3)
"""


@pytest.mark.parametrize("mode", ["deadlock", "raise", "invariant-raises", "init-raises",
                                  "init-invariant-raises", "sometimes-raises-after",
                                  "sometimes-raises-before", "bad-successor"])
def test_deadlocks_and_exceptions_are_reported_as_by_one_worker(tmp_path, mode):
    model = tmp_path / "edges.py"
    model.write_text(EDGE_CASES)
    extra = ["-p", f"mode={mode!r}"]
    one, two, three = (result(str(model), extra, workers) for workers in (1, 2, 3))
    assert one["verdict"] == ("violation" if mode in ("deadlock", "sometimes-raises-after")
                              else "error")
    assert two == one
    assert three == one


layouts = st.integers(1, 6).flatmap(lambda workers: st.tuples(
    st.just(workers),
    st.lists(st.tuples(st.integers(0, workers - 1), st.integers(0, 40), st.integers(0, 200)),
             min_size=1, max_size=30)))


@settings(max_examples=200, deadline=None)
@given(layouts)
def test_a_level_plan_keeps_the_order_and_evens_out_the_shares(case):
    workers, pieces = case
    layout, counts, rank = [], [[] for _ in range(workers)], 0
    for worker, size, found in pieces:
        layout.append((rank, size, worker))
        counts[worker].append(found)
        rank += size
    plans, following = parallel.plan_level(layout, counts, workers)
    total = sum(found for _, _, found in pieces)
    # Each worker cuts all of its winners, in order, into slices that tile the next level.
    for worker, plan in enumerate(plans):
        assert sum(count for _, count, _ in plan) == sum(counts[worker])
        assert all(count > 0 for _, count, _ in plan)
        assert [first for first, _, _ in plan] == sorted(first for first, _, _ in plan)
    assert sorted((f, c, t) for plan in plans for f, c, t in plan) == following
    assert all(a[0] + a[1] == b[0] for a, b in zip(following, following[1:]))
    assert not following or following[0][0] == 0
    assert sum(count for _, count, _ in following) == total
    # Winners keep the plain search's order: a piece's children rank right after those of
    # the pieces before it, so each slice must name the ranks of the winners it holds.
    ranks = [[] for _ in range(workers)]  # global rank of each worker's winners, in order
    rank = 0
    for worker, _, found in pieces:
        ranks[worker] += range(rank, rank + found)
        rank += found
    for worker, plan in enumerate(plans):
        at = 0
        for first, count, _ in plan:
            assert ranks[worker][at:at + count] == list(range(first, first + count))
            at += count
    # Shares are even within 2%, or no single piece can move to make the busiest less busy.
    loads = [sum(c for _, c, t in following if t == w) for w in range(workers)]
    busiest, idlest = max(loads), min(loads)
    held = [c for _, c, t in following if t == loads.index(busiest)]
    assert busiest <= total / workers * 1.02 or all(c >= busiest - idlest for c in held)


GRAPH = """
from checker import Model, action, invariant, param

EDGES = {edges!r}
BAD = {bad!r}


class Graph(Model):
    def init(self):
        return {initial!r}

    @action(over=range({branching}))
    def go(self, s, i):
        targets = EDGES.get(s, ())
        if i < len(targets):
            return targets[i]

    @invariant
    def good(self, s):
        return s not in BAD
"""


@st.composite
def graph_files(draw):
    size = draw(st.integers(1, 400))
    node = st.integers(0, size - 1)
    edges = {}
    for source in range(size):
        targets = draw(st.lists(node, max_size=4))
        if targets:
            edges[source] = tuple(targets)
    initial = draw(st.lists(node, min_size=1, max_size=3, unique=True))
    bad = set(draw(st.lists(node, max_size=2)))
    return GRAPH.format(edges=edges, bad=bad, initial=initial, branching=4)


@settings(max_examples=12, deadline=None)
@given(graph_files(), st.integers(2, 5))
def test_random_graphs_give_the_same_result_with_several_workers(source, workers):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graph.py"
        path.write_text(source)
        one = result(str(path), ["--no-deadlock"], 1)
        assert result(str(path), ["--no-deadlock"], workers) == one


@pytest.mark.parametrize("model, extra", [
    ("two_phase_commit", ["-p", "rms=5"]),
    ("paxos", ["-p", "q1=1", "-p", "q2=2"]),
    ("paxos_actors", ["-p", "bug=no_promise_check"]),
])
def test_more_workers_than_cores_give_the_results_of_one(model, extra):
    extra = [*extra, "--no-symmetry"]
    assert result(model, extra, 5) == result(model, extra, 1)


def test_a_table_that_fills_during_a_level_grows_and_the_level_is_expanded_again(monkeypatch):
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model

    # No room reserved before a level: the table fills while the workers expand it.
    monkeypatch.setattr(parallel, "INITIAL_CAPACITY", 16)
    monkeypatch.setattr(parallel, "LEVEL_GROWTH", 0)
    retries = []
    expand_all = parallel._expand_all

    def recording(crew, depth, retry, *rest):
        retries.append(retry)
        return expand_all(crew, depth, retry, *rest)

    monkeypatch.setattr(parallel, "_expand_all", recording)
    model = build_model(ROOT / "models" / "two_phase_commit.py", {"rms": 5}, None)
    two = drain(parallel.explore(model, Options(), 2, False), None)
    one = drain(Explorer(model, Options()).run(), None)
    assert sum(retries) >= 3
    assert (two.verdict, two.distinct_states, two.transitions, two.depth) == (
        one.verdict, one.distinct_states, one.transitions, one.depth) == ("ok", 8832, 58145, 16)


def test_the_json_peak_memory_of_a_parallel_run_counts_its_workers():
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model
    from checker.report import json_result, peak_memory_bytes

    model = build_model(ROOT / "models" / "two_phase_commit.py", {"rms": 3}, None)
    two = drain(parallel.explore(model, Options(), 2, False), None)
    one = drain(Explorer(model, Options()).run(), None)
    assert one.worker_memory_bytes == 0
    assert two.worker_memory_bytes > 2 * 10 * 2**20  # two interpreters with the checker loaded
    assert json_result(two, model)["peak_memory_bytes"] >= (
        peak_memory_bytes() + two.worker_memory_bytes)


def test_a_state_with_too_many_successors_is_a_one_line_error(tmp_path):
    model = tmp_path / "wide.py"
    model.write_text(
        "from checker import Model, action\n\n\n"
        "class Wide(Model):\n"
        "    def init(self):\n"
        "        return 0\n\n"
        "    @action(over=range(70_000))\n"
        "    def step(self, s, i):\n"
        "        if s == 0:\n"
        "            return i + 1\n")
    run = subprocess.run([sys.executable, "-m", "checker", str(model), "--workers", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 150
    assert "a state has 70000 successors; at most 65535" in run.stderr
    assert "Traceback" not in run.stderr


def test_states_shipped_between_workers_arrive_with_this_process_s_strings_and_ids():
    from checker.values import Id, Map

    state = Map({Id("rm", 0): "".join(["work", "ing"]), Id("rm", 1): "done"})
    received = parallel._unpickled(parallel._pickled((3, [(7, 9, state, 1)])))
    assert received == (3, [(7, 9, state, 1)])
    copy = received[1][0][2]
    assert all(key is Id("rm", key.index) for key in copy)
    assert copy[Id("rm", 0)] is "working"  # noqa: F632 - the interned constant itself


@pytest.mark.parametrize("warm", [False, True])
def test_received_states_are_fingerprinted_so_their_children_derive_map_sums(warm):
    # A map that knows its fingerprint sum makes children that derive theirs from it, holding
    # the replaced value until then: the reference count shows whether the sum was known.
    from checker.fingerprint import fingerprint
    from checker.values import Id, Map

    parcel = parallel._pickled((5, [(7, 9, Map({Id("rm", 0): ("old", 1)}), 1)]))
    piece, = parallel._received([], [parcel], fingerprint if warm else None)
    received = piece.entries[0][2]
    old = received[Id("rm", 0)]
    held = sys.getrefcount(old)
    child = received.set(Id("rm", 0), "new")
    assert sys.getrefcount(old) == held + warm
    assert fingerprint(child) == fingerprint(Map({Id("rm", 0): "new"}))


CONVERGING = """
from checker import Model, action, invariant, param, sometimes


class Converging(Model):
    bad = param(1003, range(1000, 1008), "the state of level 2 that breaks the invariant")

    def init(self):
        return 0

    @action(over=range(300))
    def fan(self, s, i):
        if s == 0:
            return i + 1  # level 1: 300 states, shared out between the workers
        if s <= 300 and i < 2:
            return 1000 + (s * (i + 1)) % 8  # level 2: 8 states, each found by many workers

    @invariant
    def fine(self, s):
        return s != self.bad

    @sometimes
    def seven(self, s):
        return s == 1007
"""


@pytest.mark.parametrize("bad", [1000, 1003, 1007])
def test_a_state_found_by_several_workers_breaks_the_invariant_where_one_worker_finds_it(
        tmp_path, bad):
    # Each worker checks the states it offered first; the earliest over all workers must be
    # the transition through which the plain search finds the state.
    model = tmp_path / "converging.py"
    model.write_text(CONVERGING)
    extra = ["-p", f"bad={bad}", "--no-deadlock"]
    one = result(str(model), extra, 1)
    assert one["verdict"] == "violation" and one["property"] == "fine"
    assert result(str(model), extra, 2) == one
    assert result(str(model), extra, 3) == one


LOPSIDED = """
import time

from checker import Model, action, invariant, param, sometimes


class Lopsided(Model):
    bad = param(999, range(3000), "the state that breaks the invariant (999: none)")
    boom = param(999, range(2000), "the state of level 1 whose step raises (999: none)")
    seen = param(1399, range(1000, 3000), "the state the sometimes property wants")

    def init(self):
        return -1

    @action(over=range(400))
    def fan(self, s, i):
        if s == -1:
            return i  # level 1: 400 states, shared out between the two workers

    @action
    def finish(self, s):
        if 0 <= s < 400:
            if s == self.boom:
                raise RuntimeError("boom")
            if s < 150:  # one worker's states are slow: the other steals pieces from it
                time.sleep(0.002)
            return 1000 + s
        if 1100 <= s < 1400:
            return 2000 + s % 50  # level 3: each state found from 6 of level 2

    @invariant
    def fine(self, s):
        return s != self.bad

    @sometimes
    def wanted(self, s):
        return s == self.seen
"""


@pytest.mark.parametrize("params, table_fills, verdict", [
    ({}, False, "ok"), ({}, True, "ok"), ({"bad": 1140}, False, "violation"),
    ({"bad": 1140}, True, "violation"), ({"bad": 1010}, False, "violation"),
    ({"bad": 2007}, False, "violation"), ({"bad": 2049}, False, "violation"),
    ({"boom": 145}, False, "error"), ({"seen": 2999}, False, "violation")])
def test_pieces_stolen_by_an_idle_worker_give_the_results_of_one(tmp_path, monkeypatch, params,
                                                                  table_fills, verdict):
    # The worker with the slow half of level 1 has pieces stolen by the other (the layouts
    # say which), wherever the level's event lies, and the stolen pieces' children rank where
    # the plain search has them (level 3's states are reached from several parents: the
    # trace goes through the first); with table_fills the table also fills during the level,
    # which is expanded again with the pieces where the thieves took them.
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model
    from checker.report import json_result

    path = tmp_path / "lopsided.py"
    path.write_text(LOPSIDED)
    model = build_model(path, params, None)
    if table_fills:
        monkeypatch.setattr(parallel, "INITIAL_CAPACITY", 16)
        monkeypatch.setattr(parallel, "LEVEL_GROWTH", 0)
    stolen, retries = [], []
    expand_all = parallel._expand_all

    def recording(crew, depth, retry, parcels, pending, layout):
        replies, after = expand_all(crew, depth, retry, parcels, pending, layout)
        retries.append(retry)
        stolen.extend(piece for piece, moved in zip(layout, after) if moved != piece)
        return replies, after

    monkeypatch.setattr(parallel, "_expand_all", recording)
    options = Options(check_deadlock=False)
    found = [json_result(drain(search, None), model) for search in (
        Explorer(model, options).run(), parallel.explore(model, options, 2, False))]
    for data in found:
        for key in ("seconds", "states_per_second", "peak_memory_bytes"):
            data.pop(key)
    assert found[1] == found[0]
    assert found[0]["verdict"] == verdict
    assert stolen and any(retries) == table_fills


def searched_in_process(model_name: str, extra: list[str], warm_up) -> tuple[dict, int]:
    """The JSON result (less timings) of ``model_name`` with the command-line ``extra``, by the
    plain search or, with ``warm_up``, by the plain search handing over to 2 workers; and the
    workers' memory (0 when they were never given the search)."""
    from checker.cli import make_fingerprint
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model
    from checker.params import parse_assignment
    from checker.report import json_result

    params = dict(parse_assignment(arg) for arg, flag in zip(extra[1:], extra) if flag == "-p")
    model = build_model(ROOT / "models" / f"{model_name}.py", params, None)
    symmetry = "--symmetry" in extra
    if warm_up is None:
        found = drain(Explorer(model, Options(), make_fingerprint(model, symmetry)[0],
                               symmetry).run(), None)
    else:
        found = drain(parallel.explore(model, Options(), 2, symmetry, warm_up), None)
    data = json_result(found, model)
    for key in ("seconds", "states_per_second", "peak_memory_bytes"):
        data.pop(key)
    return data, found.worker_memory_bytes


@pytest.mark.parametrize("states_per_worker", [1, 40])
@pytest.mark.parametrize("model, extra", CASES, ids=[" ".join([m, *e]) for m, e in CASES])
def test_a_plain_search_handed_over_to_workers_mid_way_gives_the_results_of_one(
        model, extra, states_per_worker):
    # At the first level with 2 (or 80) states the plain search passes its seen set and the
    # level to the workers, which finish the search.
    warm_up = parallel.WarmUp(seconds=0, latest=0, states_per_worker=states_per_worker,
                              wait=True)
    one, _ = searched_in_process(model, extra, None)
    handed, workers_memory = searched_in_process(model, extra, warm_up)
    assert handed == one
    if states_per_worker == 1:
        assert workers_memory > 0  # the workers did search


def test_a_small_search_with_the_default_workers_never_starts_them(monkeypatch):
    from checker import explore
    from checker.loader import build_model

    spawned = []
    monkeypatch.setattr(explore, "cores", lambda: 4)
    monkeypatch.setattr(parallel._Crew, "spawn", lambda crew: spawned.append(crew))
    model = build_model(ROOT / "models" / "two_phase_commit.py", {"rms": 3}, None)
    search, note = explore.start(model, explore.Options(), None, False, None)
    found = explore.drain(search, None)
    assert (found.verdict, found.distinct_states, found.transitions) == ("ok", 288, 1145)
    assert note is None and spawned == [] and found.worker_memory_bytes == 0


def test_a_search_bounded_by_max_states_stays_plain_with_the_default_workers(monkeypatch):
    from checker import explore
    from checker.loader import build_model

    spawned = []
    monkeypatch.setattr(explore, "cores", lambda: 4)
    eager = parallel.WarmUp(seconds=0, latest=0, states_per_worker=0, wait=True)
    monkeypatch.setattr(parallel, "WarmUp", lambda: eager)  # workers from the first level
    monkeypatch.setattr(parallel._Crew, "spawn", lambda crew: spawned.append(crew))
    model = build_model(ROOT / "models" / "two_phase_commit.py", {"rms": 5}, None)
    plain = explore.drain(explore.start(model, explore.Options(max_states=1000))[0], None)
    search, _ = explore.start(model, explore.Options(max_states=1000), None, False, None)
    found = explore.drain(search, None)
    assert (found.verdict, found.distinct_states) == ("incomplete", plain.distinct_states)
    assert 1000 <= plain.distinct_states < 1020 and spawned == []


def test_the_default_workers_are_the_cores_and_give_the_results_of_one(tmp_path):
    # Long enough for the hand-over on any machine with more than one core.
    run = subprocess.run([sys.executable, "-m", "checker", "models/two_phase_commit.py",
                          "-p", "rms=6", "--no-symmetry"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    from checker.explore import cores

    assert run.returncode == 0, run.stderr
    assert ("up to" in run.stdout) == (cores() > 1)
    assert "50,816 distinct, 402,305 transitions" in run.stdout
    bounded = subprocess.run([sys.executable, "-m", "checker", "models/two_phase_commit.py",
                              "-p", "rms=6", "--max-states", "100"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert "incomplete" in bounded.stdout and "workers" not in bounded.stdout  # stays plain


@settings(max_examples=16, deadline=None)
@given(graph_files(), st.sampled_from([0, 0, 1, 4]))
def test_random_graphs_handed_over_mid_way_give_the_results_of_one(source, states_per_worker):
    from checker.explore import Explorer, Options, drain
    from checker.loader import build_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graph.py"
        path.write_text(source)
        model = build_model(path, {}, None)
        options = Options(check_deadlock=False)
        one = drain(Explorer(model, options).run(), None)
        warm_up = parallel.WarmUp(seconds=0, latest=0, states_per_worker=states_per_worker,
                              wait=True)
        handed = drain(parallel.explore(model, options, 2, False, warm_up), None)
    assert (handed.verdict, handed.distinct_states, handed.transitions, handed.depth,
            handed.property) == (one.verdict, one.distinct_states, one.transitions, one.depth,
                                 one.property)
    assert (handed.trace and [step.state for step in handed.trace.steps]) == (
        one.trace and [step.state for step in one.trace.steps])
    if states_per_worker == 0 and (one.depth > 1 or (one.verdict == "ok" and one.depth > 0)):
        assert handed.worker_memory_bytes > 0  # level 0 was expanded alone, the rest by them
