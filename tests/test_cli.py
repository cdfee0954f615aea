"""The command line: exit codes, the JSON contract, and one-line errors for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JSON_KEYS = {"verdict", "model", "params", "symmetry", "distinct_states", "transitions", "depth",
             "seconds", "states_per_second", "property", "trace", "error"}


def checker(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def test_paxos_passes_and_prints_a_summary():
    run = checker("models/paxos.py", "--no-symmetry")
    assert run.returncode == 0, run.stderr
    assert "3,921 distinct" in run.stdout
    assert "states/s" in run.stdout and "depth 16" in run.stdout


def test_naive_paxos_prints_the_counterexample_and_exits_12():
    run = checker("models/naive_paxos.py", "--no-symmetry")
    assert run.returncode == 12
    assert "Counterexample to agreement, 9 states" in run.stdout
    assert "8  deliver(" in run.stdout
    assert "decided: None → value1" in run.stdout


def test_json_output_has_the_contract_keys_and_a_trace():
    run = checker("models/paxos.py", "-p", "q1=1", "-p", "q2=2", "--json", "--no-symmetry")
    assert run.returncode == 12
    result = json.loads(run.stdout)
    assert JSON_KEYS <= set(result)
    assert result["verdict"] == "violation" and result["property"] == "agreement"
    assert result["params"] == {"acceptors": 3, "values": 2, "ballots": 2, "q1": 1, "q2": 2}
    assert result["trace"][0]["action"] == "init"
    assert len(result["trace"]) == 11
    assert result["trace"][1]["state"]["msgs"] == [{"bal": 0}]


def test_runs_are_deterministic_apart_from_times():
    first, second = (json.loads(checker("models/naive_paxos.py", "--json",
                                        "--no-symmetry").stdout) for _ in range(2))
    for result in (first, second):
        for key in ("seconds", "states_per_second"):
            result.pop(key)
    assert first == second


def test_fingerprints_do_not_depend_on_the_hash_seed():
    outputs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = checker("models/naive_paxos.py", "--json", "--no-symmetry", env=env)
        result = json.loads(run.stdout)
        outputs.append((result["distinct_states"], result["transitions"], result["trace"]))
    assert outputs[0] == outputs[1]


def test_bounds_give_exit_code_3():
    run = checker("models/paxos.py", "--max-states", "100", "--no-symmetry")
    assert run.returncode == 3
    assert "incomplete: max states 100 reached" in run.stdout


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


RAISING = """
from checker import Model, action

class Raising(Model):
    deadlock = False

    def init(self):
        return 0

    @action
    def step(self, s):
        if s == 2:
            raise RuntimeError("boom")
        return s + 1
"""


def test_model_raising_during_exploration_exits_75_with_trace(tmp_path):
    model = write(tmp_path, "raising.py", RAISING)
    run = checker(model, "--json")
    assert run.returncode == 75
    result = json.loads(run.stdout)
    assert result["verdict"] == "error"
    assert "RuntimeError: boom" in result["error"] and "raising.py, line 13" in result["error"]
    assert [step["state"] for step in result["trace"][:3]] == [0, 1, 2]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("args, message", [
    (["models/missing.py"], "no such model file"),
    (["models/paxos.py", "-p", "acceptors=99"], "acceptors=99 is outside its domain 1..7"),
    (["models/paxos.py", "-p", "colour=3"], "unknown parameter 'colour'"),
    (["models/paxos.py", "-p", "acceptors"], "not of the form NAME=VALUE"),
    (["models/paxos.py", "--invariant", "nonsense"], "has no invariant 'nonsense'"),
])
def test_bad_input_is_one_line_and_exits_150(args, message):
    run = checker(*args)
    assert run.returncode == 150
    assert message in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_syntax_error_names_the_file_and_line(tmp_path):
    model = write(tmp_path, "broken.py", "from checker import Model\n\nclass X(Model:\n    pass\n")
    run = checker(model)
    assert run.returncode == 150
    assert "broken.py, line 3: syntax error" in run.stderr


def test_malformed_model_class_is_rejected_when_loading(tmp_path):
    model = write(tmp_path, "noinit.py", "from checker import Model\n\nclass X(Model):\n    pass\n")
    run = checker(model)
    assert run.returncode == 150
    assert "has no init(self) method" in run.stderr


@pytest.mark.parametrize("args", [
    ["models/paxos.py", "--max-depth", "zero"],
    ["models/paxos.py", "--frobnicate"],
    ["nothing-here"],
    [],
])
def test_command_line_usage_errors_exit_2(args):
    assert checker(*args).returncode == 2


def test_text_trace_file_is_written(tmp_path):
    out = tmp_path / "cex.txt"
    run = checker("models/naive_paxos.py", "--trace-out", out, "--quiet")
    assert run.returncode == 12
    text = out.read_text()
    assert text.startswith("Counterexample to agreement")
    assert "deliver(proposer0 → acceptor0: Propose(value=value0))" in text
