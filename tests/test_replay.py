"""Replaying saved ITF traces: a counterexample becomes a regression test."""

import json
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "models" / "paxos.py")
NAIVE = str(ROOT / "models" / "naive_paxos.py")

PAIR = '''
from checker import Model, Record, action, invariant, param


class State(Record):
    x: int
    y: int


class Pair(Model):
    limit = param(3, range(1, 10), "largest value of x and y")

    def init(self):
        return State(0, 0)

    @action
    def bump_x(self, s):
        if s.x < self.limit:
            return s.replace(x=s.x + {step})

    @action(over=[(1, 2)])
    def bump_y(self, s, by):
        if s.y + by <= self.limit:
            {y_hook}
            return s.replace(y=s.y + by)

    @invariant
    def small(self, s):
        return s.x + s.y < {bound}
'''


def write_model(tmp_path, name, step=1, bound=3, y_hook="pass"):
    path = tmp_path / f"{name}.py"
    path.write_text(PAIR.format(step=step, bound=bound, y_hook=y_hook))
    return str(path)


def save_trace(capsys, model, path, *params):
    code = main([model, *params, "--quiet", "--trace-out", str(path)])
    capsys.readouterr()
    return code


def replay(capsys, *argv):
    code = main(["replay", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_saved_counterexample_replays_to_its_violated_property(tmp_path, capsys):
    model = write_model(tmp_path, "pair")
    trace = tmp_path / "cex.itf.json"
    assert save_trace(capsys, model, trace) == 12
    code, out, _ = replay(capsys, trace, model)
    assert code == 12
    assert "violation: invariant small is broken at step 2 (the trace's last state)" in out


def test_a_model_that_now_reaches_a_different_state_diverges_at_that_step(tmp_path, capsys):
    trace = tmp_path / "cex.itf.json"
    assert save_trace(capsys, write_model(tmp_path, "pair"), trace) == 12
    changed = write_model(tmp_path, "pair_changed", step=2)
    code, out, _ = replay(capsys, trace, changed)
    assert code == 1
    assert "diverged: step 1: bump_x leads to a different state in the model" in out
    assert "x: trace has 1, model gives 2" in out


def test_a_fixed_model_replays_the_old_counterexample_as_valid_and_violation_free(
        tmp_path, capsys):
    trace = tmp_path / "cex.itf.json"
    assert save_trace(capsys, write_model(tmp_path, "pair"), trace) == 12
    fixed = write_model(tmp_path, "pair_fixed", bound=100)
    code, out, _ = replay(capsys, trace, fixed)
    assert code == 0
    assert "ok: the trace is a valid execution of the model and violates no property" in out
    assert "recorded as a counterexample to small, which no longer breaks" in out


def test_an_action_that_is_no_longer_enabled_is_a_divergence_naming_the_step(tmp_path, capsys):
    trace = tmp_path / "cex.itf.json"
    model = write_model(tmp_path, "pair")
    assert save_trace(capsys, model, trace) == 12
    data = json.loads(trace.read_text())
    assert [s["#meta"]["action"] for s in data["states"]] == ["init", "bump_x", "bump_y(2)"]
    code, out, _ = replay(capsys, trace, model, "-p", "limit=1")
    assert code == 1
    assert "note        parameter limit=1 overrides the trace's limit=3" in out
    assert "diverged: step 2: bump_y(2) is not enabled in the model (enabled: bump_y(1))" in out


def test_a_deadlock_trace_replays_to_exit_11(tmp_path, capsys):
    model = write_model(tmp_path, "stuck", bound=100)
    trace = tmp_path / "deadlock.itf.json"
    assert save_trace(capsys, model, trace) == 11
    code, out, _ = replay(capsys, trace, model)
    assert code == 11
    assert "deadlock at step" in out


def test_a_trace_where_the_model_raised_replays_to_exit_75(tmp_path, capsys):
    model = write_model(tmp_path, "raising", bound=100, y_hook="1 / (s.x - 1)")
    trace = tmp_path / "error.itf.json"
    assert save_trace(capsys, model, trace) == 75
    assert json.loads(trace.read_text())["#meta"]["error"]["action"] == "bump_y(1)"
    code, out, _ = replay(capsys, trace, model)
    assert code == 75
    assert "bump_y(1) raised ZeroDivisionError" in out


def test_paxos_counterexample_replays_and_a_changed_quorum_makes_it_impossible(
        tmp_path, capsys):
    trace = tmp_path / "paxos.itf.json"
    assert save_trace(capsys, PAXOS, trace, "-p", "q1=1", "-p", "q2=2", "--no-symmetry") == 12
    assert replay(capsys, trace, PAXOS)[0] == 12
    code, out, _ = replay(capsys, trace, PAXOS, "-p", "q1=2")
    assert code == 1
    assert "diverged: step 5: phase2a(0, value0) is not enabled" in out


def test_a_trace_found_with_symmetry_is_a_real_execution_with_real_node_names(
        tmp_path, capsys):
    pytest.importorskip("checker.symmetry", reason="symmetry reduction not available")
    trace = tmp_path / "sym.itf.json"
    assert save_trace(capsys, PAXOS, trace, "-p", "q1=1", "-p", "q2=2", "--symmetry") == 12
    data = json.loads(trace.read_text())
    assert data["#meta"]["symmetry"] is True
    code, out, _ = replay(capsys, trace, PAXOS)
    assert code == 12, out
    assert "invariant agreement is broken" in out


def test_an_actor_model_counterexample_replays(tmp_path, capsys):
    trace = tmp_path / "naive.itf.json"
    assert save_trace(capsys, NAIVE, trace) == 12
    code, out, _ = replay(capsys, trace, NAIVE)
    assert code == 12
    assert "invariant agreement is broken at step 8" in out


def test_a_first_state_that_is_not_initial_diverges_at_step_0(tmp_path, capsys):
    model = write_model(tmp_path, "pair")
    trace = tmp_path / "cex.itf.json"
    assert save_trace(capsys, model, trace) == 12
    data = json.loads(trace.read_text())
    data["states"][0]["y"] = {"#bigint": "7"}
    trace.write_text(json.dumps(data))
    code, out, _ = replay(capsys, trace, model)
    assert code == 1
    assert "step 0: the first state is not an initial state of the model" in out
    assert "y: trace has 7, model gives 0" in out


@pytest.mark.parametrize("edit, message", [
    (lambda d: "{not json", "not JSON"),
    (lambda d: {**d, "states": []}, "'states' must be a non-empty list"),
    (lambda d: {**d, "#meta": {**d["#meta"], "state_type": "Nope"}},
     "the model defines no state record named 'Nope'"),
    (lambda d: {**d, "#meta": {**d["#meta"], "params": {"limit": {"#bigint": "x"}}}},
     "#bigint must be a string of digits"),
    (lambda d: {**d, "#meta": {**d["#meta"], "params": {"nope": {"#bigint": "1"}}}},
     "unknown parameter 'nope'"),
    (lambda d: {**d, "vars": ["y", "x"]}, "do not match the fields of State"),
])
def test_a_malformed_or_mismatched_trace_is_a_one_line_error_with_exit_150(
        tmp_path, capsys, edit, message):
    model = write_model(tmp_path, "pair")
    trace = tmp_path / "cex.itf.json"
    assert save_trace(capsys, model, trace) == 12
    edited = edit(json.loads(trace.read_text()))
    trace.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    code, out, err = replay(capsys, trace, model)
    assert code == 150
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_replay_without_a_trace_file_is_a_usage_error(capsys):
    code, _, err = replay(capsys)
    assert code == 2
    assert "usage error" in err
