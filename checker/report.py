"""Human and JSON reports of a search: header, progress, summary, counterexample.

Nothing here runs the search; it only formats what :mod:`checker.explore` produces.
"""

from __future__ import annotations

from typing import Any, TextIO

from checker.errors import (
    EXIT_DEADLOCK,
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_SAFETY,
)
from checker.explore import Progress, Result
from checker.params import describe_space
from checker.trace import render_text, to_json

__all__ = ["exit_code", "header", "json_result", "progress_line", "summary"]


def exit_code(result: Result) -> int:
    """The exit code DESIGN.md assigns to a result."""
    if result.verdict == "ok":
        return EXIT_OK
    if result.verdict == "incomplete":
        return EXIT_INCOMPLETE
    if result.verdict == "error":
        return EXIT_ERROR
    if result.property == "deadlock":
        return EXIT_DEADLOCK
    return EXIT_SAFETY


def header(model: Any, path: str, symmetry: bool, workers: int = 1, default: bool = False
           ) -> str:
    """The lines printed before a search starts (``default``: ``workers`` is the default,
    started only once the search is big enough)."""
    params = ", ".join(f"{k}={v!r}" for k, v in model.params.items()) or "none"
    reductions = ["symmetry " + ("on (" + ", ".join(model.symmetric) + ")" if symmetry else "off")]
    if workers > 1:
        reductions.append(f"{'up to ' if default else ''}{workers} workers")
    return (
        f"model       {model.name} ({path})\n"
        f"parameters  {params}\n"
        f"reductions  {', '.join(reductions)}"
    )


def progress_line(event: Progress) -> str:
    """One progress line for long runs."""
    rate = event.distinct_states / event.seconds if event.seconds else 0.0
    return (
        f"progress    depth {event.depth}, {event.distinct_states:,} distinct states, "
        f"queue {event.queue:,}, {rate:,.0f} states/s, {event.seconds:.0f} s"
    )


def _verdict_line(result: Result) -> str:
    if result.verdict == "ok":
        names = ", ".join(name for name, _ in result.properties) or "no properties declared"
        return f"result      ok: every property holds ({names})"
    if result.verdict == "incomplete":
        return f"result      incomplete: {result.incomplete_reason}; nothing violated so far"
    if result.verdict == "error":
        return f"result      error: the model raised during exploration: {result.error}"
    if result.property == "deadlock":
        return "result      violation: deadlock (a state with no enabled action)"
    kind = result.property_kind or "property"
    if kind == "sometimes":
        return f"result      violation: sometimes {result.property} is never reached"
    return f"result      violation: {kind} {result.property} is broken"


def summary(result: Result) -> str:
    """The figures of a finished search and, if any, its counterexample."""
    counted = "distinct canonical (one per symmetry orbit)" if result.symmetry else "distinct"
    lines = [
        _verdict_line(result),
        f"states      {result.distinct_states:,} {counted}, {result.transitions:,} transitions, "
        f"depth {result.depth}",
        f"time        {result.seconds:.2f} s, {result.states_per_second:,.0f} states/s",
        f"fingerprint 64-bit, collision probability {result.collision_probability:.1e}",
    ]
    if result.trace is not None and result.trace.steps:
        what = "error" if result.verdict == "error" else result.property
        steps = len([s for s in result.trace.steps if s.state is not None])
        title = f"\nCounterexample to {what}, {steps} states (shortest):"
        lines.append(render_text(result.trace, title))
    return "\n".join(lines)


def json_result(result: Result, model: Any = None) -> dict[str, Any]:
    """The one JSON object ``--json`` prints (DESIGN.md section 3); with the ``model``, also
    its declared parameter space under ``param_space``."""
    trace = None
    if result.trace is not None:
        trace = []
        for step in result.trace.steps:
            entry: dict[str, Any] = {"action": step.action, "state": to_json(step.state)}
            if step.error is not None:
                entry["error"] = step.error
            trace.append(entry)
    return {
        "verdict": result.verdict,
        "model": result.model,
        "params": {k: to_json(v) for k, v in result.params.items()},
        "symmetry": result.symmetry,
        "distinct_states": result.distinct_states,
        "canonical_states": result.distinct_states if result.symmetry else None,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 6),
        "states_per_second": round(result.states_per_second, 1),
        "property": result.property,
        "property_kind": result.property_kind,
        "trace": trace,
        "error": result.error,
        "incomplete_reason": result.incomplete_reason,
        "collision_probability": result.collision_probability,
        "properties": [{"name": n, "kind": k} for n, k in result.properties],
        "peak_memory_bytes": peak_memory_bytes() + result.worker_memory_bytes,
        **({"param_space": describe_space(model)} if model is not None else {}),
    }


def peak_memory_bytes() -> int:
    """The peak resident memory of this process so far, in bytes (Linux reports KiB); a
    result's JSON adds that of the parallel search's workers."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def print_progress(event: Progress, stream: TextIO) -> None:
    """Write one progress line and flush, so it shows while the search runs."""
    stream.write(progress_line(event) + "\n")
    stream.flush()
