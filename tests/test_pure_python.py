"""Without any compiled extension the checker gives exactly the same results.

The C extensions (fingerprints, the seen-set table, record and map bases, canonical forms) are
optional: a machine without a C compiler runs the pure-Python definitions. Each run below is
made twice in child processes, once normally and once with every extension blocked, and the
JSON results must agree apart from timings and memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = ("checker._fp", "checker._table", "checker._values", "checker._sym")
BLOCKED = (
    "import sys\n"
    f"for name in {EXTENSIONS!r}:\n"
    "    sys.modules[name] = None\n"
    "from checker.cli import main\n"
    "sys.argv[0] = 'checker'\n"
    "sys.exit(main())\n"
)
VARYING = {"seconds", "states_per_second", "peak_memory_bytes", "collision_probability"}


def run(blocked: bool, *args: str) -> dict:
    command = [sys.executable, "-c", BLOCKED] if blocked else [sys.executable, "-m", "checker"]
    done = subprocess.run([*command, *args, "--json", "--quiet"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode not in (2, 75, 150), done.stderr
    result = json.loads(done.stdout)
    kept = {key: value for key, value in result.items() if key not in VARYING}
    return {"exit": done.returncode, **kept}


@pytest.mark.parametrize("args", [
    ("models/paxos.py", "--no-symmetry"),
    ("models/paxos.py",),
    ("models/two_phase_commit.py", "-p", "rms=4"),
    ("models/naive_paxos.py",),
    ("models/primary_backup.py", "-p", "bug=early_ack"),
    ("models/raft.py", "-p", "bug=volatile_vote"),
])
def test_results_without_extensions_are_identical(args):
    compiled = run(False, *args)
    assert run(True, *args) == compiled
    assert compiled["distinct_states"] > 0
