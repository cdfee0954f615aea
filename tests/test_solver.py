"""Z3 over parameter spaces: enumeration, quorum queries, least/greatest values and sweeps.

Every answer Z3 gives is cross-checked by brute force in Python for small bounds: the points by
filtering the product of the domains with the Python evaluator, and quorum claims by
enumerating subsets of nodes with itertools.
"""

import itertools
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("z3")

from checker.cli import main as checker_main  # noqa: E402
from checker.errors import ParamError  # noqa: E402
from checker.loader import load_model_class  # noqa: E402
from checker.params import space_of  # noqa: E402
from checker.solver import Encoding, main, parse_query  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAXOS = ROOT / "models" / "paxos.py"

REPLICAS = textwrap.dedent('''
    """Replicas with crash faults and threshold quorums of n - f nodes."""
    from checker import Model, action, param
    from checker.params import formula, quorum


    class Replicas(Model):
        nodes = param(3, range(1, 8), "number of replicas")
        faults = param(1, range(0, 4), "crashes to tolerate")
        mode = param("sync", ("sync", "async", "chain"), "replication mode")
        fast = param(False, (False, True), "fast path")
        size = param(formula("nodes - faults"), range(0, 8), "quorum size")
        assume = ("nodes >= 2 * faults + 1", "size == nodes - faults",
                  "mode != 'chain' or not fast")
        derived = {"majority": "nodes // 2 + 1"}
        quorums = {"q": quorum("size", of="nodes"), "majority": quorum("majority", of="nodes")}

        def init(self):
            return 0

        @action
        def step(self, s):
            return None

        def final(self, s):
            return True
''')


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "replicas.py"
    path.write_text(REPLICAS)
    return path


def brute_points(cls, fixed=None):
    """Every point of a model's space, by filtering the product of the domains in Python."""
    space = space_of(cls)
    fixed = fixed or {}
    names = list(space.params)
    domains = [[fixed[n]] if n in fixed else list(space.params[n].domain) for n in names]
    points = []
    for values in itertools.product(*domains):
        point = dict(zip(names, values, strict=True))
        if space.violated(point) is None:
            points.append(point)
    return points


def subsets(n, size):
    return [set(c) for c in itertools.combinations(range(n), size)] if 0 <= size <= n else []


def disjoint_pair(n, first, second):
    return any(not (a & b) for a in subsets(n, first) for b in subsets(n, second))


def survives(n, size, faults):
    """Whether every set of ``faults`` crashed nodes leaves ``size`` live nodes (a quorum)."""
    crashes = min(max(faults, 0), n)
    return all(any(q <= set(range(n)) - c for q in subsets(n, size))
               for c in subsets(n, crashes))


def key(point, names):
    return tuple(point[n] for n in names)


def test_z3_enumerates_exactly_the_points_brute_force_finds(replicas):
    cls = load_model_class(replicas)
    encoding = Encoding(space_of(cls))
    found = encoding.points(10_000)
    expected = brute_points(cls)
    assert len(found) == len(expected) == encoding.count(10_000)
    assert sorted(map(repr, found)) == sorted(map(repr, expected))
    assert found[0] == {"nodes": 1, "faults": 0, "mode": "sync", "fast": False, "size": 1}


def test_paxos_has_2800_points_and_z3_counts_them_like_brute_force():
    cls = load_model_class(PAXOS)
    assert Encoding(space_of(cls)).count(10_000) == len(brute_points(cls)) == 2800


def test_fixed_values_ranges_and_a_filter_narrow_the_space(replicas):
    cls = load_model_class(replicas)
    space = space_of(cls)
    where = space.check("nodes + faults <= 6 and mode == 'async'", "bool")
    points = Encoding(space, {"fast": True}, {"nodes": (3, 5)}, where).points(1000)
    expected = [p for p in brute_points(cls, {"fast": True})
                if 3 <= p["nodes"] <= 5 and p["nodes"] + p["faults"] <= 6
                and p["mode"] == "async"]
    assert sorted(map(repr, points)) == sorted(map(repr, expected))
    assert {p["mode"] for p in points} == {"async"}


def test_a_space_over_the_limit_is_refused():
    encoding = Encoding(space_of(load_model_class(PAXOS)))
    with pytest.raises(ParamError, match="more than 100"):
        encoding.points(100)


def test_z3_finds_exactly_the_paxos_points_where_phase1_and_phase2_quorums_may_not_meet():
    cls = load_model_class(PAXOS)
    encoding = Encoding(space_of(cls))
    query = parse_query("intersect:phase1,phase2", encoding.space)
    answer = encoding.refute(query, 10_000, enumerate_all=True)
    names = ["acceptors", "q1", "q2"]
    assert answer.relevant == names
    failing = {key(c.point, names) for c in answer.counterexamples}
    assert failing == {(n, q1, q2) for n in range(1, 8) for q1 in range(1, n + 1)
                       for q2 in range(1, n + 1) if q1 + q2 <= n}
    assert len(failing) == 56 and answer.points == 140
    brute = {key(p, names) for p in brute_points(cls, {"values": 2, "ballots": 2})
             if disjoint_pair(p["acceptors"], p["q1"], p["q2"])}
    assert failing == brute
    for example in answer.counterexamples:
        first, second = set(example.sets["first"]), set(example.sets["second"])
        assert not first & second
        assert (len(first), len(second)) == (example.point["q1"], example.point["q2"])
        assert first | second <= set(range(example.point["acceptors"]))


def test_a_single_counterexample_is_the_smallest():
    encoding = Encoding(space_of(load_model_class(PAXOS)))
    answer = encoding.refute(parse_query("intersect:phase1,phase2", encoding.space))
    assert answer.counterexamples[0].point == {"acceptors": 2, "q1": 1, "q2": 1}
    assert answer.counterexamples[0].witness["values"] in range(1, 5)


@pytest.mark.parametrize("text", ["intersect:q", "intersect:q,majority", "alive:q,faults"])
def test_claims_that_hold_for_all_points_are_confirmed_by_brute_force(replicas, text):
    cls = load_model_class(replicas)
    encoding = Encoding(space_of(cls))
    answer = encoding.refute(parse_query(text, encoding.space))
    assert answer.holds
    points = brute_points(cls)
    assert answer.points == len({(p["nodes"], p["faults"]) for p in points})
    for p in points:
        n, f, size = p["nodes"], p["faults"], p["size"]
        if text == "intersect:q":
            assert not disjoint_pair(n, size, size)
        elif text == "intersect:q,majority":
            assert not disjoint_pair(n, size, n // 2 + 1)
        else:
            assert survives(n, size, f)


def test_crash_tolerance_failures_match_brute_force():
    cls = load_model_class(PAXOS)
    encoding = Encoding(space_of(cls))
    answer = encoding.refute(parse_query("alive:phase2,2", encoding.space), 10_000,
                             enumerate_all=True)
    failing = {key(c.point, ["acceptors", "q2"]) for c in answer.counterexamples}
    brute = {(p["acceptors"], p["q2"]) for p in brute_points(cls, {"values": 2, "ballots": 2,
                                                                    "q1": 1})
             if not survives(p["acceptors"], p["q2"], 2)}
    assert failing == brute
    for example in answer.counterexamples:
        crashed = set(example.sets["crashed"])
        assert len(crashed) == min(2, example.point["acceptors"])
        assert len(example.sets["live"]) < example.point["q2"]


def test_a_claim_that_holds_only_because_no_quorum_exists_is_flagged(tmp_path):
    path = tmp_path / "loose.py"
    path.write_text(REPLICAS.replace('"size == nodes - faults",', ""))
    encoding = Encoding(space_of(load_model_class(path)))
    answer = encoding.refute(parse_query("intersect:q", encoding.space), 1)
    assert not answer.holds
    assert answer.vacuous is not None and answer.vacuous["size"] > answer.vacuous["nodes"]


@pytest.mark.parametrize("text, problem", [
    ("intersect:phase3", "no quorum system 'phase3'; known: phase1, phase2"),
    ("meet:phase1", "write intersect:Q"),
    ("alive:phase1", "alive needs a quorum system and a number of crashes"),
    ("alive:phase1,f", "unknown name 'f'"),
    ("intersect:phase1,phase2,phase1", "one or two quorum systems"),
])
def test_malformed_queries_are_rejected_naming_the_problem(text, problem):
    with pytest.raises(ParamError, match=problem):
        parse_query(text, space_of(load_model_class(PAXOS)))


def run_params(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_least_acceptors_tolerating_two_crashes_with_majority_quorums_is_five(capsys):
    code, out, _ = run_params(capsys, PAXOS, "--query", "alive:phase2,2", "--least",
                              "acceptors", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["value"] == 5
    assert [t["holds"] for t in result["tried"]] == [False, False, False, False, True]
    brute = min(n for n in range(1, 8) if survives(n, n // 2 + 1, 2))
    assert result["value"] == brute


def test_greatest_phase2_quorum_tolerating_two_of_seven_crashes_is_five(capsys):
    code, out, _ = run_params(capsys, PAXOS, "-p", "acceptors=7", "--query", "alive:phase2,2",
                              "--greatest", "q2")
    assert code == 0
    assert "greatest q2 = 5" in out
    assert "tried       7 fails, 6 fails, 5 holds" in out


def test_least_without_any_passing_value_exits_12(capsys):
    code, out, _ = run_params(capsys, PAXOS, "--range", "acceptors=1..4", "--query",
                              "alive:phase2,2", "--least", "acceptors")
    assert code == 12
    assert "no value of acceptors satisfies the queries" in out


def test_the_listing_shows_the_declared_space_and_counts_its_points(capsys, replicas):
    code, out, _ = run_params(capsys, replicas)
    assert code == 0
    assert re.search(r"\n  size +0\.\.7 +nodes - faults +quorum size\n", out)
    assert "constraints nodes >= 2 * faults + 1" in out
    assert "derived     majority = nodes // 2 + 1" in out
    assert "quorums     q: size of nodes, majority: majority of nodes" in out
    count = len(brute_points(load_model_class(replicas)))
    assert f"space       {count} points satisfy the constraints" in out


def test_the_json_listing_can_include_every_point(capsys):
    code, out, _ = run_params(capsys, PAXOS, "-p", "values=1", "-p", "ballots=1",
                              "--range", "acceptors=1..2", "--points", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["count"] == 5
    assert [(p["acceptors"], p["q1"], p["q2"]) for p in result["points"]] == [
        (1, 1, 1), (2, 1, 1), (2, 1, 2), (2, 2, 1), (2, 2, 2)]
    assert result["space"]["constraints"] == ["q1 <= acceptors", "q2 <= acceptors"]


def test_quorums_can_be_declared_on_the_command_line(capsys):
    code, out, _ = run_params(capsys, PAXOS, "--quorum", "read=acceptors - q2 + 1 of acceptors",
                              "--query", "intersect:read,phase2")
    assert code == 0
    assert "result      holds at all 28 points of (acceptors, q2)" in out


def test_queries_exit_0_when_they_hold_and_12_when_one_fails(capsys):
    code, out, _ = run_params(capsys, PAXOS, "--where", "q1 + q2 > acceptors", "--query",
                              "intersect:phase1,phase2")
    assert code == 0
    assert "holds at all 84 points of (acceptors, q1, q2)" in out
    code, out, _ = run_params(capsys, PAXOS, "--query", "intersect:phase1,phase2")
    assert code == 12
    assert "fails at acceptors=2, q1=1, q2=1" in out
    assert "phase1 quorum {" in out and "are disjoint (nodes 0..1)" in out


def cli(*args):
    return subprocess.run([sys.executable, "-m", "checker", "params", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, code, message", [
    (["--max-points", "100"], 150, "the space has more than 100 points"),
    (["--max-points", "200", "--points"], 150, "the space has 2,800 points, more than 200"),
    (["--all"], 2, "--all lists the points where a --query fails"),
    (["--workers", "2"], 2, "--workers applies to --sweep only"),
    (["--where", "q1 +"], 150, "--where: syntax error"),
    (["--range", "acceptors=3"], 150, "not of the form NAME=LO..HI"),
    (["--range", "nodes=1..3"], 150, "unknown parameter 'nodes'"),
    (["-p", "q3=1"], 150, "unknown parameter 'q3'"),
    (["-p", "q1=9"], 150, "q1=9 is outside its domain 1..7"),
    (["--query", "intersect:phase3"], 150, "no quorum system 'phase3'"),
    (["--least", "values", "--sweep"], 2, "do not combine"),
])
def test_bad_params_commands_fail_with_one_line(capsys, args, code, message):
    assert checker_main(["params", str(PAXOS), *args]) == code
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_params_command_prints_no_traceback_from_the_shell():
    run = cli(PAXOS, "--where", "q1 ** 2 > 1")
    assert run.returncode == 150
    assert run.stderr.startswith("checker: error: --where: in 'q1 ** 2 > 1'")
    assert "Traceback" not in run.stderr


def test_solver_and_explorer_agree_on_flexible_paxos_at_the_boundary():
    """The showcase: Z3 says where phase-1 and phase-2 quorums may not meet; the explicit
    checker finds an agreement violation exactly there (acceptors 2..3, ballots 2, values 2)."""
    run = cli(PAXOS, "--sweep", "--json", "--workers", "2", "--range", "acceptors=2..3",
              "-p", "values=2", "-p", "ballots=2",
              "--where", "acceptors <= q1 + q2 <= acceptors + 1",
              "--query", "intersect:phase1,phase2")
    assert run.returncode == 12, run.stderr
    result = json.loads(run.stdout)
    rows = result["points"]
    assert [(r["params"]["acceptors"], r["params"]["q1"], r["params"]["q2"]) for r in rows] == [
        (2, 1, 1), (2, 1, 2), (2, 2, 1),
        (3, 1, 2), (3, 1, 3), (3, 2, 1), (3, 2, 2), (3, 3, 1)]
    for row in rows:
        p = row["params"]
        intersect = row["queries"]["intersect:phase1,phase2"]
        assert intersect == (p["q1"] + p["q2"] > p["acceptors"])
        if intersect:
            assert row["verdict"] == "ok", row
        else:
            assert (row["verdict"], row["property"]) == ("violation", "agreement"), row
    assert result["tally"] == {"ok": 5, "violation": 3}


def test_a_sweep_where_every_point_passes_exits_0(capsys):
    code, out, _ = run_params(capsys, PAXOS, "--sweep", "--workers", "1", "-p", "acceptors=2",
                              "-p", "values=1", "-p", "ballots=1", "--where", "q1 + q2 > 2")
    assert code == 0
    assert "result      3 ok" in out


def test_a_point_whose_model_raises_is_an_error_row_and_exits_75(capsys, tmp_path):
    path = tmp_path / "fragile.py"
    path.write_text(textwrap.dedent('''
        from checker import Model, action, param


        class Fragile(Model):
            n = param(1, range(1, 4))

            def setup(self):
                if self.n == 3:
                    raise RuntimeError("no three")

            def init(self):
                return 0

            @action
            def stop(self, s):
                return None

            def final(self, s):
                return True
    '''))
    code, out, _ = run_params(capsys, path, "--sweep", "--workers", "1", "--json")
    assert code == 75
    rows = json.loads(out)["points"]
    assert [r["verdict"] for r in rows] == ["ok", "ok", "error"]
    assert "no three" in rows[2]["error"]


@pytest.mark.slow
def test_solver_and_explorer_agree_on_every_small_flexible_paxos_point():
    run = cli(PAXOS, "--sweep", "--json", "--range", "acceptors=1..3", "-p", "values=2",
              "-p", "ballots=2", "--query", "intersect:phase1,phase2")
    result = json.loads(run.stdout)
    assert len(result["points"]) == 1 + 4 + 9
    for row in result["points"]:
        intersect = row["queries"]["intersect:phase1,phase2"]
        assert row["verdict"] == ("ok" if intersect else "violation")
