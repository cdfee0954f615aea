"""Benchmark: multi-core scaling of the parallel search, with the coordinator's phases.

    python bench/scaling.py                           # 2PC 7 RMs with 1 and 2 workers
    python bench/scaling.py --rms 9 --workers 1 2 4 8 16
    python bench/scaling.py --rms 8 --workers 1 2 auto   # auto: the default (see below)

For each worker count the table shows distinct states, transitions, wall seconds, the speed-up
over the first row, and where the coordinator waited: start-up (spawning the workers and
loading the model in each), expanding levels and checking the new states, settling the winners,
ranking and balancing the next level between workers, growing the shared table, and how many
levels were expanded again because the table filled up during them, ``stolen`` how many pieces
workers that had expanded their own took from busier ones; ``balance`` is the mean over the
busiest worker's transitions, summed over levels (1.00: every level evenly shared).
A phase that does not shrink with more workers is what limits the speed-up. ``auto`` is what
the checker does without ``--workers``: the plain search hands over to one worker per core
once it is big enough (``start`` then covers the plain search before the hand-over).

``cpu s`` adds up the processor seconds of the coordinator and every worker, less those of
starting them (measured by a search stopped before its first level), and ``work`` is that over
the first row's: the work the parallel search does beyond the plain search's (moving states,
settling, checking a state found by several workers more than once). It is
measured in processor time, so it does not need as many cores as workers: on a small machine,
``work`` at 16 workers says how far from 16x the search would stay on 16 cores even if nothing
else held it back (16 over ``work`` is its bound).

With ``--ceiling`` each row also shows what this machine gives N independent plain searches
run at once, over one run alone just before (N times its seconds over the slowest copy's):
shared caches, memory bandwidth and, on a virtual machine, its neighbours bound every
parallel search by that figure, so the speed-up is best read against it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checker import parallel  # noqa: E402
from checker.explore import Options, cores, drain, start  # noqa: E402
from checker.loader import build_model  # noqa: E402

PHASES = ("start", "expand", "settle", "next level", "grow", "retries", "stolen", "balance")


def timed(phases: dict[str, float], name: str, function: Any) -> Any:
    """``function`` with the time spent in it added to ``phases[name]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - began
    return wrapper


def instrument(phases: dict[str, float]) -> None:
    """Wrap the coordinator's steps of :mod:`checker.parallel` with timers."""
    plain_all = parallel._all

    def all_by_command(pipes: list, message: tuple, expect: str) -> list:
        name = "settle" if message[0] == "settle" else "other"
        return timed(phases, name, plain_all)(pipes, message, expect)

    parallel._all = all_by_command
    plain_expand = parallel._expand_all

    def expand_all(crew: Any, depth: int, retry: bool, parcels: list, pending: set,
                   layout: list) -> Any:
        if "start" not in phases:  # from the search's start to its first level
            phases["start"] = time.perf_counter() - phases["began"]
        phases["retries"] += retry
        replies, layout = timed(phases, "expand", plain_expand)(crew, depth, retry, parcels,
                                                                pending, layout)
        if replies is not None:  # transitions per worker: how evenly the level was shared
            work = [reply[1] for reply in replies]
            phases["mean work"] += sum(work) / len(work)
            phases["most work"] += max(work)
            phases["stolen"] += sum(len(reply[-1]) for reply in replies)
        return replies, layout

    parallel._expand_all = expand_all
    parallel._next_level = timed(phases, "next level", parallel._next_level)
    parallel._grow = timed(phases, "grow", parallel._grow)


def cpu_seconds() -> float:
    """Processor seconds (user and system) of this process and of its children that ended."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def run(path: str, params: dict[str, Any], workers: int | None, options: Options | None = None
        ) -> tuple[Any, float, float, dict[str, float]]:
    """One search; its result, wall seconds, processor seconds of all its processes and the
    coordinator's seconds per phase."""
    phases: dict[str, float] = defaultdict(float)
    saved = {name: getattr(parallel, name) for name in
             ("_all", "_expand_all", "_next_level", "_grow")}
    instrument(phases)
    try:
        model = build_model(path, params, None)
        cpu = cpu_seconds()
        phases["began"] = began = time.perf_counter()
        search, note = start(model, options or Options(), None, False, workers)
        if note:
            print(f"note: {note}", file=sys.stderr)
        result = drain(search, None)
        wall = time.perf_counter() - began
        cpu = cpu_seconds() - cpu  # the workers have been joined: their time is counted
    finally:
        for name, function in saved.items():
            setattr(parallel, name, function)
    return result, wall, cpu, phases


def plain_seconds(path: str, params: dict[str, Any]) -> float:
    """Seconds of one plain search (the work of one copy for ``--ceiling``)."""
    model = build_model(path, params, None)
    began = time.perf_counter()
    drain(start(model, Options(), None, False, 1)[0], None)
    return time.perf_counter() - began


def ceiling(path: str, params: dict[str, Any], copies: int) -> float:
    """The speed-up this machine gives ``copies`` plain searches run at once in separate
    processes over one run alone, measured just before (the machine's speed may drift)."""
    if copies == 1:
        return 1.0
    with multiprocessing.get_context("spawn").Pool(copies) as pool:
        alone = pool.apply(plain_seconds, (path, params))
        seconds = pool.starmap(plain_seconds, [(path, params)] * copies)
    return copies * alone / max(seconds)


def workers_argument(text: str) -> int | None:
    """A worker count, or None for ``auto`` (the checker's default)."""
    return None if text == "auto" else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "two_phase_commit.py"))
    parser.add_argument("--rms", type=int, default=7, help="resource managers (2PC)")
    parser.add_argument("-p", dest="params", action="append", default=[], metavar="NAME=VALUE",
                        help="model parameters instead of --rms")
    parser.add_argument("--workers", type=workers_argument, nargs="+", default=[1, 2],
                        help="worker counts, or auto for the default")
    parser.add_argument("--ceiling", action="store_true",
                        help="also run as many plain searches at once as workers (see above)")
    args = parser.parse_args()
    params: dict[str, Any] = {"rms": args.rms}
    if args.params:
        params = {k: eval(v) for k, v in (p.split("=", 1) for p in args.params)}
    print(f"{Path(args.model).name} {params} on {os.cpu_count()} cores")
    header = (f"{'workers':>7} {'distinct':>11} {'transitions':>12} {'wall s':>8} "
              f"{'speed-up':>8} {'cpu s':>8} {'work':>6} " + " ".join(f"{p:>10}" for p in PHASES)
              + (f" {'ceiling':>8}" if args.ceiling else ""))
    print(header)
    print("-" * len(header), flush=True)
    first = first_cpu = None
    for workers in args.workers:
        result, wall, cpu, phases = run(args.model, params, workers)
        if workers is not None:  # the default starts no workers before the first level
            cpu -= run(args.model, params, workers, Options(max_depth=0))[2]
        first = first or wall
        first_cpu = first_cpu or cpu
        if phases.get("most work"):
            phases["balance"] = phases["mean work"] / phases["most work"]
        bound = ""
        if args.ceiling:
            bound = f" {ceiling(args.model, params, workers or cores()):>8.2f}"
        print(f"{workers or 'auto':>7} {result.distinct_states:>11,} {result.transitions:>12,} "
              f"{wall:>8.2f} {first / wall:>8.2f} {cpu:>8.2f} {cpu / first_cpu:>6.2f} "
              + " ".join(f"{phases.get(p, 0.0):>10.2f}" for p in PHASES) + bound, flush=True)


if __name__ == "__main__":
    main()
