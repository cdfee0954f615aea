"""The command line: ``python -m checker MODEL.py | SPEC.toml | DIR | replay | params``.

Every command returns an exit code from :mod:`checker.errors`; errors a user can cause print
one line and never a traceback (unless ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checker.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    CheckerError,
    InvalidInput,
)

__all__ = ["main"]

USAGE = """\
usage: python -m checker MODEL.py [options]          check one model (also: check MODEL.py)
       python -m checker SPEC.toml | DIR [options]   run spec files (also: specs PATH)
       python -m checker replay TRACE MODEL.py       re-execute a saved trace
       python -m checker params MODEL.py [options]   parameter-space queries (Z3)
Run 'python -m checker check --help' (or specs, replay, params) for the options of each."""

SUBCOMMANDS = {
    "check": "checker.cli",
    "specs": "checker.specs",
    "replay": "checker.replay",
    "params": "checker.solver",
}

BUDGET_FLAGS = ("max_crashes", "max_restarts", "max_drops", "max_duplicates")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with code 2 and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: usage error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def new_parser(command: str, description: str) -> argparse.ArgumentParser:
    """A parser for one subcommand with the shared conventions."""
    parser = _Parser(prog=f"python -m checker {command}", description=description)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming a model and its parameters, shared by check, replay and params."""
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a parameter (a Python literal; repeatable)")
    parser.add_argument("--model", dest="model_name", metavar="NAME",
                        help="the model class to use when the file defines several")


def check_parser() -> argparse.ArgumentParser:
    """The options of ``check``."""
    parser = new_parser("check", "Explore every reachable state of a model and check it.")
    parser.add_argument("model_path", metavar="MODEL.py")
    add_model_arguments(parser)
    parser.add_argument("--invariant", action="append", metavar="NAME",
                        help="check only this invariant (repeatable; default: all)")
    sym = parser.add_mutually_exclusive_group()
    sym.add_argument("--symmetry", dest="symmetry", action="store_true", default=None,
                     help="reduce by the symmetry the model declares (default where declared)")
    sym.add_argument("--no-symmetry", dest="symmetry", action="store_false")
    parser.add_argument("--no-deadlock", action="store_true",
                        help="do not report states without successors")
    parser.add_argument("--max-depth", type=_natural, metavar="N")
    parser.add_argument("--max-states", type=_natural, metavar="N")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS")
    parser.add_argument("--workers", type=_natural, default=None, metavar="N",
                        help="worker processes (default: one per core, started once the "
                             "search is big enough to gain from them; 1: the plain search)")
    for flag in BUDGET_FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), type=_count, metavar="N",
                            help=f"actor models: the {flag.split('_')[1]} budget")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--trace-out", metavar="FILE",
                        help="write the counterexample (.txt, .json for ITF, .html)")
    parser.add_argument("--graph-out", metavar="FILE",
                        help="write the state graph (.dot or .graphml; small models)")
    parser.add_argument("--quiet", action="store_true", help="print only the verdict line")
    return parser


def _natural(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def model_params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``-p`` assignments (and budget flags) as a dict; repeated names are errors."""
    from checker.params import parse_assignment

    params: dict[str, Any] = {}
    for text in args.param:
        name, value = parse_assignment(text)
        if name in params:
            raise InvalidInput(f"parameter {name} is given twice")
        params[name] = value
    for flag in BUDGET_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            params[flag] = value
    return params


def load(args: argparse.Namespace) -> Any:
    """Build the model that ``args`` names."""
    from checker.loader import build_model

    return build_model(args.model_path, model_params(args), args.model_name)


def make_fingerprint(model: Any, symmetry: bool | None) -> tuple[Callable[[Any], int] | None, bool]:
    """The fingerprint function for a run and whether symmetry is on.

    Symmetry is on by default when the model declares symmetric kinds.
    """
    declared = bool(getattr(model, "symmetric", ()))
    if symmetry and not declared:
        raise InvalidInput(f"model {model.name} declares no symmetry (set symmetric = (...))")
    use = declared if symmetry is None else symmetry
    if not use:
        return None, False
    try:
        symmetry_module = importlib.import_module("checker.symmetry")
    except ModuleNotFoundError:
        if symmetry:
            raise InvalidInput("symmetry reduction is not available yet in this version") from None
        return None, False
    return symmetry_module.canonical_fingerprint(model), True


def run_check(args: argparse.Namespace) -> int:
    """``check``: explore a model and report."""
    from checker.explore import Options, default_workers, drain, start
    from checker.report import exit_code, header, json_result, print_progress, summary

    model = load(args)
    if args.invariant:
        known = [p.name for p in model.properties() if p.kind == "invariant"]
        for name in args.invariant:
            if name not in known:
                raise InvalidInput(
                    f"model {model.name} has no invariant {name!r}; "
                    f"its invariants are: {', '.join(known) or 'none'}"
                )
    fingerprint_fn, symmetry = make_fingerprint(model, args.symmetry)
    options = Options(
        max_depth=args.max_depth,
        max_states=args.max_states,
        time_limit=args.time_limit,
        check_deadlock=not args.no_deadlock,
        invariants=args.invariant,
    )
    human = sys.stderr if args.json else sys.stdout
    if not args.quiet:
        workers = args.workers or default_workers(model, options)
        human.write(header(model, args.model_path, symmetry, workers, args.workers is None)
                    + "\n")
        human.flush()
    search, note = start(model, options, fingerprint_fn, symmetry, args.workers)
    if note:
        sys.stderr.write(f"checker: {note}\n")
    report_progress = None if args.quiet else (lambda event: print_progress(event, sys.stderr))
    result = drain(search, report_progress)
    if args.json:
        sys.stdout.write(json.dumps(json_result(result, model)) + "\n")
    elif args.quiet:
        sys.stdout.write(summary(result).splitlines()[0] + "\n")
    else:
        sys.stdout.write(summary(result) + "\n")
    if args.trace_out:
        write_trace(result, model, args.trace_out)
    if args.graph_out:
        graphs = importlib.import_module("checker.graph")
        graphs.write_graph(model, args.graph_out, fingerprint_fn)
    return exit_code(result)


def write_trace(result: Any, model: Any, path: str) -> None:
    """Write the counterexample of ``result`` to ``path`` in the format its extension names."""
    if result.trace is None:
        sys.stderr.write(f"checker: no counterexample to write to {path}\n")
        return
    from checker.trace import render_text

    target = Path(path)
    if target.suffix == ".txt":
        target.write_text(render_text(result.trace, f"Counterexample to {result.property}") + "\n")
    elif target.suffix == ".json":
        importlib.import_module("checker.itf").write_itf(result, model, target)
    elif target.suffix in (".html", ".htm"):
        importlib.import_module("checker.viewer").write_html(result, model, target)
    else:
        raise InvalidInput(f"--trace-out {path}: use a .txt, .json (ITF) or .html file")


def _dispatch(argv: list[str]) -> tuple[str, list[str]]:
    first = argv[0]
    if first in SUBCOMMANDS:
        return first, argv[1:]
    if first.endswith(".py"):
        return "check", argv
    if first.endswith(".toml") or os.path.isdir(first):
        return "specs", argv
    raise SystemExit(_usage_error(f"unknown command or file {first!r}"))


def _usage_error(message: str) -> int:
    sys.stderr.write(f"checker: usage error: {message}\n{USAGE}\n")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m checker``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return _usage_error("no model or spec given")
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE + "\n")
        return 0
    debug = "--debug" in argv
    try:
        command, rest = _dispatch(argv)
        if command == "check":
            args = check_parser().parse_args(rest)
            return run_check(args)
        module = importlib.import_module(SUBCOMMANDS[command])
        return module.main(rest)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except CheckerError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"checker: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("checker: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: report, never crash silently
        if debug:
            traceback.print_exc()
        sys.stderr.write(
            f"checker: internal error: {type(exc).__name__}: {exc} (rerun with --debug)\n"
        )
        return EXIT_INTERNAL
