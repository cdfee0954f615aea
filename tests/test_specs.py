"""Spec files: reading and validating them, running checks, CLI, JUnit XML, pytest plugin."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import junitparser
import pytest

from checker.errors import InvalidInput
from checker.specs import (
    Check,
    evaluate,
    find_spec_files,
    load_checks,
    read_spec_file,
    run_checks,
    run_one,
    select,
)

ROOT = Path(__file__).resolve().parent.parent
PAXOS = (ROOT / "models" / "paxos.py").as_posix()
TPC = (ROOT / "models" / "two_phase_commit.py").as_posix()

TPC_3 = f"""
[[check]]
name = "tpc-3"
model = "{TPC}"
params = {{ rms = 3 }}
expect = "ok"
distinct_states = 288
depth = 10
symmetry = false
"""

PAXOS_BROKEN = f"""
[[check]]
name = "paxos-broken"
model = "{PAXOS}"
params = {{ acceptors = 2, q1 = 1, q2 = 1 }}
expect = "violation"
property = "agreement"
trace_length = 9
symmetry = false
"""

TPC_SLOW = f"""
[[check]]
name = "tpc-7"
model = "{TPC}"
params = {{ rms = 7 }}
expect = "ok"
symmetry = false
slow = true
"""

COUNTER = """
from checker import Model, action, invariant, param


class Counter(Model):
    limit = param(2, range(1, 10), "largest value")

    def init(self):
        return 0

    @action
    def increment(self, s):
        return s + 1 if s < self.limit else None

    @invariant
    def bounded(self, s):
        return s <= self.limit
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def checker(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checker", *map(str, args)],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=120,
    )


def pytest_run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "-p", "no:benchmark", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


# --- reading and validating -----------------------------------------------------------------


def test_repository_paxos_spec_reads_both_checks_with_model_paths_resolved():
    checks = read_spec_file(ROOT / "specs" / "paxos.toml")
    assert [c.name for c in checks] == ["paxos-3a-2v-2b", "paxos-3a-2v-2b-q1-1-q2-2"]
    first, broken = checks
    assert first.model == ROOT / "models" / "paxos.py"
    assert (first.expect, first.distinct_states, first.depth, first.symmetry) == (
        "ok", 3921, 16, False)
    assert (broken.expect, broken.property, broken.trace_length) == ("violation", "agreement", 11)


def test_unknown_key_is_an_error_naming_the_file_and_the_key(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3 + "colour = 'blue'\n")
    with pytest.raises(InvalidInput, match=r"bad\.toml: check 'tpc-3': unknown key 'colour'"):
        read_spec_file(spec)


def test_unknown_top_level_key_is_an_error(tmp_path):
    spec = write(tmp_path, "bad.toml", "title = 'x'\n" + TPC_3)
    with pytest.raises(InvalidInput, match=r"bad\.toml: unknown key 'title'"):
        read_spec_file(spec)


def test_missing_model_file_is_an_error_naming_the_key(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3.replace(TPC, "../nowhere.py"))
    with pytest.raises(InvalidInput, match=r"key 'model': no such model file '\.\./nowhere\.py'"):
        read_spec_file(spec)


def test_model_path_is_relative_to_the_spec_file(tmp_path):
    write(tmp_path, "models/counter.py", COUNTER)
    spec = write(tmp_path, "specs/counter.toml",
                 '[[check]]\nname = "c"\nmodel = "../models/counter.py"\nexpect = "ok"\n'
                 "no_deadlock = true\n")
    (check,) = read_spec_file(spec)
    assert check.model == (tmp_path / "models" / "counter.py").resolve()


def test_parameter_outside_its_domain_is_an_error_naming_the_file_and_params(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3.replace("rms = 3", "rms = 99"))
    with pytest.raises(InvalidInput, match=r"bad\.toml: check 'tpc-3': key 'params': .*rms=99"):
        load_checks([spec])


def test_unknown_parameter_is_an_error(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3.replace("rms = 3", "nodes = 3"))
    with pytest.raises(InvalidInput, match=r"key 'params': .*unknown parameter 'nodes'"):
        load_checks([spec])


def test_property_the_model_lacks_is_an_error(tmp_path):
    spec = write(tmp_path, "bad.toml", PAXOS_BROKEN.replace('"agreement"', '"liveness"'))
    with pytest.raises(InvalidInput, match=r"key 'property': model Paxos has no property"):
        load_checks([spec])


def test_property_is_only_allowed_with_expect_violation(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3 + 'property = "consistent"\n')
    with pytest.raises(InvalidInput, match=r"key 'property' applies only with expect"):
        read_spec_file(spec)


def test_wrongly_typed_values_are_errors_naming_the_key(tmp_path):
    cases = {
        'distinct_states = "many"': "key 'distinct_states' must be an integer",
        "symmetry = 1": "key 'symmetry' must be true or false",
        'expect = "passes"': "key 'expect' must be one of",
        "timeout = 0": "key 'timeout' must be a positive number",
        "invariants = 'consistent'": "key 'invariants' must be a list of names",
    }
    for line, message in cases.items():
        key = line.split(" = ")[0]
        text = "\n".join(x for x in TPC_3.splitlines() if not x.startswith(key + " ")) + "\n"
        spec = write(tmp_path, "bad.toml", text + line + "\n")
        with pytest.raises(InvalidInput, match=message):
            read_spec_file(spec)


def test_missing_expect_and_bad_toml_and_empty_files_are_errors(tmp_path):
    no_expect = write(tmp_path, "a.toml", TPC_3.replace('expect = "ok"', ""))
    with pytest.raises(InvalidInput, match="key 'expect' is missing"):
        read_spec_file(no_expect)
    broken = write(tmp_path, "b.toml", "[[check]\n")
    with pytest.raises(InvalidInput, match=r"b\.toml: not valid TOML"):
        read_spec_file(broken)
    empty = write(tmp_path, "c.toml", "")
    with pytest.raises(InvalidInput, match=r"c\.toml: defines no checks"):
        read_spec_file(empty)


def test_check_names_must_be_unique_within_and_across_files(tmp_path):
    twice = write(tmp_path, "one/twice.toml", TPC_3 + TPC_3)
    with pytest.raises(InvalidInput, match="two checks are named 'tpc-3'"):
        read_spec_file(twice)
    write(tmp_path, "two/a.toml", TPC_3)
    write(tmp_path, "two/b.toml", TPC_3)
    with pytest.raises(InvalidInput, match=r"b\.toml: key 'name': 'tpc-3' is also the name"):
        load_checks([tmp_path / "two"])


def test_spec_files_under_a_directory_are_found_sorted(tmp_path):
    for name in ("z.toml", "a.toml", "sub/m.toml", "notes.txt"):
        write(tmp_path, name, TPC_3)
    assert [p.relative_to(tmp_path).as_posix() for p in find_spec_files([tmp_path])] == [
        "a.toml", "sub/m.toml", "z.toml"]


def test_only_and_skip_select_by_glob():
    checks = [Check(name, Path("s.toml"), Path(TPC), "ok")
              for name in ("paxos-a", "paxos-b", "raft-a")]
    assert [c.name for c in select(checks, only=["paxos-*"])] == ["paxos-a", "paxos-b"]
    assert [c.name for c in select(checks, skip=["*-a"])] == ["paxos-b"]
    assert [c.name for c in select(checks, ["paxos-*", "raft-a"], ["paxos-b"])] == [
        "paxos-a", "raft-a"]


# --- running checks -------------------------------------------------------------------------


def test_trace_length_counts_the_states_of_the_counterexample_initial_state_included(tmp_path):
    (check,) = load_checks([write(tmp_path, "p.toml", PAXOS_BROKEN)])
    outcome = run_one(check)
    assert (outcome.verdict, outcome.property, outcome.trace_length) == (
        "violation", "agreement", 9)
    assert (outcome.depth, outcome.distinct_states) == (8, 364)
    assert evaluate(check, outcome) == []
    assert outcome.counterexample.startswith("Counterexample to agreement, 9 states")
    assert "\n8  phase2b(" in outcome.counterexample


def test_every_mismatch_is_listed(tmp_path):
    text = TPC_3.replace("= 288", "= 287").replace("depth = 10", "depth = 9")
    (check,) = load_checks([write(tmp_path, "t.toml", text)])
    assert evaluate(check, run_one(check)) == [
        "distinct_states 288, expected 287", "depth 10, expected 9"]


def test_a_deadlock_can_be_the_expected_violation(tmp_path):
    write(tmp_path, "counter.py", COUNTER)
    spec = write(tmp_path, "c.toml",
                 '[[check]]\nname = "stuck"\nmodel = "counter.py"\nexpect = "violation"\n'
                 'property = "deadlock"\ntrace_length = 3\n'
                 '[[check]]\nname = "fine"\nmodel = "counter.py"\nexpect = "ok"\n'
                 "no_deadlock = true\ndistinct_states = 3\n")
    checks = load_checks([spec])
    assert [evaluate(c, run_one(c)) for c in checks] == [[], []]


def test_parallel_runs_report_in_spec_order_with_the_same_outcomes(tmp_path):
    checks = load_checks([write(tmp_path, "p.toml", PAXOS_BROKEN + TPC_3)])
    seen = []
    outcomes = run_checks(checks, jobs=2, report=lambda c, o: seen.append(c.name))
    assert seen == ["paxos-broken", "tpc-3"]
    assert [(o.verdict, o.trace_length, o.distinct_states) for o in outcomes] == [
        ("violation", 9, 364), ("ok", None, 288)]


# --- the command line -----------------------------------------------------------------------


def test_cli_runs_every_spec_under_a_directory_and_exits_zero_when_all_are_met(tmp_path):
    write(tmp_path, "specs/b.toml", TPC_3)
    write(tmp_path, "specs/a.toml", PAXOS_BROKEN)
    for args in (["specs"], ["specs", "specs"], [tmp_path / "specs"]):
        done = checker(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[-1] == "2 passed, 0 failed"
        assert lines[0].split()[:6] == [
            "paxos-broken", "violation", "agreement", "expected", "violation", "met"]
        assert lines[1].split()[:5] == ["tpc-3", "ok", "expected", "ok", "met"]
        assert "288 states" in lines[1]


def test_cli_exits_one_when_an_expectation_is_not_met(tmp_path):
    spec = write(tmp_path, "wrong.toml", PAXOS_BROKEN.replace('"violation"', '"ok"')
                 .replace('property = "agreement"\ntrace_length = 9\n', "") + TPC_3)
    done = checker(spec)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].split()[:7] == [
        "paxos-broken", "violation", "agreement", "expected", "ok", "NOT", "MET"]
    assert lines[1].strip() == "verdict violation (agreement), expected ok"
    assert lines[-1] == "1 passed, 1 failed"


def test_cli_exits_150_with_one_line_naming_file_and_key_for_an_invalid_spec(tmp_path):
    spec = write(tmp_path, "bad.toml", TPC_3 + "colour = 'blue'\n")
    done = checker(spec)
    assert done.returncode == 150
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "bad.toml: check 'tpc-3': unknown key 'colour'" in done.stderr


def test_cli_only_skip_and_quick_select_checks(tmp_path):
    spec = write(tmp_path, "s.toml", PAXOS_BROKEN + TPC_3 + TPC_SLOW)
    done = checker("specs", spec, "--only", "tpc-*", "--quick")
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["tpc-3", "1"]
    assert "skipped 1 slow check(s) (--quick): tpc-7" in done.stderr
    done = checker(spec, "--skip", "tpc-*")
    assert done.stdout.splitlines()[-1] == "1 passed, 0 failed"
    done = checker(spec, "--only", "raft-*")
    assert done.returncode == 2
    assert "--only raft-*: matches no check" in done.stderr


def test_cli_kills_a_check_past_its_timeout_and_reports_it_failed(tmp_path):
    spec = write(tmp_path, "t.toml", TPC_SLOW.replace("slow = true", "timeout = 1") + TPC_3)
    done = checker(spec, "--jobs", "2")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].split()[:6] == ["tpc-7", "timeout", "expected", "ok", "NOT", "MET"]
    assert lines[1].strip() == "timeout: still running after 1 s; killed"
    assert lines[2].split()[0] == "tpc-3"
    assert lines[-1] == "1 passed, 1 failed"


def test_junit_report_has_one_testcase_per_check_and_the_counterexample_of_failures(tmp_path):
    spec = write(tmp_path, "s.toml", PAXOS_BROKEN.replace('"violation"', '"ok"')
                 .replace('property = "agreement"\ntrace_length = 9\n', "") + TPC_3 + TPC_SLOW)
    report = tmp_path / "out" / "report.xml"
    (tmp_path / "out").mkdir()
    done = checker(spec, "--junit", report, "--quick")
    assert done.returncode == 1
    xml = junitparser.JUnitXml.fromfile(str(report))
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (3, 1, 0, 1)
    cases = {case.name: case for case in suite}
    assert sorted(cases) == ["paxos-broken", "tpc-3", "tpc-7"]
    assert cases["tpc-3"].is_passed
    assert cases["tpc-7"].is_skipped
    (failure,) = cases["paxos-broken"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "verdict violation (agreement), expected ok"
    assert "Counterexample to agreement, 9 states (shortest):" in failure.text
    assert "phase2b(" in failure.text


def test_artifacts_are_written_for_counterexamples_only(tmp_path):
    spec = write(tmp_path, "s.toml", PAXOS_BROKEN + TPC_3)
    done = checker(spec, "--artifacts", tmp_path / "art")
    assert done.returncode == 0, done.stderr
    expected = {"paxos-broken.txt"}
    if importlib.util.find_spec("checker.itf") is not None:
        expected.add("paxos-broken.itf.json")
    if importlib.util.find_spec("checker.viewer") is not None:
        expected.add("paxos-broken.html")
    assert {p.name for p in (tmp_path / "art").iterdir()} == expected
    text = (tmp_path / "art" / "paxos-broken.txt").read_text()
    assert text.startswith("Counterexample to agreement, 9 states (shortest):\n0  init\n")


# --- the pytest plugin ----------------------------------------------------------------------


def test_pytest_plugin_is_registered_through_the_pytest11_entry_point():
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert any(e.name == "checker" and e.value == "checker.pytest_plugin" for e in plugins), (
        "the pytest plugin is not registered: run `pip install -e .` again"
    )


def test_pytest_collects_spec_checks_with_readable_ids_and_slow_markers(tmp_path):
    write(tmp_path, "specs/s.toml", PAXOS_BROKEN + TPC_3 + TPC_SLOW)
    write(tmp_path, "pyproject.toml", "[project]\nname = 'x'\n")
    done = pytest_run("--collect-only", "-q", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[:3] == [
        "specs/s.toml::paxos-broken", "specs/s.toml::tpc-3", "specs/s.toml::tpc-7"]
    done = pytest_run("specs", "-m", "not slow", "-k", "tpc", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 deselected" in done.stdout


def test_pytest_failing_item_shows_the_mismatch_and_the_counterexample(tmp_path):
    write(tmp_path, "specs/s.toml", PAXOS_BROKEN.replace("trace_length = 9", "trace_length = 4"))
    done = pytest_run("specs", cwd=tmp_path)
    assert done.returncode == 1
    assert "specs/s.toml::paxos-broken: expectation not met" in done.stdout
    assert "trace_length 9, expected 4" in done.stdout
    assert "Counterexample to agreement, 9 states (shortest):" in done.stdout
    assert "Traceback" not in done.stdout


def test_pytest_reports_an_invalid_spec_file_as_a_one_line_collection_error(tmp_path):
    write(tmp_path, "specs/s.toml", TPC_3 + "colour = 'blue'\n")
    done = pytest_run("specs", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid spec file: specs/s.toml: check 'tpc-3': unknown key 'colour'" in done.stdout


# --- the repository's own specs -------------------------------------------------------------


def test_every_model_has_a_spec():
    named = {check.model for check in (
        c for path in find_spec_files([ROOT / "specs"]) for c in read_spec_file(path))}
    models = sorted(p for p in (ROOT / "models").glob("*.py") if not p.name.startswith("_"))
    missing = [p.name for p in models if p.resolve() not in named]
    assert not missing, (
        "models named by no spec in specs/ (add a [[check]] with its expected verdict and "
        f"counts for each): {', '.join(missing)}"
    )
