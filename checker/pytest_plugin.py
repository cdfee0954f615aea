"""pytest plugin: ``pytest specs/`` runs every check of every spec file as a test item.

Registered through the ``pytest11`` entry point ``checker`` (see ``pyproject.toml``), so it is
active wherever the checker is installed. A ``.toml`` file is collected as a spec file when it is
named on the command line, lies in a directory named ``specs``, or holds ``[[check]]`` tables.
Items are named ``specs/paxos.toml::paxos-3a-2v-2b``; ``-k`` selects by check name. Checks with
``slow = true`` carry the ``slow`` marker, so ``-m "not slow"`` runs the quick tier (and in this
repository the ``--runslow`` convention of ``tests/conftest.py`` applies). A failing item shows
what differed from the expectation and the counterexample. ``--checker-artifacts DIR`` writes
counterexamples as ``python -m checker specs --artifacts DIR`` does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.errors import InvalidInput
from checker.specs import (
    Check,
    evaluate,
    failure_text,
    read_spec_file,
    run_checks,
    run_one,
    validate_check,
)

__all__ = ["CheckItem", "ExpectationNotMet", "SpecFile"]


class ExpectationNotMet(Exception):
    """A check's run differed from what its spec file expects."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--checker-artifacts``."""
    group = parser.getgroup("checker", "checker spec files")
    group.addoption("--checker-artifacts", metavar="DIR",
                    help="write each counterexample of a spec check as NAME.txt "
                         "(and NAME.itf.json, NAME.html)")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker slow checks carry."""
    config.addinivalue_line("markers", "slow: a long check (spec files: slow = true)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SpecFile | None:
    """Collect ``.toml`` spec files."""
    if file_path.suffix == ".toml" and _is_spec_file(file_path, parent.config):
        return SpecFile.from_parent(parent, path=file_path)
    return None


def _is_spec_file(path: Path, config: pytest.Config) -> bool:
    base = config.invocation_params.dir
    for arg in config.args:
        if (base / arg.split("::")[0]).resolve() == path.resolve():
            return True
    try:
        folders = path.relative_to(config.rootpath).parts[:-1]
    except ValueError:
        folders = path.parent.parts[-1:]
    if "specs" in folders:
        return True
    try:
        with path.open("rb") as stream:
            return "check" in tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


class SpecFile(pytest.File):
    """A spec file: one item per ``[[check]]`` table."""

    def collect(self) -> Iterator[CheckItem]:
        """Read and validate the file (loading the models it names), then yield its checks."""
        try:
            shown = Path(self.path.relative_to(self.config.rootpath).as_posix())
        except ValueError:
            shown = self.path
        for check in read_spec_file(self.path, shown):
            validate_check(check)
            item = CheckItem.from_parent(self, name=check.name, check=check)
            if check.slow:
                item.add_marker(pytest.mark.slow)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """An invalid spec file reads as the checker's one-line message."""
        if isinstance(excinfo.value, InvalidInput):
            return f"invalid spec file: {excinfo.value}"
        return super().repr_failure(excinfo, style)


class CheckItem(pytest.Item):
    """One check: runs the model and compares the outcome with the expectation."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        """Run the check (in its own process when it has a timeout) and compare."""
        option = self.config.getoption("--checker-artifacts")
        artifacts = Path(option) if option else None
        if self.check.timeout is None:
            if artifacts is not None:
                artifacts.mkdir(parents=True, exist_ok=True)
            outcome = run_one(self.check, artifacts)
        else:
            outcome = run_checks([self.check], 1, artifacts)[0]
        self.user_properties += [("verdict", outcome.verdict),
                                 ("distinct_states", outcome.distinct_states)]
        problems = evaluate(self.check, outcome)
        if problems:
            raise ExpectationNotMet(failure_text(self.check, outcome, problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """A mismatch shows the differences and the counterexample, not a traceback."""
        if isinstance(excinfo.value, ExpectationNotMet):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the item comes from: the line of its ``name`` (0-based, as pytest counts)."""
        quoted = (f'"{self.check.name}"', f"'{self.check.name}'")
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, text in enumerate(lines):
            key, _, value = text.partition("=")
            if key.strip() == "name" and value.split("#")[0].strip() in quoted:
                return self.path, number, self.check.id
        return self.path, 0, self.check.id
