"""Hand-written breadth-first loops over exactly the semantics of two shipped models.

They are the yardstick of the framework's overhead: plain tuples and frozensets, a dict of
states as the seen set, the invariant checked once per new state, and nothing else. Their
distinct-state counts must equal the checker's (``bench/run.py`` checks that they do).
"""

from __future__ import annotations

import time
from itertools import combinations


def two_phase_commit(rms: int) -> tuple[int, int, float]:
    """BFS over TwoPhase with ``rms`` resource managers: (distinct states, transitions, s)."""
    started = time.perf_counter()
    everyone = frozenset(range(rms))
    init = (("working",) * rms, "init", frozenset(), frozenset())
    seen = {init: None}
    frontier = [init]
    transitions = 0
    while frontier:
        following = []
        for state in frontier:
            rm_state, tm_state, tm_prepared, msgs = state
            successors = []
            if tm_state == "init":
                for rm in range(rms):
                    if ("prepared", rm) in msgs:
                        successors.append((rm_state, tm_state, tm_prepared | {rm}, msgs))
                if tm_prepared == everyone:
                    successors.append((rm_state, "committed", tm_prepared, msgs | {("commit",)}))
                successors.append((rm_state, "aborted", tm_prepared, msgs | {("abort",)}))
            commit = ("commit",) in msgs
            abort = ("abort",) in msgs
            for rm in range(rms):
                if rm_state[rm] == "working":
                    prepared = rm_state[:rm] + ("prepared",) + rm_state[rm + 1:]
                    successors.append((prepared, tm_state, tm_prepared, msgs | {("prepared", rm)}))
                    aborted = rm_state[:rm] + ("aborted",) + rm_state[rm + 1:]
                    successors.append((aborted, tm_state, tm_prepared, msgs))
                if commit:
                    committed = rm_state[:rm] + ("committed",) + rm_state[rm + 1:]
                    successors.append((committed, tm_state, tm_prepared, msgs))
                if abort:
                    aborted = rm_state[:rm] + ("aborted",) + rm_state[rm + 1:]
                    successors.append((aborted, tm_state, tm_prepared, msgs))
            transitions += len(successors)
            for successor in successors:
                if successor not in seen:
                    seen[successor] = state
                    if "committed" in successor[0] and "aborted" in successor[0]:
                        raise AssertionError("two-phase commit baseline: inconsistent state")
                    following.append(successor)
        frontier = following
    return len(seen), transitions, time.perf_counter() - started


def paxos(acceptors: int, values: int, ballots: int) -> tuple[int, int, float]:
    """BFS over Paxos.tla with majority quorums: (distinct states, transitions, seconds)."""
    started = time.perf_counter()
    quorum = acceptors // 2 + 1
    accs = range(acceptors)
    init = ((-1,) * acceptors, (-1,) * acceptors, (None,) * acceptors, frozenset())
    seen = {init: None}
    frontier = [init]
    transitions = 0

    def chosen(msgs: frozenset) -> set:
        votes: dict = {}
        for m in msgs:
            if m[0] == "2b":
                votes.setdefault((m[2], m[3]), set()).add(m[1])
        return {v for (_, v), who in votes.items() if len(who) >= quorum}

    while frontier:
        following = []
        for state in frontier:
            max_bal, max_vbal, max_val, msgs = state
            successors = []
            for b in range(ballots):
                successors.append((max_bal, max_vbal, max_val, msgs | {("1a", b)}))
            for a in accs:
                for b in range(ballots):
                    if ("1a", b) in msgs and b > max_bal[a]:
                        bal = max_bal[:a] + (b,) + max_bal[a + 1:]
                        reply = ("1b", a, b, max_vbal[a], max_val[a])
                        successors.append((bal, max_vbal, max_val, msgs | {reply}))
            for b in range(ballots):
                if any(("2a", b, v) in msgs for v in range(values)):
                    continue
                promises = [m for m in msgs if m[0] == "1b" and m[2] == b]
                for v in range(values):
                    for q in combinations(promises, quorum):
                        voted = [m for m in q if m[3] >= 0]
                        if not voted or any(
                            m[4] == v and m[3] == max(x[3] for x in voted) for m in voted
                        ):
                            successors.append((max_bal, max_vbal, max_val, msgs | {("2a", b, v)}))
                            break
            for a in accs:
                for b in range(ballots):
                    for v in range(values):
                        if ("2a", b, v) in msgs and b >= max_bal[a]:
                            successors.append((
                                max_bal[:a] + (b,) + max_bal[a + 1:],
                                max_vbal[:a] + (b,) + max_vbal[a + 1:],
                                max_val[:a] + (v,) + max_val[a + 1:],
                                msgs | {("2b", a, b, v)},
                            ))
            transitions += len(successors)
            for successor in successors:
                if successor not in seen:
                    seen[successor] = state
                    if len(chosen(successor[3])) > 1:
                        raise AssertionError("paxos baseline: agreement broken")
                    following.append(successor)
        frontier = following
    return len(seen), transitions, time.perf_counter() - started


if __name__ == "__main__":
    print("two-phase commit, 5 RMs:", two_phase_commit(5))
    print("paxos 3a 2v 2b:", paxos(3, 2, 2))
