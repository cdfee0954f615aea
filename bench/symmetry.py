"""Benchmark: searches with and without symmetry reduction on the shipped models.

    python bench/symmetry.py                 # the default table (about five minutes)
    python bench/symmetry.py --quick         # small sizes only
    python bench/symmetry.py --repeat 3      # best of 3 runs per row

Each configuration is searched three ways: without symmetry (``off``), with symmetry through
the compiled canonical fingerprints of ``checker._sym`` (``C``, what a run uses when the
extension is built), and with symmetry through the pure-Python path (``Python``, the reference,
which is what every symmetric run used before ``checker._sym``). The table shows distinct states
(canonical states under symmetry), transitions, CPU seconds of the search (the best of
``--repeat`` runs, so other processes on the machine disturb the figures less), states per CPU
second, that rate as a fraction of the rate without symmetry (``vs off``: at least 1.00 means
each canonical state costs no more than a plain one), and the setup time (loading the model
and the soundness check that symmetry runs before the search). Searches too big to finish in
minutes stop at a time limit (verdict ``incomplete``); their rate is still shown, but an
incomplete search without symmetry stays in the shallow levels, where states are smaller, so
``vs off`` is only a rough guide there.
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
    ("2pc rms=7", TWO_PHASE, {"rms": 7}),
    ("paxos 3a 2v b0..1", PAXOS, {"acceptors": 3, "values": 2, "ballots": 2}),
]
DEFAULT = QUICK + [
    ("2pc rms=9", TWO_PHASE, {"rms": 9}),
    ("paxos 3a 2v b0..2", PAXOS, {"acceptors": 3, "values": 2, "ballots": 3}),
    ("paxos 5a 2v b0..2", PAXOS, {"acceptors": 5, "values": 2, "ballots": 3}),
]
OFF, COMPILED, PYTHON = "off", "C", "Python"
# (configuration, mode) pairs too big to finish in minutes: stopped after this many seconds.
TIME_LIMITS = {
    ("2pc rms=9", OFF): 60.0,
    ("paxos 5a 2v b0..2", OFF): 60.0,
    ("paxos 5a 2v b0..2", COMPILED): 60.0,
    ("paxos 5a 2v b0..2", PYTHON): 60.0,
}


def run_once(
    path: str, params: dict[str, Any], mode: str, time_limit: float | None = None
) -> dict[str, Any]:
    """One search in ``mode`` (off, C or Python); CPU seconds of setup and of the search."""
    started = time.process_time()
    model = build_model(path, params, None)
    symmetry = mode != OFF
    fingerprint_fn = (
        canonical_fingerprint(model, warn=False, compiled=mode == COMPILED) if symmetry else None
    )
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
    path: str, params: dict[str, Any], mode: str, repeat: int, time_limit: float | None
) -> dict[str, Any]:
    """The fastest of ``repeat`` identical searches (complete ones never differ in counts);
    a search stopped by its time limit runs once."""
    if time_limit is not None:
        return run_once(path, params, mode, time_limit)
    runs = [run_once(path, params, mode) for _ in range(repeat)]
    return min(runs, key=lambda run: run["seconds"])


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small configurations only")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per row")
    args = parser.parse_args(argv)
    configs = QUICK if args.quick else DEFAULT
    modes = (OFF, COMPILED, PYTHON) if uses_c_extension() else (OFF, PYTHON)
    print(f"checker._sym built: {uses_c_extension()}")
    header = (f"{'model':<20} {'symmetry':<8} {'verdict':<10} {'states':>10} {'transitions':>12} "
              f"{'cpu s':>8} {'states/s':>9} {'vs off':>7} {'setup s':>8}")
    print(header)
    print("-" * len(header))
    for name, path, params in configs:
        plain_rate = None
        for mode in modes:
            limit = TIME_LIMITS.get((name, mode))
            run = best_of(path, params, mode, args.repeat, limit)
            rate = run["states"] / run["seconds"] if run["seconds"] else 0.0
            if mode == OFF:
                plain_rate = rate
            ratio = f"{rate / plain_rate:.2f}" if plain_rate else "-"
            print(f"{name:<20} {mode:<8} {run['verdict']:<10} {run['states']:>10,} "
                  f"{run['transitions']:>12,} {run['seconds']:>8.2f} {rate:>9,.0f} {ratio:>7} "
                  f"{run['setup']:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
