"""Shipped models reproduce published state counts and pinned counterexamples."""

from pathlib import Path

import pytest

from checker import check
from checker.loader import build_model

MODELS = Path(__file__).resolve().parent.parent / "models"


def run(name, **params):
    return check(build_model(MODELS / f"{name}.py", params))


@pytest.mark.parametrize("rms, states", [(3, 288), (5, 8_832)])
def test_two_phase_commit_matches_tlc_counts(rms, states):
    result = run("two_phase_commit", rms=rms)
    assert (result.verdict, result.distinct_states) == ("ok", states)


@pytest.mark.slow
def test_two_phase_commit_with_seven_rms_has_296448_states():
    assert run("two_phase_commit", rms=7).distinct_states == 296_448


def test_paxos_has_exactly_the_3921_states_tlc_reports():
    result = run("paxos")
    assert (result.verdict, result.distinct_states, result.depth) == ("ok", 3_921, 16)


def test_paxos_with_non_intersecting_quorums_breaks_agreement():
    result = run("paxos", q1=1, q2=2)
    assert (result.verdict, result.property, len(result.trace)) == ("violation", "agreement", 11)


def test_naive_paxos_breaks_agreement_in_nine_states():
    result = run("naive_paxos")
    assert (result.verdict, result.property, len(result.trace)) == ("violation", "agreement", 9)
    decided = [p.decided for n, p in result.trace.steps[-1].state.nodes.items()
               if n.kind == "proposer"]
    assert len(set(decided)) == 2
