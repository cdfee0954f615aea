"""High-availability models: each correct protocol passes, each planted bug is caught briefly."""

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from checker import Options, check
from checker.actors import Crashed
from checker.loader import build_model

ROOT = Path(__file__).resolve().parent.parent


@cache
def run(name, invariants=None, **params):
    """The model and its search result (symmetry off); each search runs once per session."""
    model = build_model(ROOT / "models" / f"{name}.py", params)
    options = Options(invariants=list(invariants) if invariants else None)
    return model, check(model, options)


def outcome(result):
    if result.verdict == "ok":
        return (result.verdict, result.distinct_states, result.depth)
    return (result.verdict, result.property, len(result.trace))


def actions(result):
    return [step.action for step in result.trace.steps]


def last_state(result):
    return result.trace.steps[-1].state


# --- primary-backup ---------------------------------------------------------------------------


@pytest.mark.parametrize("params, expected", [
    ({}, ("ok", 1_466, 14)),
    pytest.param({"writes": 2}, ("ok", 16_680, 24), marks=pytest.mark.slow),
    ({"max_drops": 1}, ("ok", 3_432, 14)),
    ({"bug": "self_promotion"}, ("violation", "one_primary_per_view", 2)),
    ({"bug": "early_ack"}, ("violation", "acked_writes_survive_failover", 5)),
    ({"bug": "local_reads"}, ("violation", "reads_see_latest_write", 7)),
])
def test_primary_backup_verdicts_counts_and_trace_lengths(params, expected):
    _, result = run("primary_backup", **params)
    assert outcome(result) == expected


def test_self_promotion_makes_the_backup_a_second_primary_in_one_step():
    model, result = run("primary_backup", bug="self_promotion")
    assert actions(result) == ["init", "server1.primary_silent()"]
    primaries = [server for server, _ in model.acting_primaries(last_state(result))]
    assert [repr(server) for server in primaries] == ["server0", "server1"]


def test_split_brain_loses_an_acknowledged_write_two_steps_later():
    model, result = run("primary_backup", invariants=("acked_writes_survive_failover",),
                        bug="self_promotion")
    assert outcome(result) == ("violation", "acked_writes_survive_failover", 4)
    server0 = last_state(result).local(model.nodes_of("server")[0])
    assert (server0.view.primary, server0.data) == (model.nodes_of("server")[0], ())


def test_early_ack_loses_the_write_when_the_new_view_outruns_the_forward():
    model, result = run("primary_backup", bug="early_ack")
    assert actions(result)[3] == "viewservice0.missed_pings(server0)"
    world = last_state(result)
    server1 = world.local(model.nodes_of("server")[1])
    assert (server1.view.number, server1.view.primary, server1.data) == (2, model.nodes_of(
        "server")[1], ())
    assert world.local(model.client).history == (("put", 1),)


def test_local_reads_let_a_deposed_primary_serve_a_stale_read():
    model, result = run("primary_backup", bug="local_reads")
    assert last_state(result).local(model.client).history == (("put", 1), ("get", None))


# --- checkpoint and recovery ------------------------------------------------------------------


@pytest.mark.parametrize("params, expected", [
    ({}, ("ok", 1_135, 27)),
    ({"writes": 2, "max_crashes": 1, "max_restarts": 1}, ("ok", 245, 19)),
    ({"bug": "ack_before_durable"}, ("violation", "acked_writes_survive", 5)),
    ({"bug": "early_truncation"}, ("violation", "acked_writes_survive", 8)),
])
def test_checkpoint_recovery_verdicts_counts_and_trace_lengths(params, expected):
    _, result = run("checkpoint_recovery", **params)
    assert outcome(result) == expected


def test_ack_before_durable_loses_a_write_that_never_reached_the_log():
    model, result = run("checkpoint_recovery", bug="ack_before_durable")
    assert actions(result)[-2:] == ["crash(server0)", "restart(server0)"]
    assert "server0.flush()" not in actions(result)
    world = last_state(result)
    assert (world.local(model.client).acked, world.local(model.server).memory) == ((1,), ())


def test_early_truncation_crashes_between_truncating_and_completing_the_checkpoint():
    model, result = run("checkpoint_recovery", bug="early_truncation")
    assert actions(result)[4:] == ["server0.start_checkpoint()", "server0.truncate_log()",
                                   "crash(server0)", "restart(server0)"]
    server = last_state(result).local(model.server)
    assert (server.log, server.checkpoint, server.draft, server.memory) == ((), (), None, ())


def test_a_crash_keeps_only_the_durable_fields():
    model, result = run("checkpoint_recovery", bug="early_truncation")
    before_crash = result.trace.steps[-3].state.local(model.server)
    after_crash = result.trace.steps[-2].state.local(model.server)
    assert (before_crash.memory, before_crash.snapshot, before_crash.draft) == ((1,), (1,), ())
    assert (after_crash.memory, after_crash.snapshot, after_crash.draft) == ((), None, ())


# --- consistent hashing -----------------------------------------------------------------------


@pytest.mark.parametrize("params, expected", [
    ({"max_crashes": 0}, ("ok", 2_542, 21)),
    ({"bug": "early_ownership"}, ("violation", "acked_writes_readable_from_owner", 8)),
    ({"replicas": 1}, ("violation", "no_acked_write_lost", 5)),
])
def test_consistent_hashing_verdicts_counts_and_trace_lengths(params, expected):
    _, result = run("consistent_hashing", **params)
    assert outcome(result) == expected


@pytest.mark.slow
@pytest.mark.parametrize("params, expected", [
    ({}, ("ok", 97_350, 32)),
    ({"keys": 1}, ("ok", 25_400, 27)),
    ({"keys": 1, "leavers": 1, "max_crashes": 0}, ("ok", 20_604, 31)),
])
def test_consistent_hashing_passes_with_crashes_and_leaves(params, expected):
    _, result = run("consistent_hashing", **params)
    assert outcome(result) == expected


def test_early_ownership_lets_the_joining_node_serve_key_0_before_its_data_arrives():
    model, result = run("consistent_hashing", bug="early_ownership")
    node0 = model.nodes_of("node")[0]
    world = last_state(result)
    assert actions(result)[1] == "directory0.add(node0)"
    assert model.owner(world.local(node0).ring, 0) == node0
    assert (world.local(node0).store, world.local(model.client).acked) == ({}, {0: 1})


def test_a_crash_notifies_the_directory_alone():
    model, result = run("consistent_hashing", replicas=1)
    crash = result.trace.steps[-1]
    assert crash.action == "crash(node1)"
    notices = [e for e in crash.state.network if type(e.msg) is Crashed]
    assert [(repr(e.src), repr(e.dst)) for e in notices] == [("node1", "directory0")]


# --- the command line: defaults pass, each bug alone fails ------------------------------------


def checker(*args):
    return subprocess.run([sys.executable, "-m", "checker", *args, "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_default_run_passes_and_one_bug_alone_fails_on_the_command_line():
    assert checker("models/checkpoint_recovery.py").returncode == 0
    assert checker("models/checkpoint_recovery.py", "-p", "bug=early_truncation").returncode == 12


@pytest.mark.slow
@pytest.mark.parametrize("model, bugs", [
    ("primary_backup", ["self_promotion", "early_ack", "local_reads"]),
    ("checkpoint_recovery", ["ack_before_durable", "early_truncation"]),
    ("consistent_hashing", ["early_ownership"]),
])
def test_every_default_run_passes_and_every_bug_alone_fails_on_the_command_line(model, bugs):
    assert checker(f"models/{model}.py").returncode == 0
    for bug in bugs:
        assert checker(f"models/{model}.py", "-p", f"bug={bug}").returncode == 12
