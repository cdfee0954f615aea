"""The checker's exception hierarchy and exit codes.

Every error a user can cause derives from :class:`CheckerError` and carries the exit code the
command line reports for it, so the CLI maps errors to codes in one place.
"""

from __future__ import annotations

__all__ = [
    "EXIT_DEADLOCK",
    "EXIT_ERROR",
    "EXIT_EXPECTATION",
    "EXIT_INCOMPLETE",
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_LIVENESS",
    "EXIT_OK",
    "EXIT_SAFETY",
    "EXIT_USAGE",
    "CheckerError",
    "InvalidInput",
    "ModelDefinitionError",
    "NondeterminismError",
    "ParamError",
]

EXIT_OK = 0
EXIT_EXPECTATION = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_DEADLOCK = 11
EXIT_SAFETY = 12
EXIT_LIVENESS = 13
EXIT_ERROR = 75
EXIT_INVALID = 150
EXIT_INTERNAL = 255


class CheckerError(Exception):
    """Base of every error the checker reports to a user; ``exit_code`` says how."""

    exit_code = EXIT_INTERNAL


class InvalidInput(CheckerError):
    """Unreadable or invalid model, spec or trace file, or an unknown name (exit 150)."""

    exit_code = EXIT_INVALID


class ModelDefinitionError(InvalidInput):
    """A model class is malformed: the message says what to fix."""


class ParamError(InvalidInput):
    """A parameter is unknown, outside its domain, or violates a declared constraint."""


class NondeterminismError(CheckerError):
    """Re-executing a recorded path gave a different state: the model is not deterministic."""

    exit_code = EXIT_INTERNAL
