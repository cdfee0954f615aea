"""Benchmark: searches with and without symmetry reduction on the shipped models.

    python bench/symmetry.py                 # the default table (about five minutes)
    python bench/symmetry.py --quick         # small sizes only
    python bench/symmetry.py --repeat 3      # best of 3 runs per row

For each configuration the search runs without and with symmetry, and the table shows distinct
states (canonical states under symmetry), transitions, CPU seconds of the search (the best of
``--repeat`` runs, so other processes on the machine disturb the figures less) and states per
CPU second. Setup (loading the model, the soundness check that symmetry runs before the search)
is timed apart in the last column. Searches too big to finish in minutes stop at a time limit
(verdict ``incomplete``): their rate is still comparable.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checker.explore import Explorer, Options  # noqa: E402
from checker.loader import build_model  # noqa: E402
from checker.symmetry import canonical_fingerprint, uses_c_extension  # noqa: E402

TWO_PHASE = str(ROOT / "models" / "two_phase_commit.py")
PAXOS = str(ROOT / "models" / "paxos.py")

QUICK = [
    ("2pc rms=5", TWO_PHASE, {"rms": 5}),
    ("paxos 3a 2v b0..1", PAXOS, {"acceptors": 3, "values": 2, "ballots": 2}),
]
DEFAULT = QUICK + [
    ("2pc rms=7", TWO_PHASE, {"rms": 7}),
    ("2pc rms=9", TWO_PHASE, {"rms": 9}),
    ("paxos 3a 2v b0..2", PAXOS, {"acceptors": 3, "values": 2, "ballots": 3}),
    ("paxos 5a 2v b0..2", PAXOS, {"acceptors": 5, "values": 2, "ballots": 3}),
]
# (configuration, symmetry) pairs too big to finish in minutes: stopped after this many seconds.
TIME_LIMITS = {
    ("2pc rms=9", False): 60.0,
    ("paxos 5a 2v b0..2", False): 60.0,
    ("paxos 5a 2v b0..2", True): 120.0,
}


def run_once(
    path: str, params: dict[str, Any], symmetry: bool, time_limit: float | None = None
) -> dict[str, Any]:
    """One search; CPU seconds of setup and of the search itself."""
    started = time.process_time()
    model = build_model(path, params, None)
    fingerprint_fn = canonical_fingerprint(model, warn=False) if symmetry else None
    setup = time.process_time() - started
    explorer = Explorer(model, Options(time_limit=time_limit), fingerprint_fn, symmetry)
    search = explorer.run()
    started = time.process_time()
    while True:
        try:
            next(search)
        except StopIteration as stop:
            result = stop.value
            break
    seconds = time.process_time() - started
    return {
        "verdict": result.verdict,
        "states": result.distinct_states,
        "transitions": result.transitions,
        "seconds": seconds,
        "setup": setup,
    }


def best_of(
    path: str, params: dict[str, Any], symmetry: bool, repeat: int, time_limit: float | None
) -> dict[str, Any]:
    """The fastest of ``repeat`` identical searches (complete ones never differ in counts);
    a search stopped by its time limit runs once."""
    if time_limit is not None:
        return run_once(path, params, symmetry, time_limit)
    runs = [run_once(path, params, symmetry) for _ in range(repeat)]
    return min(runs, key=lambda run: run["seconds"])


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small configurations only")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per row")
    args = parser.parse_args(argv)
    configs = QUICK if args.quick else DEFAULT
    print(f"fingerprint_permuted in C: {uses_c_extension()}")
    header = (f"{'model':<20} {'symmetry':<8} {'verdict':<10} {'states':>10} {'transitions':>12} "
              f"{'cpu s':>8} {'states/s':>9} {'setup s':>8}")
    print(header)
    print("-" * len(header))
    for name, path, params in configs:
        for symmetry in (False, True):
            limit = TIME_LIMITS.get((name, symmetry))
            run = best_of(path, params, symmetry, args.repeat, limit)
            rate = run["states"] / run["seconds"] if run["seconds"] else 0.0
            print(f"{name:<20} {'on' if symmetry else 'off':<8} {run['verdict']:<10} "
                  f"{run['states']:>10,} {run['transitions']:>12,} {run['seconds']:>8.2f} "
                  f"{rate:>9,.0f} {run['setup']:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
