"""Spec files: named checks with expected outcomes, run together for CI (DESIGN.md section 4).

A spec file is TOML with one or more ``[[check]]`` tables. Each check names a model file
(relative to the spec file), its parameters and search options, and what the run must produce:
a verdict, optionally the violated property, exact state counts, depth and counterexample
length. ``python -m checker specs PATH`` runs every check under ``PATH``, compares, prints one
line per check and ``N passed, M failed``, and can write JUnit XML and counterexample files.
The pytest plugin (:mod:`checker.pytest_plugin`) collects the same checks as test items.

A spec file never runs code of its own: it is data, and the only code a check runs is the model
it names. ``trace_length`` counts the states of the shortest counterexample, initial state
included (a violation found after 3 steps has ``trace_length = 4``).
"""

from __future__ import annotations

import argparse
import builtins
import fnmatch
import importlib
import importlib.util
import multiprocessing
import os
import re
import signal
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from checker.errors import EXIT_EXPECTATION, EXIT_OK, CheckerError, InvalidInput

__all__ = [
    "Check",
    "Outcome",
    "evaluate",
    "failure_text",
    "find_spec_files",
    "junit_xml",
    "load_checks",
    "main",
    "read_spec_file",
    "run_checks",
    "run_one",
    "select",
    "validate_check",
]

EXPECTATIONS = ("ok", "violation", "incomplete")
TIMEOUT = "timeout"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")


@dataclass(frozen=True)
class Check:
    """One ``[[check]]`` table of a spec file, with its model path resolved."""

    name: str
    spec_file: Path
    model: Path
    expect: str
    params: dict[str, Any] = field(default_factory=dict)
    model_class: str | None = None
    property: str | None = None
    distinct_states: int | None = None
    depth: int | None = None
    trace_length: int | None = None
    max_states: int | None = None
    max_depth: int | None = None
    time_limit: float | None = None
    symmetry: bool | None = None
    invariants: tuple[str, ...] | None = None
    no_deadlock: bool = False
    workers: int = 1
    timeout: float | None = None
    slow: bool = False

    @builtins.property
    def id(self) -> str:
        """``spec_file::name``, as pytest shows it."""
        return f"{self.spec_file.as_posix()}::{self.name}"

    def where(self, key: str | None = None) -> str:
        """The prefix of an error message about this check (and ``key``)."""
        text = f"{self.spec_file}: check {self.name!r}"
        return f"{text}: key {key!r}" if key else text


@dataclass
class Outcome:
    """What running one check produced: plain data, so it crosses process boundaries."""

    verdict: str
    seconds: float
    property: str | None = None
    distinct_states: int | None = None
    depth: int | None = None
    trace_length: int | None = None
    counterexample: str | None = None
    message: str | None = None
    notes: list[str] = field(default_factory=list)


# --- reading spec files ---------------------------------------------------------------------


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _natural(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be an integer of at least 1")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be an integer of at least 0")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("must be a positive number of seconds")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be a table, e.g. { acceptors = 3 }")
    return dict(value)


def _expectation(value: Any) -> str:
    if value not in EXPECTATIONS:
        raise ValueError("must be one of " + ", ".join(f'"{e}"' for e in EXPECTATIONS))
    return value


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError('must be a list of names, e.g. ["agreement"]')
    return tuple(value)


_KEYS: dict[str, Callable[[Any], Any]] = {
    "name": _string,
    "model": _string,
    "model_class": _string,
    "params": _table,
    "expect": _expectation,
    "property": _string,
    "distinct_states": _count,
    "depth": _count,
    "trace_length": _natural,
    "max_states": _natural,
    "max_depth": _natural,
    "time_limit": _seconds,
    "symmetry": _flag,
    "invariants": _names,
    "no_deadlock": _flag,
    "workers": _natural,
    "timeout": _seconds,
    "slow": _flag,
}
_REQUIRED = ("name", "model", "expect")


def read_spec_file(path: str | Path, shown: str | Path | None = None) -> list[Check]:
    """The checks of one spec file, with keys, types and model paths validated.

    ``shown`` is the path messages and check ids use (default ``path``). The models are not
    loaded here (see :func:`validate_check`).
    """
    source = Path(path)
    path = Path(shown) if shown is not None else source
    try:
        with source.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such spec file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the spec file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key != "check":
            raise InvalidInput(f"{path}: unknown key {key!r} (a spec file holds [[check]] tables)")
    tables = data.get("check")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise InvalidInput(f"{path}: defines no checks (add [[check]] tables)")
    checks: list[Check] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        check = _read_check(path, source.parent, number, table)
        if check.name in seen:
            raise InvalidInput(f"{path}: key 'name': two checks are named {check.name!r}")
        seen.add(check.name)
        checks.append(check)
    return checks


def _read_check(path: Path, folder: Path, number: int, table: dict[str, Any]) -> Check:
    label = table.get("name")
    where = f"{path}: check {label!r}" if isinstance(label, str) else f"{path}: check #{number}"
    for key in table:
        if key not in _KEYS:
            raise InvalidInput(
                f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(_KEYS))}"
            )
    for key in _REQUIRED:
        if key not in table:
            raise InvalidInput(f"{where}: key {key!r} is missing")
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key] = _KEYS[key](value)
        except ValueError as exc:
            raise InvalidInput(f"{where}: key {key!r} {exc}, got {value!r}") from None
    if not NAME_PATTERN.match(values["name"]):
        raise InvalidInput(
            f"{where}: key 'name' may hold only letters, digits and _ . + - (it names files)"
        )
    if values["expect"] != "violation":
        for key in ("property", "trace_length"):
            if key in values:
                raise InvalidInput(f'{where}: key {key!r} applies only with expect = "violation"')
    model = (folder / values["model"]).resolve()
    if not model.is_file():
        raise InvalidInput(f"{where}: key 'model': no such model file {values['model']!r}")
    values["model"] = model
    return Check(spec_file=path, **values)


def find_spec_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``.toml`` files ``paths`` name: files as given, directories searched, sorted."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(path.rglob("*.toml"), key=lambda p: p.relative_to(path).as_posix())
            if not files:
                raise InvalidInput(f"{path}: no .toml spec files in this directory")
            found += files
        elif path.suffix != ".toml":
            raise InvalidInput(f"{path}: a spec file must be a .toml file")
        elif not path.is_file():
            raise InvalidInput(f"{path}: no such spec file or directory")
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def validate_check(check: Check) -> None:
    """Load the check's model and reject what the model does not have.

    Parameters (names, domains), property and invariant names, symmetry where none is declared,
    and ``workers > 1`` without the parallel engine are reported naming the spec file and key.
    """
    from checker.cli import make_fingerprint
    from checker.loader import build_model, load_model_class

    try:
        load_model_class(check.model, check.model_class)
    except InvalidInput as exc:
        key = "model_class" if check.model_class else "model"
        raise InvalidInput(f"{check.where(key)}: {exc}") from None
    try:
        model = build_model(check.model, check.params, check.model_class)
    except InvalidInput as exc:
        raise InvalidInput(f"{check.where('params')}: {exc}") from None
    properties = {prop.name: prop.kind for prop in model.properties()}
    if check.property is not None and check.property != "deadlock":
        if properties.get(check.property) not in ("invariant", "action invariant", "sometimes"):
            raise InvalidInput(
                f"{check.where('property')}: model {model.name} has no property "
                f"{check.property!r}; it has: {', '.join(_checked(properties)) or 'none'}"
                ' (or "deadlock")'
            )
        if properties[check.property] == "sometimes" and check.trace_length is not None:
            raise InvalidInput(
                f"{check.where('trace_length')}: a sometimes property ({check.property}) that "
                "is never reached has no counterexample trace"
            )
    invariants = [name for name, kind in properties.items() if kind == "invariant"]
    for name in check.invariants or ():
        if name not in invariants:
            raise InvalidInput(
                f"{check.where('invariants')}: model {model.name} has no invariant {name!r}; "
                f"its invariants are: {', '.join(invariants) or 'none'}"
            )
    try:
        make_fingerprint(model, check.symmetry)
    except InvalidInput as exc:
        raise InvalidInput(f"{check.where('symmetry')}: {exc}") from None
    if check.workers > 1 and importlib.util.find_spec("checker.parallel") is None:
        raise InvalidInput(
            f"{check.where('workers')}: multi-process search is not available in this version"
        )


def _checked(properties: dict[str, str]) -> list[str]:
    return [name for name, kind in properties.items() if kind != "constraint"]


def load_checks(paths: Iterable[str | Path]) -> list[Check]:
    """Every check of every spec file under ``paths``, validated, in a deterministic order.

    Check names must be unique across the files run together: they name artifact files and
    are what ``--only`` and ``--skip`` match.
    """
    checks: list[Check] = []
    owners: dict[str, Path] = {}
    for path in find_spec_files(paths):
        for check in read_spec_file(path):
            if check.name in owners:
                raise InvalidInput(
                    f"{path}: key 'name': {check.name!r} is also the name of a check in "
                    f"{owners[check.name]}; names must be unique across the spec files run"
                )
            owners[check.name] = path
            checks.append(check)
    for check in checks:
        validate_check(check)
    return checks


def select(
    checks: Sequence[Check], only: Sequence[str] = (), skip: Sequence[str] = ()
) -> list[Check]:
    """The checks whose name matches an ``only`` pattern (if any) and no ``skip`` pattern.

    Patterns are shell globs (``paxos-*``) matched against check names.
    """
    return [
        check
        for check in checks
        if (not only or any(fnmatch.fnmatchcase(check.name, p) for p in only))
        and not any(fnmatch.fnmatchcase(check.name, p) for p in skip)
    ]


# --- running checks -------------------------------------------------------------------------


def run_one(check: Check, artifacts: Path | None = None) -> Outcome:
    """Run one check in this process with the options the command line would use.

    Errors are reported in the outcome (verdict ``error``), never raised: one broken check
    must not stop the others.
    """
    started = time.perf_counter()
    try:
        return _run(check, artifacts)
    except CheckerError as exc:
        return Outcome("error", time.perf_counter() - started, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported as this check's failure, not a crash
        message = f"internal error of the checker: {type(exc).__name__}: {exc}"
        return Outcome("error", time.perf_counter() - started, message=message)


def _run(check: Check, artifacts: Path | None) -> Outcome:
    from checker.cli import make_fingerprint
    from checker.explore import Options, drain, start
    from checker.loader import build_model
    from checker.trace import render_text

    model = build_model(check.model, check.params, check.model_class)
    fingerprint_fn, symmetry = make_fingerprint(model, check.symmetry)
    options = Options(
        max_depth=check.max_depth,
        max_states=check.max_states,
        time_limit=check.time_limit,
        check_deadlock=not check.no_deadlock,
        invariants=list(check.invariants) if check.invariants is not None else None,
    )
    notes = []
    search, note = start(model, options, fingerprint_fn, symmetry, check.workers)
    if note:
        notes.append(note)
    result = drain(search)
    outcome = Outcome(
        result.verdict,
        result.seconds,
        property=result.property,
        distinct_states=result.distinct_states,
        depth=result.depth,
        message=result.error or result.incomplete_reason,
        notes=notes,
    )
    if result.trace is not None and result.trace.steps:
        steps = result.trace.steps
        outcome.trace_length = len([step for step in steps if step.state is not None])
        what = "error" if result.verdict == "error" else result.property
        title = f"Counterexample to {what}, {outcome.trace_length} states (shortest):"
        outcome.counterexample = render_text(result.trace, title)
        if artifacts is not None:
            outcome.notes += _write_artifacts(check, result, model, outcome, artifacts)
    return outcome


def _write_artifacts(
    check: Check, result: Any, model: Any, outcome: Outcome, directory: Path
) -> list[str]:
    """Write the counterexample as text, and as ITF and HTML where those writers exist."""
    notes = []
    (directory / f"{check.name}.txt").write_text(f"{outcome.counterexample}\n", encoding="utf-8")
    for module, function, suffix in (("checker.itf", "write_itf", ".itf.json"),
                                     ("checker.viewer", "write_html", ".html")):
        if importlib.util.find_spec(module) is None:
            continue
        target = directory / f"{check.name}{suffix}"
        try:
            getattr(importlib.import_module(module), function)(result, model, target)
        except Exception as exc:  # noqa: BLE001 - one unwritable format must not fail the check
            notes.append(f"could not write {target}: {type(exc).__name__}: {exc}")
    return notes


def _child(connection: Connection, check: Check, artifacts: Path | None) -> None:
    """The body of a check's own process: run it and send the outcome back."""
    if hasattr(os, "setsid"):
        os.setsid()
    connection.send(run_one(check, artifacts))
    connection.close()


@dataclass
class _Running:
    process: Any
    connection: Connection
    started: float
    deadline: float | None


def _kill(process: Any) -> None:
    """Kill a check's process and everything it started (its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        process.kill()
    process.join()


def run_checks(
    checks: Sequence[Check],
    jobs: int = 1,
    artifacts: Path | None = None,
    report: Callable[[Check, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``checks``, at most ``jobs`` at a time, and return their outcomes in order.

    With one job, a check without a ``timeout`` runs in this process; every other check runs in
    a process of its own (spawned: it rebuilds the model from path and parameters), killed when
    its timeout passes. ``report`` is called for each outcome in spec order, as soon as it and
    all before it are known.
    """
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
    pending = deque(enumerate(checks))
    running: dict[int, _Running] = {}
    outcomes: dict[int, Outcome] = {}
    try:
        _schedule(checks, jobs, artifacts, report, pending, running, outcomes)
    finally:
        for job in running.values():
            _kill(job.process)
    return [outcomes[index] for index in range(len(checks))]


def _schedule(
    checks: Sequence[Check],
    jobs: int,
    artifacts: Path | None,
    report: Callable[[Check, Outcome], None] | None,
    pending: deque[tuple[int, Check]],
    running: dict[int, _Running],
    outcomes: dict[int, Outcome],
) -> None:
    """The loop of :func:`run_checks`: start, wait, collect, report in order."""
    context = multiprocessing.get_context("spawn")
    reported = 0
    while pending or running:
        while pending and len(running) < jobs:
            index, check = pending.popleft()
            if jobs == 1 and check.timeout is None:
                outcomes[index] = run_one(check, artifacts)
                break
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(sender, check, artifacts),
                                      name=f"check {check.name}")
            process.start()
            sender.close()
            started = time.monotonic()
            deadline = started + check.timeout if check.timeout is not None else None
            running[index] = _Running(process, receiver, started, deadline)
        if running:
            _collect(checks, running, outcomes)
        while reported in outcomes:
            if report is not None:
                report(checks[reported], outcomes[reported])
            reported += 1


def _collect(checks: Sequence[Check], running: dict[int, _Running],
             outcomes: dict[int, Outcome]) -> None:
    """Wait until a running check finishes or times out, and record what ended."""
    deadlines = [r.deadline for r in running.values() if r.deadline is not None]
    wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
    ready = wait([r.connection for r in running.values()], wait_for)
    now = time.monotonic()
    for index, job in list(running.items()):
        if job.connection in ready:
            try:
                outcomes[index] = job.connection.recv()
            except EOFError:
                job.process.join()
                outcomes[index] = Outcome(
                    "error", now - job.started,
                    message=f"the check's process died (exit code {job.process.exitcode})",
                )
        elif job.deadline is not None and now >= job.deadline:
            _kill(job.process)
            outcomes[index] = Outcome(
                TIMEOUT, now - job.started,
                message=f"still running after {checks[index].timeout:g} s; killed",
            )
        else:
            continue
        job.connection.close()
        job.process.join()
        del running[index]


def evaluate(check: Check, outcome: Outcome) -> list[str]:
    """How ``outcome`` differs from what ``check`` expects; empty when every expectation holds."""
    if outcome.verdict == TIMEOUT:
        return [f"timeout: {outcome.message}"]
    if outcome.verdict == "error":
        return [f"verdict error, expected {check.expect}: {outcome.message}"]
    problems = []
    if outcome.verdict != check.expect:
        actual = _verdict_text(outcome)
        problems.append(f"verdict {actual}, expected {check.expect}")
    elif check.property is not None and outcome.property != check.property:
        problems.append(f"violated {outcome.property}, expected {check.property} to break")
    for key in ("distinct_states", "depth", "trace_length"):
        expected = getattr(check, key)
        actual = getattr(outcome, key)
        if expected is not None and actual != expected:
            problems.append(f"{key} {actual}, expected {expected}")
    return problems


def _verdict_text(outcome: Outcome) -> str:
    if outcome.verdict == "violation":
        return f"violation ({outcome.property})"
    if outcome.verdict == "incomplete":
        return f"incomplete ({outcome.message})"
    return outcome.verdict


def failure_text(check: Check, outcome: Outcome, problems: Sequence[str]) -> str:
    """What a failed check shows: the mismatches, then the counterexample if there is one."""
    lines = [f"{check.id}: expectation not met"] + [f"  {problem}" for problem in problems]
    if outcome.counterexample:
        lines += ["", outcome.counterexample]
    return "\n".join(lines)


# --- reports --------------------------------------------------------------------------------


def _classname(check: Check) -> str:
    return check.spec_file.with_suffix("").as_posix().replace("/", ".").lstrip(".")


def junit_xml(
    checks: Sequence[Check], outcomes: Sequence[Outcome], skipped: Sequence[Check] = ()
) -> bytes:
    """JUnit XML with one testsuite per spec file and one testcase per check.

    A failed expectation is a ``failure`` whose message says expected versus actual and whose
    text holds the counterexample; a check whose model raised is an ``error``; checks left out
    by ``--quick`` are ``skipped``.
    """
    suites: dict[Path, list[tuple[Check, Outcome | None]]] = {}
    for check, outcome in zip(checks, outcomes):
        suites.setdefault(check.spec_file, []).append((check, outcome))
    for check in skipped:
        suites.setdefault(check.spec_file, []).append((check, None))
    root = ET.Element("testsuites", name="checker specs")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for spec_file, cases in suites.items():
        suite = ET.SubElement(root, "testsuite", name=spec_file.as_posix())
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for check, outcome in cases:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=_classname(check), name=check.name,
                                 file=check.spec_file.as_posix())
            if outcome is None:
                counts["skipped"] += 1
                case.set("time", "0")
                ET.SubElement(case, "skipped", message="slow check (left out by --quick)")
                continue
            suite_time += outcome.seconds
            case.set("time", f"{outcome.seconds:.3f}")
            problems = evaluate(check, outcome)
            if problems:
                kind = "errors" if outcome.verdict == "error" else "failures"
                counts[kind] += 1
                element = ET.SubElement(case, kind[:-1], message="; ".join(problems),
                                        type=outcome.verdict)
                element.text = failure_text(check, outcome, problems)
            ET.SubElement(case, "system-out").text = _line(check, outcome, len(check.name))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{suite_time:.3f}")
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _line(check: Check, outcome: Outcome, width: int) -> str:
    """The one line printed per check."""
    met = "met" if not evaluate(check, outcome) else "NOT MET"
    verdict = outcome.verdict
    if verdict == "violation" and outcome.property:
        verdict = f"violation {outcome.property}"
    states = f"{outcome.distinct_states:,}" if outcome.distinct_states is not None else "-"
    return (f"{check.name:<{width}}  {verdict:<22}  expected {check.expect:<10}  {met:<7}  "
            f"{states:>11} states  {outcome.seconds:7.2f} s")


def specs_parser() -> argparse.ArgumentParser:
    """The options of ``specs``."""
    from checker.cli import new_parser

    parser = new_parser("specs", "Run the checks of spec files and compare with expectations.")
    parser.add_argument("paths", nargs="*", default=["specs"], metavar="PATH",
                        help="spec files or directories searched for .toml (default: specs)")
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--artifacts", metavar="DIR",
                        help="write each counterexample as NAME.txt (and .itf.json, .html)")
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                        help="run N checks at a time, each in its own process (default 1)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only checks matching this name or glob (repeatable)")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME",
                        help="leave out checks matching this name or glob (repeatable)")
    parser.add_argument("--quick", action="store_true", help="leave out checks marked slow")
    return parser


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str]) -> int:
    """``python -m checker specs [PATH ...]``: run checks; 0 when every expectation is met."""
    parser = specs_parser()
    args = parser.parse_args(argv)
    every_check = load_checks(args.paths)
    for pattern in args.only:
        if not select(every_check, [pattern]):
            parser.error(f"--only {pattern}: matches no check")
    selected = select(every_check, args.only, args.skip)
    skipped = [check for check in selected if args.quick and check.slow]
    checks = [check for check in selected if not (args.quick and check.slow)]
    if skipped:
        names = ", ".join(check.name for check in skipped)
        sys.stderr.write(f"skipped {len(skipped)} slow check(s) (--quick): {names}\n")
    width = max((len(check.name) for check in checks), default=0)

    def report(check: Check, outcome: Outcome) -> None:
        lines = [_line(check, outcome, width)]
        lines += [f"    {problem}" for problem in evaluate(check, outcome)]
        lines += [f"    note: {note}" for note in outcome.notes]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    artifacts = Path(args.artifacts) if args.artifacts else None
    if artifacts is not None:
        _writable(artifacts, "--artifacts", lambda: artifacts.mkdir(parents=True, exist_ok=True))
    outcomes = run_checks(checks, args.jobs, artifacts, report)
    failed = sum(1 for check, outcome in zip(checks, outcomes) if evaluate(check, outcome))
    sys.stdout.write(f"{len(checks) - failed} passed, {failed} failed\n")
    if args.junit:
        report_xml = junit_xml(checks, outcomes, skipped)
        _writable(Path(args.junit), "--junit", lambda: Path(args.junit).write_bytes(report_xml))
    return EXIT_EXPECTATION if failed else EXIT_OK


def _writable(path: Path, option: str, write: Callable[[], Any]) -> None:
    """Run ``write``; a path the user named that cannot be written is invalid input."""
    try:
        write()
    except OSError as exc:
        raise InvalidInput(f"{option} {path}: cannot write: {exc.strerror}") from None
