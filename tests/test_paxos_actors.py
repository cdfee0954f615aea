"""Paxos on the actor layer: the correct protocol passes, each planted mistake breaks agreement."""

from functools import cache
from pathlib import Path

import pytest

from checker import check
from checker.loader import build_model
from checker.symmetry import canonical_fingerprint

PAXOS_ACTORS = Path(__file__).resolve().parent.parent / "models" / "paxos_actors.py"


@cache
def run(symmetry=False, **params):
    """The model and its search result; each search runs once per test session."""
    model = build_model(PAXOS_ACTORS, params)
    if symmetry:
        return model, check(model, fingerprint_fn=canonical_fingerprint(model), symmetry=True)
    return model, check(model)


def test_one_proposer_paxos_passes_with_exactly_264_states():
    _, result = run(proposers=1)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 264, 12)


def test_one_proposer_paxos_survives_a_drop_and_a_crash_in_3717_states():
    _, result = run(proposers=1, max_drops=1, max_crashes=1)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 3_717, 13)


@pytest.mark.slow
def test_two_proposer_paxos_passes_with_exactly_158458_states():
    _, result = run(proposers=2)
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 158_458, 24)


@pytest.mark.parametrize("bug", ["no_promise_check", "ignore_promised_value"])
def test_each_planted_bug_breaks_agreement_in_fifteen_states(bug):
    model, result = run(bug=bug)
    assert (result.verdict, result.property, len(result.trace)) == ("violation", "agreement", 15)
    assert len(model.chosen(result.trace.steps[-1].state)) == 2
    assert len(model.chosen(result.trace.steps[-2].state)) == 1


@pytest.mark.parametrize("params, states", [
    ({"proposers": 1}, 62),
    ({"proposers": 1, "max_drops": 1, "max_crashes": 1}, 728),
])
def test_symmetric_acceptors_shrink_the_one_proposer_runs_to_pinned_counts(params, states):
    _, result = run(symmetry=True, **params)
    assert (result.verdict, result.distinct_states) == ("ok", states)


@pytest.mark.slow
@pytest.mark.parametrize("bug", ["no_promise_check", "ignore_promised_value"])
def test_symmetry_reduction_finds_an_equally_short_real_counterexample(bug):
    model, result = run(symmetry=True, bug=bug)
    assert (result.verdict, result.property, len(result.trace)) == ("violation", "agreement", 15)
    assert len(model.chosen(result.trace.steps[-1].state)) == 2


def test_without_a_promise_check_two_acceptors_accept_below_their_promise():
    model, result = run(bug="no_promise_check")
    broken = [
        (before.state.nodes[node], after.state.nodes[node])
        for before, after in zip(result.trace.steps, result.trace.steps[1:])
        for node in model.nodes_of("acceptor")
        if after.state.nodes[node].votes != before.state.nodes[node].votes
        and after.state.nodes[node].accepted_ballot < before.state.nodes[node].promised
    ]
    assert len(broken) == 2
