"""Multi-core search gives exactly the results of the plain search: counts, depth, verdict and
the same shortest counterexample."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
from checker import Model, action, invariant, param


class Edges(Model):
    mode = param("deadlock", ("deadlock", "raise", "invariant-raises"), "what goes wrong")

    def init(self):
        return [0, 1]

    @action(over=(1, 2, 3))
    def step(self, s, by):
        if self.mode == "raise" and s == 7 and by == 2:
            raise ValueError("seven")
        if s + by <= 9:
            return s + by

    @invariant
    def fine(self, s):
        if self.mode == "invariant-raises" and s == 8:
            raise KeyError(s)
        return True
"""


@pytest.mark.parametrize("mode", ["deadlock", "raise", "invariant-raises"])
def test_deadlocks_and_exceptions_are_reported_as_by_one_worker(tmp_path, mode):
    model = tmp_path / "edges.py"
    model.write_text(EDGE_CASES)
    extra = ["-p", f"mode={mode!r}"]
    one, two = (result(str(model), extra, workers) for workers in (1, 2))
    assert one["verdict"] in ("violation", "error")
    assert two == one
