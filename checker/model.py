"""The transition-system layer: models, actions and properties.

A model is a class deriving from :class:`Model`. It declares parameters with
:func:`checker.params.param`, its initial states in ``init``, and named actions with the
:func:`action` decorator. Properties are methods marked :func:`invariant`, :func:`sometimes`,
:func:`action_invariant` or :func:`constraint`. The class is validated when it is defined, so a
malformed model fails when it loads, with a message saying what to fix.

    class Counter(Model):
        limit = param(3, range(1, 10), "largest value")

        def init(self):
            return 0

        @action
        def increment(self, s):
            return s + 1 if s < self.limit else None

        @invariant
        def bounded(self, s):
            return s <= self.limit
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import GeneratorType
from typing import Any, ClassVar

from checker.errors import ModelDefinitionError
from checker.params import Param, space_of
from checker.values import show

__all__ = [
    "ActionSpec",
    "Model",
    "Property",
    "action",
    "action_invariant",
    "constraint",
    "invariant",
    "sometimes",
]

INVARIANT = "invariant"
SOMETIMES = "sometimes"
ACTION_INVARIANT = "action invariant"
CONSTRAINT = "constraint"
_PROPERTY_ARITY = {INVARIANT: 1, SOMETIMES: 1, ACTION_INVARIANT: 2, CONSTRAINT: 1}


@dataclass(frozen=True)
class _ActionMarker:
    """What ``@action`` attaches to a method: its domains (as written) and display name."""

    over: Any
    name: str | None


def _is_domain(value: Any) -> bool:
    """Whether ``value`` reads as a domain (a name, a callable, a collection), not a value."""
    if isinstance(value, str) or callable(value):
        return True
    try:
        iter(value)
    except TypeError:
        return False
    return True


def split_domains(over: Any, arguments: int) -> tuple[Any, ...]:
    """One domain per argument from what ``over=`` says, for an action of ``arguments``."""
    if over is None:
        return ()
    if not isinstance(over, (tuple, list)):
        return (over,)
    if arguments == 1 and not (len(over) == 1 and _is_domain(over[0])):
        return (tuple(over),)
    return tuple(over)


@dataclass(frozen=True)
class _PropertyMarker:
    """What a property decorator attaches to a method."""

    kind: str
    name: str | None


@dataclass(frozen=True)
class Property:
    """A named property of a model bound to its evaluation function."""

    name: str
    kind: str
    check: Callable[..., Any]


@dataclass
class ActionSpec:
    """One action of a model, ready for the explorer.

    ``domains`` holds one entry per argument: a tuple of values, or a callable taking the state
    and returning the values. ``step(state, *args)`` returns None, one state, or several.
    """

    name: str
    step: Callable[..., Any]
    domains: tuple[Any, ...] = ()
    label: Callable[..., str] | None = None
    meta: Callable[..., dict[str, Any]] | None = None
    """``meta(previous, successor, *args)``: facts about a step that trace formats show."""
    static_args: list[tuple[Any, ...]] | None = dataclasses.field(default=None, init=False)

    def __post_init__(self) -> None:
        if all(isinstance(domain, tuple) for domain in self.domains):
            self.static_args = list(itertools.product(*self.domains))

    def arguments(self, state: Any) -> Iterable[tuple[Any, ...]]:
        """Every argument tuple this action ranges over in ``state``, in a fixed order."""
        if self.static_args is not None:
            return self.static_args
        resolved = [d if isinstance(d, tuple) else tuple(d(state)) for d in self.domains]
        return itertools.product(*resolved)

    def describe(self, args: tuple[Any, ...]) -> str:
        """The label of this action applied to ``args``, as traces show it."""
        if self.label is not None:
            return self.label(*args)
        if not args:
            return self.name
        return f"{self.name}({', '.join(_show(a) for a in args)})"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else show(value)


def action(
    function: Callable[..., Any] | None = None, *, over: Any = None, name: str | None = None
):
    """Mark a method as an action: ``def act(self, s, *args)`` returning the successor state,
    a list (or generator) of successors, or None when the action is disabled in ``s``.

    ``over`` gives the finite domain of each extra argument: one domain when the action takes
    one argument, or a tuple of domains. A domain is the name of a model attribute (``"RM"``),
    a callable ``f(model)`` or ``f(model, state)``, or an iterable of values; for a one-argument
    action a tuple of plain values (``over=(1, 2)``) is that argument's domain.
    """
    marker = _ActionMarker(over, name)

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(method):
            raise ModelDefinitionError(f"@action applies to methods, not {method!r}")
        method.__checker_action__ = marker  # type: ignore[attr-defined]
        return method

    return mark(function) if function is not None else mark


def _property_decorator(kind: str):
    def decorator(function: Callable[..., Any] | None = None, *, name: str | None = None):
        def mark(method: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.isfunction(method):
                raise ModelDefinitionError(
                    f"@{kind.replace(' ', '_')} applies to methods defined with def, "
                    f"not {method!r}"
                )
            method.__checker_property__ = _PropertyMarker(kind, name)  # type: ignore[attr-defined]
            return method

        return mark(function) if function is not None else mark

    decorator.__name__ = kind.replace(" ", "_")
    decorator.__doc__ = f"Mark a method as a{'n' if kind[0] in 'aei' else ''} {kind} property."
    return decorator


invariant = _property_decorator(INVARIANT)
sometimes = _property_decorator(SOMETIMES)
action_invariant = _property_decorator(ACTION_INVARIANT)
constraint = _property_decorator(CONSTRAINT)


def _line(function: Callable[..., Any]) -> str:
    try:
        return f" (line {inspect.getsourcelines(function)[1]})"
    except (OSError, TypeError):
        return ""


class Model:
    """Base class of every model: subclass it, declare parameters, ``init`` and actions.

    Class attributes a model may set:

    - ``deadlock``: False when states without successors are expected (default True);
    - ``symmetric``: the kinds of :class:`checker.values.Id` that are interchangeable;
    - ``assume``, ``derived``, ``quorums``: constraints between parameters, values derived from
      them and quorum systems, as formulas (see :mod:`checker.params` and docs/params.md).

    A model may override ``setup(self)`` to compute derived values from its parameters, and
    ``final(self, s)`` to mark states that may have no successor without being a deadlock.
    """

    deadlock: ClassVar[bool] = True
    symmetric: ClassVar[tuple[str, ...]] = ()
    _params: ClassVar[dict[str, Param]] = {}
    _action_methods: ClassVar[dict[str, tuple[str, _ActionMarker]]] = {}
    _property_methods: ClassVar[dict[str, tuple[str, _PropertyMarker]]] = {}
    _abstract: ClassVar[bool] = True

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._abstract = abstract
        params: dict[str, Param] = {}
        actions: dict[str, tuple[str, _ActionMarker]] = {}
        properties: dict[str, tuple[str, _PropertyMarker]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                params.pop(attr, None)
                actions.pop(attr, None)
                properties.pop(attr, None)
                if isinstance(value, Param):
                    params[attr] = dataclasses.replace(value, name=attr)
                    continue
                act = getattr(value, "__checker_action__", None)
                prop = getattr(value, "__checker_property__", None)
                if act is not None:
                    actions[attr] = (act.name or attr, act)
                if prop is not None:
                    properties[attr] = (prop.name or attr, prop)
        cls._params = params
        cls._action_methods = actions
        cls._property_methods = properties
        if not abstract:
            cls._validate_definition()
            space_of(cls)

    @classmethod
    def _validate_definition(cls) -> None:
        """Reject malformed models when the class is defined."""
        where = f"model {cls.__name__}"
        if cls._abstract_init():
            raise ModelDefinitionError(
                f"{where} has no init(self) method: define it to return the initial state "
                "(or a list of initial states)"
            )
        names: dict[str, str] = {}
        for attr, (name, marker) in cls._action_methods.items():
            method = getattr(cls, attr)
            if name in names:
                raise ModelDefinitionError(
                    f"{where}: two definitions are named {name!r} ({names[name]} and {attr}); "
                    "names of actions and properties must be unique"
                )
            names[name] = attr
            cls._check_action_signature(attr, method, marker)
        for attr, (name, marker) in cls._property_methods.items():
            method = getattr(cls, attr)
            if name in names:
                raise ModelDefinitionError(
                    f"{where}: two definitions are named {name!r} ({names[name]} and {attr}); "
                    "names of actions and properties must be unique"
                )
            names[name] = attr
            cls._check_property_signature(attr, method, marker)
        for attr in vars(cls):
            value = vars(cls)[attr]
            if isinstance(value, (staticmethod, classmethod)) and (
                hasattr(value.__func__, "__checker_property__")
                or hasattr(value.__func__, "__checker_action__")
            ):
                raise ModelDefinitionError(
                    f"{where}: {attr} is a {type(value).__name__}; actions and properties "
                    "must be plain methods taking self"
                )

    @classmethod
    def _abstract_init(cls) -> bool:
        return cls.init is Model.init

    @classmethod
    def _check_action_signature(cls, attr: str, method: Any, marker: _ActionMarker) -> None:
        where = f"model {cls.__name__}, action {attr}{_line(method)}"
        try:
            params = list(inspect.signature(method).parameters.values())
        except (TypeError, ValueError):
            raise ModelDefinitionError(f"{where}: is not a function") from None
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in params):
            raise ModelDefinitionError(
                f"{where}: takes *args, **kwargs or keyword-only parameters; "
                "declare it as def name(self, s, arg1, ...)"
            )
        if len(params) < 2:
            raise ModelDefinitionError(
                f"{where}: must take (self, s, ...): the state is its second parameter"
            )
        extra = len(params) - 2
        domains = len(split_domains(marker.over, extra))
        if extra != domains:
            raise ModelDefinitionError(
                f"{where}: takes {extra} argument(s) after the state but over= gives "
                f"{domains} domain(s); give one domain per argument"
            )

    @classmethod
    def _check_property_signature(cls, attr: str, method: Any, marker: _PropertyMarker) -> None:
        arity = _PROPERTY_ARITY[marker.kind]
        params = list(inspect.signature(method).parameters)
        if len(params) != arity + 1:
            shape = "(self, s)" if arity == 1 else "(self, s, t)"
            raise ModelDefinitionError(
                f"model {cls.__name__}, {marker.kind} {attr}{_line(method)}: must take {shape}"
            )

    def __init__(self, **params: Any) -> None:
        self.params, derived = space_of(type(self)).bind(params)
        for name, value in {**self.params, **derived}.items():
            setattr(self, name, value)
        self._prepare()
        self.setup()

    def _prepare(self) -> None:
        """Build what the layer needs from the parameters before ``setup`` runs."""

    def setup(self) -> None:
        """Compute values derived from the parameters (quorums, id sets); default: nothing."""

    def init(self) -> Any:
        """The initial state, or a list (or generator) of initial states."""
        raise NotImplementedError

    def final(self, state: Any) -> bool:
        """Whether ``state`` may have no successor without being a deadlock."""
        return False

    @property
    def name(self) -> str:
        """The model's name as reports show it."""
        return type(self).__name__

    def initial_states(self) -> list[Any]:
        """The initial states as a list, in the order ``init`` gives them."""
        result = self.init()
        if isinstance(result, (list, GeneratorType)):
            return list(result)
        return [result]

    def actions(self) -> list[ActionSpec]:
        """The model's actions in a fixed order: declaration order of the methods."""
        specs = []
        for attr, (name, marker) in self._action_methods.items():
            method = getattr(self, attr)
            arguments = len(inspect.signature(method).parameters) - 1
            domains = tuple(self._resolve_domain(attr, d)
                            for d in split_domains(marker.over, arguments))
            specs.append(ActionSpec(name, method, domains))
        return specs

    def _resolve_domain(self, attr: str, domain: Any) -> Any:
        if isinstance(domain, str):
            if not hasattr(self, domain):
                raise ModelDefinitionError(
                    f"model {self.name}, action {attr}: over={domain!r} names no attribute "
                    "of the model (set it in setup() or declare it as a parameter)"
                )
            domain = getattr(self, domain)
        if callable(domain):
            takes_state = len(inspect.signature(domain).parameters) >= 2
            if takes_state:
                return lambda state, f=domain: f(self, state)
            domain = domain(self)
        try:
            return tuple(domain)
        except TypeError:
            raise ModelDefinitionError(
                f"model {self.name}, action {attr}: domain {domain!r} is not iterable"
            ) from None

    def properties(self) -> list[Property]:
        """The model's properties in declaration order."""
        return [
            Property(name, marker.kind, getattr(self, attr))
            for attr, (name, marker) in self._property_methods.items()
        ]

    def format_state(self, state: Any) -> Any:
        """A state as traces show it; override to hide or rename parts. Default: itself."""
        return state


def iterate_results(result: Any) -> Iterator[Any]:
    """The successor states an action returned: none, one, or several."""
    if result is None:
        return iter(())
    if type(result) is list or type(result) is GeneratorType:
        return (state for state in result if state is not None)
    return iter((result,))
