"""``python -m checker replay TRACE.json MODEL.py``: re-execute a saved ITF trace.

Replay turns a counterexample into a regression test. It rebuilds the model, starts from the
trace's first state (which must be one of the model's initial states) and, step by step, looks
for an enabled transition with the recorded action name and arguments that produces exactly the
recorded state (decoded values compared with ``==``). Every state is checked against every
invariant, every transition against every action invariant, and the last state for deadlock.

Parameters: those recorded in the trace's ``#meta`` are used; ``-p NAME=VALUE`` overrides one
(a note says so), which is how a trace is checked against a changed configuration.

Exit codes (DESIGN.md): ``12`` a property is violated (named, with the step), ``11`` the last
state is a deadlock, ``75`` the model raised, ``0`` the trace is a valid execution and violates
nothing (after a fix), ``1`` the model and the trace disagree (the first step where they do,
with the differing fields), ``150`` the trace file is malformed or does not fit the model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from checker.errors import (
    EXIT_DEADLOCK,
    EXIT_ERROR,
    EXIT_EXPECTATION,
    EXIT_OK,
    EXIT_SAFETY,
    InvalidInput,
)
from checker.trace import Trace, changes

__all__ = ["Outcome", "main", "replay_trace"]

_SHOWN_CHANGES = 8
_SHOWN_ENABLED = 6


@dataclass
class Outcome:
    """What replaying a trace found: a verdict, where, and the exit code it maps to."""

    verdict: str
    message: str
    exit_code: int
    step: int | None = None
    property: str | None = None
    differences: list[tuple[str, str]] = field(default_factory=list)


def _diverged(step: int, message: str, differences: list[tuple[str, str]] | None = None
              ) -> Outcome:
    return Outcome("diverged", f"step {step}: {message}", EXIT_EXPECTATION, step=step,
                   differences=differences or [])


def _closest(candidates: list[Any], recorded: Any) -> Any:
    return min(candidates, key=lambda state: len(changes(recorded, state)))


def replay_trace(model: Any, trace: Trace, recorded_error: str | None = None) -> Outcome:
    """Re-execute ``trace`` against ``model`` and say what it shows (see the module docstring).

    ``recorded_error`` is the label of a final action the trace says raised; replay checks
    that the model still raises on it.
    """
    from checker.explore import ModelRaised, describe_exception, successors

    model_file = getattr(type(model), "__checker_file__", None)
    properties = model.properties()
    invariants = [p for p in properties if p.kind == "invariant"]
    action_invariants = [p for p in properties if p.kind == "action invariant"]
    constraints = [p for p in properties if p.kind == "constraint"]
    actions = model.actions()
    steps = trace.steps
    last = len(steps) - 1

    def raised(step: int, what: str, exc: BaseException) -> Outcome:
        message = f"step {step}: {what} raised {describe_exception(exc, model_file)}"
        return Outcome("error", message, EXIT_ERROR, step=step)

    def broken(step: int, state: Any, previous: Any) -> Outcome | None:
        checks = [(p, (previous, state)) for p in action_invariants if previous is not None]
        checks += [(p, (state,)) for p in invariants]
        for prop, args in checks:
            try:
                holds = prop.check(*args)
            except Exception as exc:
                return raised(step, f"{prop.kind} {prop.name}", exc)
            if not holds:
                where = "the trace's last state" if step == last else f"step {step} of {last}"
                return Outcome("violation", f"{prop.kind} {prop.name} is broken at step {step} "
                               f"({where})", EXIT_SAFETY, step=step, property=prop.name)
        return None

    try:
        initial = model.initial_states()
    except Exception as exc:
        return raised(0, "init", exc)
    recorded = steps[0].state
    if recorded not in initial:
        diff = changes(recorded, _closest(initial, recorded)) if initial else []
        return _diverged(0, "the first state is not an initial state of the model", diff)
    # Go on from the model's own states: equal to the recorded ones, and of the model's types
    # where the trace format cannot tell them apart (a Bag decodes as a Map).
    state = initial[initial.index(recorded)]
    found = broken(0, state, None)
    if found is not None:
        return found
    for index, step in enumerate(steps[1:], start=1):
        enabled: list[str] = []
        produced: list[Any] = []
        try:
            for spec, args, successor in successors(state, actions):
                label = spec.describe(args)
                if label not in enabled:
                    enabled.append(label)
                if spec.name == step.name and args == step.args:
                    produced.append(successor)
        except ModelRaised as exc:
            return raised(index, exc.label, exc.original)
        if not produced:
            shown = ", ".join(enabled[:_SHOWN_ENABLED]) or "none"
            hidden = len(enabled) - _SHOWN_ENABLED
            more = f" and {hidden} more" if hidden > 0 else ""
            return _diverged(index, f"{step.action} is not enabled in the model (enabled: "
                             f"{shown}{more})")
        if step.state not in produced:
            diff = changes(step.state, _closest(produced, step.state))
            return _diverged(index, f"{step.action} leads to a different state in the model",
                             diff)
        previous, state = state, produced[produced.index(step.state)]
        found = broken(index, state, previous)
        if found is not None:
            return found
    return _final_checks(model, state, last, actions, constraints, recorded_error,
                         model_file)


def _final_checks(model: Any, state: Any, last: int, actions: list[Any], constraints: list[Any],
                  recorded_error: str | None, model_file: str | None) -> Outcome:
    """After the last step: does the model raise as recorded, or is the state a deadlock?"""
    from checker.explore import ModelRaised, describe_exception, successors

    try:
        enabled = sum(1 for _ in successors(state, actions)) > 0
    except ModelRaised as exc:
        described = describe_exception(exc.original, model_file)
        message = f"step {last + 1}: {exc.label} raised {described}"
        return Outcome("error", message, EXIT_ERROR, step=last + 1)
    if recorded_error is not None:
        return _diverged(last + 1, f"the trace records that {recorded_error} raised, but the "
                         "model no longer raises")
    expands = all(c.check(state) for c in constraints)
    if not enabled and expands and model.deadlock and not model.final(state):
        return Outcome("deadlock", f"deadlock at step {last}: no action is enabled in the "
                       "trace's last state", EXIT_DEADLOCK, step=last, property="deadlock")
    return Outcome("ok", "the trace is a valid execution of the model and violates no "
                   "property", EXIT_OK)


def _explain(what: str) -> str:
    """A :func:`checker.trace.changes` description, from the trace to the model, in words."""
    if " → " in what:
        before, after = what.split(" → ", 1)
        return f"trace has {before}, model gives {after}"
    for prefix, meaning in (("+ ", "only the model has "), ("- ", "only the trace has "),
                            ("added ", "only the model has "), ("removed ", "only the trace has ")):
        if what.startswith(prefix):
            return meaning + what[len(prefix):]
    return what


def main(argv: list[str]) -> int:
    """Entry point of ``python -m checker replay``; returns the exit code."""
    from checker.cli import add_model_arguments, model_params, new_parser
    from checker.itf import decode_params, decode_trace, read_itf, type_registry
    from checker.loader import build_model, load_model_class

    parser = new_parser("replay", "Re-execute a saved ITF trace against a model and report "
                        "the property it violates, or where the model and the trace disagree.")
    parser.add_argument("trace_path", metavar="TRACE.json")
    parser.add_argument("model_path", metavar="MODEL.py")
    add_model_arguments(parser)
    args = parser.parse_args(argv)

    document = read_itf(args.trace_path)
    recorded = decode_params(document)
    given = model_params(args)
    out = sys.stdout
    for name, value in given.items():
        if name in recorded and recorded[name] != value:
            out.write(f"note        parameter {name}={value!r} overrides the trace's "
                      f"{name}={recorded[name]!r}\n")
    name = args.model_name
    recorded_name = document.meta.get("model")
    if name is None and isinstance(recorded_name, str):
        try:
            load_model_class(args.model_path, recorded_name)
            name = recorded_name
        except InvalidInput:
            name = None
    model = build_model(args.model_path, {**recorded, **given}, name)
    trace = decode_trace(document, type_registry(model))
    error = document.meta.get("error")
    recorded_error = error.get("action") if isinstance(error, dict) else None

    params = ", ".join(f"{k}={v!r}" for k, v in model.params.items()) or "none"
    out.write(f"replay      {args.trace_path}: {len(trace.steps)} states\n"
              f"model       {model.name} ({args.model_path})\n"
              f"parameters  {params}\n")
    outcome = replay_trace(model, trace, recorded_error)
    out.write(f"result      {outcome.verdict}: {outcome.message}\n")
    for where, what in outcome.differences[:_SHOWN_CHANGES]:
        out.write(f"            {where or 'state'}: {_explain(what)}\n")
    hidden = len(outcome.differences) - _SHOWN_CHANGES
    if hidden > 0:
        out.write(f"            ... and {hidden} more differences\n")
    expected = document.meta.get("property")
    if outcome.verdict in ("violation", "deadlock") and expected not in (None, outcome.property):
        out.write(f"note        the trace was recorded as a counterexample to {expected}\n")
    if outcome.verdict == "ok" and expected is not None:
        out.write(f"note        the trace was recorded as a counterexample to {expected}, "
                  "which no longer breaks on it\n")
    return outcome.exit_code
