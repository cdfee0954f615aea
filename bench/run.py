"""Benchmark: distinct states, transitions, seconds, states/s, peak memory per model.

Each instance runs in its own process (``python -m checker ... --json``) so that peak memory
(max resident set size) belongs to that run alone. For the instances that have a hand-written
baseline (bench/baseline.py) the table shows the framework's time over the baseline's: the
overhead of the framework. TLC's published figures from the speed issue are printed beside
ours for reference (2-core machine, TLC 2.20).

    python bench/run.py                 # the default set
    python bench/run.py --quick         # small instances only
    python bench/run.py --workers 1 2   # each instance with 1 and with 2 workers
    python bench/run.py --symmetry      # with symmetry reduction where declared
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INSTANCES = [
    # name, model, params, baseline (function, args),
    # TLC seconds (1 worker, 2 workers) plain and with symmetry (None: not published)
    ("paxos 3a 2v b0..1", "paxos", {}, ("paxos", (3, 2, 2)), None, None),
    ("paxos 3a 2v b0..2", "paxos", {"ballots": 3}, ("paxos", (3, 2, 3)), (28.0, 19.0),
     (7.0, 6.7)),
    ("2pc 5 RMs", "two_phase_commit", {"rms": 5}, ("two_phase_commit", (5,)), None, None),
    ("2pc 6 RMs", "two_phase_commit", {"rms": 6}, ("two_phase_commit", (6,)), None, None),
    ("2pc 7 RMs", "two_phase_commit", {"rms": 7}, ("two_phase_commit", (7,)), (11.4, 8.5),
     (None, 17.2)),
    ("2pc 8 RMs", "two_phase_commit", {"rms": 8}, ("two_phase_commit", (8,)), (70.0, 50.0),
     None),
]
QUICK = {"paxos 3a 2v b0..1", "2pc 5 RMs"}


def run_checker(model: str, params: dict, workers: int, symmetry: bool) -> dict:
    """One checker run in a child process: its JSON result plus peak memory in bytes."""
    command = [sys.executable, "-m", "checker", f"models/{model}.py", "--json", "--quiet",
               "--workers", str(workers), "--symmetry" if symmetry else "--no-symmetry"]
    for name, value in params.items():
        command += ["-p", f"{name}={value!r}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    result = json.loads(done.stdout)
    result["wall"] = time.perf_counter() - started
    return result


def startup_bytes() -> int:
    """Peak memory of the checker on a one-state model: subtracted to get bytes per state."""
    code = "import checker.cli, checker.report; print(checker.report.peak_memory_bytes())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def run_baseline(function: str, args: tuple) -> float:
    """Seconds the hand-written loop takes, measured in a child process."""
    code = (f"import sys; sys.path.insert(0, 'bench'); import baseline; "
            f"print(baseline.{function}(*{args!r})[2])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instances only")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="instances whose name "
                        "contains one of these words, e.g. --only '2pc 7'")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--symmetry", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    header = (f"{'instance':<20} {'workers':>7} {'distinct':>10} {'transitions':>12} "
              f"{'seconds':>8} {'states/s':>9} {'peak MB':>8} {'B/state':>8} "
              f"{'baseline s':>10} {'overhead':>8} {'TLC 1w/2w s':>12}")
    floor = startup_bytes()
    print(header)
    print("-" * len(header))
    for name, model, params, baseline, tlc_plain, tlc_symmetric in INSTANCES:
        tlc = tlc_symmetric if args.symmetry else tlc_plain
        if args.quick and name not in QUICK:
            continue
        if args.only and not any(word in name for word in args.only):
            continue
        base = None
        if baseline and not args.no_baseline and not args.symmetry:
            base = run_baseline(*baseline)
        for workers in args.workers:
            result = run_checker(model, params, workers, args.symmetry)
            seconds = result["seconds"]
            peak = result["peak_memory_bytes"]
            # The peak counts every process: the coordinator and each worker start at the floor.
            processes = 1 if workers == 1 else 1 + workers
            per_state = max(peak - processes * floor, 0) / max(result["distinct_states"], 1)
            overhead = f"{seconds / base:.2f}" if base else "-"
            reference = "/".join("-" if t is None else f"{t:g}" for t in tlc) if tlc else "-"
            print(f"{name:<20} {workers:>7} {result['distinct_states']:>10,} "
                  f"{result['transitions']:>12,} {seconds:>8.2f} "
                  f"{result['states_per_second']:>9,.0f} {peak / 2**20:>8.1f} {per_state:>8.0f} "
                  f"{base if base else 0:>10.2f} {overhead:>8} "
                  f"{reference:>12}", flush=True)


if __name__ == "__main__":
    main()
