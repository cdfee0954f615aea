"""Raft on the actor layer: the correct protocol keeps Figure 3's properties within its bounds,
and each planted bug breaks the property it should, with a pinned shortest counterexample."""

from functools import cache
from pathlib import Path

import pytest

from checker import check
from checker.actors import ActorModel
from checker.explore import successors
from checker.fingerprint import fingerprint
from checker.loader import build_model
from checker.symmetry import canonical_fingerprint
from checker.values import Id

RAFT = Path(__file__).resolve().parent.parent / "models" / "raft.py"
SAFETY = ("election_safety", "log_matching", "leader_completeness", "state_machine_safety")


@cache
def run(symmetry=False, **params):
    """The model and its search result; each search runs once per test session."""
    model = build_model(RAFT, params)
    if symmetry:
        return model, check(model, fingerprint_fn=canonical_fingerprint(model), symmetry=True)
    return model, check(model)


def invariants(model):
    return [p for p in model.properties() if p.kind == "invariant"]


def broken(model, world):
    return [p.name for p in invariants(model) if not p.check(world)]


def test_each_variant_takes_the_smallest_bounds_that_expose_its_bug_by_default():
    names = ("max_term", "elections", "values", "restarts", "max_restarts", "stale_replies")
    bounds = {bug: tuple(build_model(RAFT, {"bug": bug}).params[name] for name in names)
              for bug in ("none", "figure8", "volatile_vote", "no_up_to_date_check",
                          "no_prev_log_check")}
    assert bounds == {
        "none": (2, 2, 1, 1, 1, True),
        "figure8": (4, 4, 1, 0, 0, False),
        "volatile_vote": (1, 2, 1, 1, 1, True),
        "no_up_to_date_check": (2, 2, 1, 0, 0, True),
        "no_prev_log_check": (3, 3, 2, 0, 0, True),
    }


def test_one_term_with_a_crash_restart_passes_every_property_in_6829_states():
    _, result = run(max_term=1, restarts=1)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 6_829, 13)


def test_two_servers_over_two_terms_with_a_restart_pass_in_2006_states():
    _, result = run(servers=2, max_term=2, restarts=1)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 2_006, 17)


def test_two_elections_without_restarts_keep_every_safety_property_in_10613_orbits():
    _, result = run(symmetry=True, restarts=0)
    assert (result.verdict, result.property) == ("violation", "restarted_server_catches_up")
    assert (result.distinct_states, result.depth) == (10_613, 20)


@pytest.mark.slow
def test_the_default_correct_run_passes_with_94991_orbits():
    _, result = run(symmetry=True)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 94_991, 24)


@pytest.mark.slow
def test_the_default_correct_run_passes_with_569669_states_without_symmetry():
    _, result = run()
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 569_669, 24)


@pytest.mark.parametrize("symmetry", [False, True])
def test_a_forgotten_vote_elects_two_leaders_in_one_term_in_nine_states(symmetry):
    model, result = run(symmetry=symmetry, bug="volatile_vote")
    assert (result.verdict, result.property, len(result.trace)) == (
        "violation", "election_safety", 9)
    actions = [step.action for step in result.trace.steps]
    assert sum(action.startswith("crash") for action in actions) == 1
    assert sum(action.startswith("restart") for action in actions) == 1
    last = result.trace.steps[-1].state
    assert sorted(term for server in last.nodes.values() for term, _ in server.elected) == [1, 1]


@pytest.mark.parametrize("symmetry", [False, True])
def test_votes_without_the_up_to_date_check_elect_a_leader_missing_a_committed_entry(symmetry):
    model, result = run(symmetry=symmetry, bug="no_up_to_date_check")
    assert (result.verdict, result.property, len(result.trace)) == (
        "violation", "leader_completeness", 10)
    last = result.trace.steps[-1].state
    leaders = [server for server in last.nodes.values() if server.role == "leader"]
    assert [(leader.term, leader.log) for leader in leaders] == [(2, ())]
    assert broken(model, result.trace.steps[-2].state) == []


@pytest.mark.slow
def test_appending_without_the_prev_log_term_check_breaks_log_matching_in_fifteen_states():
    model, result = run(symmetry=True, bug="no_prev_log_check")
    assert (result.verdict, result.property, len(result.trace)) == (
        "violation", "log_matching", 15)
    assert result.distinct_states == 425_399
    logs = sorted(server.log for server in result.trace.steps[-1].state.nodes.values())
    second = {log[1] for log in logs if len(log) == 2}
    assert len(second) == 1 and len({log[0] for log in logs if len(log) == 2}) == 2


FIGURE_8 = [
    "timeout(server0: election)",
    "deliver(server0 → server1: RequestVote(term=1, last_log_index=0, last_log_term=0))",
    "deliver(server1 → server0: RequestVoteResponse(term=1, vote_granted=True))",
    "server0.client_request(value0)",
    "timeout(server1: election)",
    "deliver(server1 → server2: RequestVote(term=2, last_log_index=0, last_log_term=0))",
    "deliver(server2 → server1: RequestVoteResponse(term=2, vote_granted=True))",
    "server1.client_request(value0)",
    "deliver(server1 → server0: RequestVote(term=2, last_log_index=0, last_log_term=0))",
    "timeout(server0: election)",
    "deliver(server0 → server2: RequestVote(term=3, last_log_index=1, last_log_term=1))",
    "deliver(server2 → server0: RequestVoteResponse(term=3, vote_granted=True))",
    "deliver(server0 → server2: AppendEntries(term=3, prev_log_index=1, prev_log_term=1, "
    "entries=(), leader_commit=0))",
    "deliver(server2 → server0: AppendEntriesResponse(term=3, success=False, match_index=1))",
    "deliver(server0 → server2: AppendEntries(term=3, prev_log_index=0, prev_log_term=0, "
    "entries=((1, value0),), leader_commit=0))",
    "deliver(server2 → server0: AppendEntriesResponse(term=3, success=True, match_index=1))",
    "deliver(server0 → server1: RequestVote(term=3, last_log_index=1, last_log_term=1))",
    "timeout(server1: election)",
    "deliver(server1 → server2: RequestVote(term=4, last_log_index=1, last_log_term=2))",
    "deliver(server2 → server1: RequestVoteResponse(term=4, vote_granted=True))",
    "deliver(server1 → server2: AppendEntries(term=4, prev_log_index=1, prev_log_term=2, "
    "entries=(), leader_commit=0))",
    "deliver(server2 → server1: AppendEntriesResponse(term=4, success=False, match_index=1))",
    "deliver(server1 → server2: AppendEntries(term=4, prev_log_index=0, prev_log_term=0, "
    "entries=((2, value0),), leader_commit=0))",
    "deliver(server2 → server1: AppendEntriesResponse(term=4, success=True, match_index=1))",
]


def play(model, labels):
    """The states of the execution that takes the labelled steps, initial state first."""
    actions = model.actions()
    states = model.initial_states()
    for label in labels:
        states.append(next(successor for spec, args, successor in successors(states[-1], actions)
                           if spec.describe(args) == label))
    return states


def test_figure_8_commits_two_entries_at_one_index_when_counting_old_replicas():
    model = build_model(RAFT, {"bug": "figure8"})
    states = play(model, FIGURE_8)
    assert len(states) == 25
    assert [broken(model, world) for world in states[:-1]] == [[]] * 24
    assert broken(model, states[-1]) == ["state_machine_safety"]
    value = Id("value", 0)
    server0, server1 = states[-1].nodes[Id("server", 0)], states[-1].nodes[Id("server", 1)]
    assert (server0.term, server0.role, server0.applied) == (3, "leader", {(1, (1, value))})
    assert (server1.term, server1.role, server1.applied) == (4, "leader", {(1, (2, value))})


@pytest.mark.slow
def test_the_search_finds_figure_8_in_25_states_among_864177_orbits():
    model, result = run(symmetry=True, bug="figure8")
    assert (result.verdict, result.property, len(result.trace)) == (
        "violation", "state_machine_safety", 25)
    assert (result.distinct_states, result.depth) == (864_177, 24)
    applied = {entry for server in result.trace.steps[-1].state.nodes.values()
               for entry in server.applied}
    assert sorted(term for _, (term, _) in applied) == [1, 2]


def test_the_correct_commit_rule_refuses_the_old_entry_in_figure_8():
    model = build_model(RAFT, {"max_term": 4, "elections": 4, "restarts": 0})
    states = play(model, FIGURE_8)
    assert [broken(model, world) for world in states] == [[]] * 25
    assert all(server.commit_index == 0 for server in states[-1].nodes.values())


def test_the_figure_8_variant_is_bounded_to_four_elections_and_one_value_by_default():
    model = build_model(RAFT, {"bug": "figure8"})
    assert [p.check(play(model, FIGURE_8)[-1]) for p in model.properties()
            if p.kind == "constraint"] == [True]


def reachable_local_states(model):
    """Fingerprints of every reachable (nodes, timers, crashed, faults), network left out."""
    seen = set()

    def record(world):
        seen.add(fingerprint((world.nodes, world.timers, world.crashed, world.faults)))
        return fingerprint(world)

    result = check(model, fingerprint_fn=record)
    return result, seen


@pytest.mark.parametrize("params, forgetting, keeping", [
    ({"max_term": 1, "restarts": 1}, 6_829, 7_555),
    ({"servers": 2, "max_term": 2, "restarts": 1}, 2_006, 4_788),
])
def test_forgetting_obsolete_replies_loses_no_reachable_server_state(params, forgetting, keeping):
    model = build_model(RAFT, params)
    keeps_every_message = type("KeepsEveryMessage", (type(model),),
                               {"obsolete": ActorModel.obsolete})(**params)
    result, reached = reachable_local_states(model)
    plain, reached_plainly = reachable_local_states(keeps_every_message)
    assert (result.verdict, plain.verdict) == ("ok", "ok")
    assert (result.distinct_states, plain.distinct_states) == (forgetting, keeping)
    assert reached == reached_plainly


def test_losing_replies_to_stale_requests_only_removes_runs():
    params = {"servers": 2, "max_term": 2, "restarts": 1}
    result, reached = reachable_local_states(build_model(RAFT, params))
    lossy, reached_lossily = reachable_local_states(
        build_model(RAFT, {**params, "stale_replies": False}))
    assert (result.distinct_states, lossy.distinct_states) == (2_006, 1_306)
    assert (len(reached), len(reached_lossily)) == (1_308, 1_172)
    assert reached_lossily < reached


def test_a_leader_that_truncates_its_own_log_breaks_leader_append_only():
    model = build_model(RAFT, {})
    states = play(model, FIGURE_8[:4])
    leader = Id("server", 0)
    world = states[-1]
    truncated = world.replace(nodes=world.nodes.set(leader, world.nodes[leader].replace(log=())))
    append_only = next(p for p in model.properties() if p.name == "leader_append_only")
    assert append_only.check(states[-2], world) and not append_only.check(world, truncated)


def test_every_safety_property_is_checked_and_the_sometimes_properties_are_reached():
    model, result = run(max_term=1, restarts=1)
    assert [name for name, kind in result.properties if kind == "invariant"] == list(SAFETY)
    assert [name for name, kind in result.properties if kind != "invariant"] == [
        "leader_append_only", "leader_elected", "entry_committed", "restarted_server_catches_up"]
