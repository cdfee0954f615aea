"""Parameter declarations: defaults, domains, descriptions, and parsing from the command line.

A model declares ``acceptors = param(3, range(1, 8), "number of acceptors")`` as a class
attribute; instances see the chosen value as a plain attribute. The domain is a ``range``, a
sequence of allowed choices, or ``None`` for any value of the default's type.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.errors import ParamError

__all__ = ["Param", "param", "parse_assignment", "parse_value"]


@dataclass(frozen=True)
class Param:
    """A declared model parameter."""

    default: Any
    domain: range | tuple[Any, ...] | None = None
    doc: str = ""
    name: str = field(default="", compare=False)

    def validate(self, value: Any, model: str = "") -> Any:
        """Return ``value`` if it lies in the domain, else raise :class:`ParamError`."""
        where = f"{model}: " if model else ""
        if self.domain is None:
            expected = type(self.default)
            ok = isinstance(value, expected) and not (
                expected is int and isinstance(value, bool)
            )
            if self.default is None or ok:
                return value
            raise ParamError(
                f"{where}parameter {self.name}={value!r} has type {type(value).__name__}; "
                f"expected {expected.__name__} (the default is {self.default!r})"
            )
        if isinstance(value, bool) and isinstance(self.domain, range):
            raise ParamError(f"{where}parameter {self.name}={value!r} must be an integer")
        if value in self.domain:
            return value
        raise ParamError(
            f"{where}parameter {self.name}={value!r} is outside its domain {self.describe_domain()}"
        )

    def describe_domain(self) -> str:
        """The domain as a user reads it: ``1..7`` or ``{'none', 'figure8'}``."""
        if isinstance(self.domain, range):
            if self.domain.step == 1:
                return f"{self.domain.start}..{self.domain.stop - 1}"
            return repr(self.domain)
        if self.domain is None:
            return f"any {type(self.default).__name__}"
        return "{" + ", ".join(repr(choice) for choice in self.domain) + "}"


def param(default: Any, domain: range | Sequence[Any] | None = None, doc: str = "") -> Any:
    """Declare a model parameter with a default, a domain and a one-line description.

    >>> p = param(3, range(1, 8), "number of acceptors")
    >>> p.describe_domain()
    '1..7'
    """
    if domain is not None and not isinstance(domain, range):
        domain = tuple(domain)
    declared = Param(default, domain, doc)
    if domain is not None and default not in domain:
        raise ParamError(f"parameter default {default!r} is outside its own domain {domain!r}")
    return declared


def parse_value(text: str) -> Any:
    """Parse a command-line parameter value as a Python literal; bare words are strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``NAME=VALUE`` into the name and the parsed value."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ParamError(f"parameter {text!r} is not of the form NAME=VALUE")
    return name, parse_value(value.strip())


def merge_params(
    declared: Mapping[str, Param], given: Mapping[str, Any], model: str
) -> dict[str, Any]:
    """Fill defaults and validate each given value; unknown names are errors."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise ParamError(f"{model}: unknown parameter {unknown[0]!r}; the model declares: {known}")
    values = {}
    for name, declaration in declared.items():
        value = given.get(name, declaration.default)
        values[name] = declaration.validate(value, model) if name in given else value
    return values
