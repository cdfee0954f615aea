"""Parameter declarations: defaults, domains, constraints, derived values and quorums.

A model declares ``acceptors = param(3, range(1, 8), "number of acceptors")`` as a class
attribute; instances see the chosen value as a plain attribute. The domain is a ``range``, a
sequence of allowed choices, or ``None`` for any value of the default's type. A default may be
a :func:`formula` of earlier parameters (``param(formula("acceptors // 2 + 1"), range(1, 8))``).

Three more class attributes describe the parameter space, all written as formulas:

- ``assume``: constraints every point must satisfy (``("q1 + q2 > acceptors",)``), as TLA+'s
  ASSUME; a model built with a point that violates one is rejected, naming the constraint;
- ``derived``: values computed from the parameters (``{"majority": "acceptors // 2 + 1"}``),
  set as attributes before ``setup`` runs and usable in other formulas;
- ``quorums``: threshold quorum systems (``{"phase1": quorum("q1", of="acceptors")}``) that
  ``python -m checker params`` reasons about with Z3 (:mod:`checker.solver`).

Formulas are a tiny language parsed with :mod:`ast`, never executed: names of parameters and
derived values, integer literals, ``+ - * // %`` (``//`` and ``%`` by a positive integer
literal), comparisons, ``and or not``, ``x if c else y``, ``min(...)`` and ``max(...)``, and
``name == 'literal'`` for parameters whose choices are not numbers. The same tree is evaluated
in Python here and translated to Z3 in :mod:`checker.solver`, so both read it alike.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.errors import ModelDefinitionError, ParamError

__all__ = [
    "Formula",
    "FormulaError",
    "Param",
    "ParamSpace",
    "Quorum",
    "describe_space",
    "formula",
    "param",
    "parse_assignment",
    "parse_formula",
    "parse_value",
    "quorum",
    "space_of",
]

MAX_FORMULA_LENGTH = 1000

LANGUAGE = (
    "formulas use parameter names, integers, + - * // %, comparisons, and/or/not, "
    "'x if c else y', min() and max()"
)


class FormulaError(ValueError):
    """A formula is malformed or ill-typed; callers add where it was written."""


@dataclass(frozen=True, eq=False)
class Formula:
    """A parsed formula: its source text, its checked syntax tree and the names it reads."""

    text: str
    tree: ast.expr = field(repr=False)
    names: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"formula({self.text!r})"

    def fold(self, env: Mapping[str, Any], backend: Any,
             choices: Mapping[str, tuple[Any, ...]] | None = None) -> Any:
        """Interpret the formula with ``backend``'s operations over the values in ``env``.

        ``choices`` maps parameters whose choices are not numbers to their domain, so that a
        backend can encode a literal compared with one (Z3 compares positions in the domain).
        """
        return _fold(self.tree, env, backend, choices or {})

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The formula's value in Python.

        >>> parse_formula("n // 2 + 1").evaluate({"n": 5})
        3
        """
        return self.fold(env, PYTHON)


_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%"}
_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
                ast.NotEq: "!="}
_CALLS = ("min", "max")


def parse_formula(text: str) -> Formula:
    """Parse ``text`` into a :class:`Formula`, rejecting anything outside the language."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__} {text!r}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"a formula is at most {MAX_FORMULA_LENGTH} characters long")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"syntax error in {text!r}: {exc.msg}") from None
    names: set[str] = set()
    _check_syntax(tree, names, text)
    return Formula(text.strip(), tree, frozenset(names))


def _check_syntax(node: ast.AST, names: set[str], text: str) -> None:
    if isinstance(node, ast.Constant):
        return
    if isinstance(node, ast.Name):
        names.add(node.id)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        children: list[ast.AST] = [node.operand]
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        children = [node.left, node.right]
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and not _positive_literal(node.right):
            symbol = _ARITHMETIC[type(node.op)]
            raise FormulaError(
                f"in {text!r}: the right operand of {symbol} must be a positive integer "
                "literal (so Python and Z3 divide alike)"
            )
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARISONS for op in node.ops):
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.IfExp):
        children = [node.test, node.body, node.orelse]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _CALLS
        and node.args
        and not node.keywords
        and not any(isinstance(arg, ast.Starred) for arg in node.args)
    ):
        children = list(node.args)
    else:
        shown = ast.get_source_segment(text.strip(), node) or type(node).__name__
        raise FormulaError(f"in {text!r}: {shown!r} is not allowed; {LANGUAGE}")
    for child in children:
        _check_syntax(child, names, text)


def _positive_literal(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and node.value > 0
    )


def _fold(node: ast.AST, env: Mapping[str, Any], ops: Any,
          choices: Mapping[str, tuple[Any, ...]]) -> Any:
    if isinstance(node, ast.Constant):
        return ops.literal(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _fold(node.operand, env, ops, choices)
        if isinstance(node.op, ast.USub):
            return ops.neg(operand)
        if isinstance(node.op, ast.Not):
            return ops.not_(operand)
        return operand
    if isinstance(node, ast.BinOp):
        left = _fold(node.left, env, ops, choices)
        right = _fold(node.right, env, ops, choices)
        return ops.arithmetic(_ARITHMETIC[type(node.op)], left, right)
    if isinstance(node, ast.BoolOp):
        values = [_fold(value, env, ops, choices) for value in node.values]
        return ops.and_(values) if isinstance(node.op, ast.And) else ops.or_(values)
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        terms = [_fold_operand(operand, operands, env, ops, choices) for operand in operands]
        links = [
            ops.compare(_COMPARISONS[type(op)], terms[i], terms[i + 1])
            for i, op in enumerate(node.ops)
        ]
        return links[0] if len(links) == 1 else ops.and_(links)
    if isinstance(node, ast.IfExp):
        return ops.ifelse(_fold(node.test, env, ops, choices),
                          _fold(node.body, env, ops, choices),
                          _fold(node.orelse, env, ops, choices))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    values = [_fold(arg, env, ops, choices) for arg in node.args]
    return ops.minimum(values) if node.func.id == "min" else ops.maximum(values)


def _fold_operand(operand: ast.AST, operands: list[ast.AST], env: Mapping[str, Any], ops: Any,
                  choices: Mapping[str, tuple[Any, ...]]) -> Any:
    """A literal compared with a choice parameter is encoded against that parameter's domain."""
    if isinstance(operand, ast.Constant):
        for other in operands:
            if isinstance(other, ast.Name) and other.id in choices:
                return ops.choice(operand.value, choices[other.id])
    return _fold(operand, env, ops, choices)


class _PythonOperations:
    """The formula language's operations on Python values."""

    @staticmethod
    def literal(value: Any) -> Any:
        return value

    @staticmethod
    def choice(value: Any, domain: tuple[Any, ...]) -> Any:
        return value

    @staticmethod
    def neg(value: int) -> int:
        return -value

    @staticmethod
    def not_(value: bool) -> bool:
        return not value

    @staticmethod
    def arithmetic(op: str, left: int, right: int) -> int:
        return _PYTHON_ARITHMETIC[op](left, right)

    @staticmethod
    def compare(op: str, left: Any, right: Any) -> bool:
        return _PYTHON_COMPARISONS[op](left, right)

    @staticmethod
    def and_(values: list[bool]) -> bool:
        return all(values)

    @staticmethod
    def or_(values: list[bool]) -> bool:
        return any(values)

    @staticmethod
    def ifelse(test: bool, then: Any, otherwise: Any) -> Any:
        return then if test else otherwise

    @staticmethod
    def minimum(values: list[int]) -> int:
        return min(values)

    @staticmethod
    def maximum(values: list[int]) -> int:
        return max(values)


_PYTHON_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b,
}
_PYTHON_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
PYTHON = _PythonOperations()


def infer_type(node: ast.AST, types: Mapping[str, str],
               choices: Mapping[str, tuple[Any, ...]], text: str) -> str:
    """The type of a formula tree, ``"int"`` or ``"bool"`` (or ``"choice"`` for a bare choice
    parameter); raises :class:`FormulaError` for unknown names and mismatched operands."""
    if isinstance(node, ast.Constant):
        if type(node.value) is int:
            return "int"
        if isinstance(node.value, bool):
            return "bool"
        raise FormulaError(
            f"in {text!r}: the literal {node.value!r} may only be compared (== or !=) with a "
            "parameter whose choices contain it"
        )
    if isinstance(node, ast.Name):
        kind = types.get(node.id)
        if kind is None:
            known = ", ".join(types) or "none"
            raise FormulaError(f"in {text!r}: unknown name {node.id!r}; known names: {known}")
        if kind == "opaque":
            raise FormulaError(
                f"in {text!r}: parameter {node.id!r} has no finite domain of numbers or choices "
                "and cannot appear in a formula"
            )
        return kind

    def expect(child: ast.AST, wanted: str, role: str) -> None:
        found = infer_type(child, types, choices, text)
        if found != wanted:
            shown = ast.get_source_segment(text, child) or ast.unparse(child)
            raise FormulaError(
                f"in {text!r}: {role} {shown!r} is {_a(found)}; expected {_a(wanted)}"
            )

    if isinstance(node, ast.UnaryOp):
        wanted = "bool" if isinstance(node.op, ast.Not) else "int"
        expect(node.operand, wanted, "the operand")
        return wanted
    if isinstance(node, ast.BinOp):
        expect(node.left, "int", "the operand")
        expect(node.right, "int", "the operand")
        return "int"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            expect(value, "bool", "the operand")
        return "bool"
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            _check_comparison(op, left, right, types, choices, text)
        return "bool"
    if isinstance(node, ast.IfExp):
        expect(node.test, "bool", "the condition")
        kind = infer_type(node.body, types, choices, text)
        if kind == "choice":
            raise FormulaError(f"in {text!r}: a conditional must give numbers or truth values")
        expect(node.orelse, kind, "the else branch")
        return kind
    assert isinstance(node, ast.Call)
    for arg in node.args:
        expect(arg, "int", "the argument")
    return "int"


def _a(kind: str) -> str:
    return {"int": "an integer", "bool": "a truth value", "choice": "a choice"}[kind]


def _check_comparison(op: ast.cmpop, left: ast.AST, right: ast.AST, types: Mapping[str, str],
                      choices: Mapping[str, tuple[Any, ...]], text: str) -> None:
    for name, literal in ((left, right), (right, left)):
        if isinstance(name, ast.Name) and name.id in choices:
            if not isinstance(literal, ast.Constant):
                raise FormulaError(
                    f"in {text!r}: parameter {name.id!r} may only be compared with a literal"
                )
            if not isinstance(op, (ast.Eq, ast.NotEq)):
                raise FormulaError(f"in {text!r}: parameter {name.id!r} is compared with == or !=")
            if literal.value not in choices[name.id]:
                allowed = ", ".join(repr(c) for c in choices[name.id])
                raise FormulaError(
                    f"in {text!r}: {literal.value!r} is not a choice of {name.id} ({allowed})"
                )
            return
    left_kind = infer_type(left, types, choices, text)
    right_kind = infer_type(right, types, choices, text)
    if left_kind != right_kind:
        raise FormulaError(
            f"in {text!r}: cannot compare {_a(left_kind)} with {_a(right_kind)}"
        )
    if left_kind == "bool" and not isinstance(op, (ast.Eq, ast.NotEq)):
        raise FormulaError(f"in {text!r}: truth values are compared with == or != only")


def formula(text: str) -> Formula:
    """A formula over other parameters, used as the default of a parameter.

    >>> formula("acceptors // 2 + 1")
    formula('acceptors // 2 + 1')
    """
    try:
        return parse_formula(text)
    except FormulaError as exc:
        raise ModelDefinitionError(f"formula: {exc}") from None


@dataclass(frozen=True)
class Quorum:
    """A threshold quorum system: every set of at least ``size`` of ``nodes`` nodes."""

    size: Formula
    nodes: Formula

    def __str__(self) -> str:
        return f"{self.size.text} of {self.nodes.text}"


def quorum(size: str, of: str) -> Quorum:
    """Declare a threshold quorum system: any ``size`` of the ``of`` nodes (both formulas).

    >>> str(quorum("n - f", of="n"))
    'n - f of n'
    """
    try:
        return Quorum(parse_formula(size), parse_formula(of))
    except FormulaError as exc:
        raise ModelDefinitionError(f"quorum: {exc}") from None


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

    def describe_default(self) -> str:
        """The default as a user reads it: ``3``, or the formula that computes it."""
        if isinstance(self.default, Formula):
            return self.default.text
        return repr(self.default)

    @property
    def kind(self) -> str:
        """How formulas see the parameter: ``int``, ``bool``, ``choice`` or ``opaque``."""
        domain = self.domain
        if domain is None:
            if isinstance(self.default, bool):
                return "bool"
            return "int" if isinstance(self.default, int) else "opaque"
        if isinstance(domain, range):
            return "int"
        if domain and all(isinstance(choice, bool) for choice in domain):
            return "bool"
        if domain and all(type(choice) is int for choice in domain):
            return "int"
        return "choice"


def param(default: Any, domain: range | Sequence[Any] | None = None, doc: str = "") -> Any:
    """Declare a model parameter with a default, a domain and a one-line description.

    The default may be a :func:`formula` of parameters declared before this one; the
    parameter then needs a domain.

    >>> p = param(3, range(1, 8), "number of acceptors")
    >>> p.describe_domain()
    '1..7'
    """
    if domain is not None and not isinstance(domain, range):
        domain = tuple(domain)
    declared = Param(default, domain, doc)
    if isinstance(default, Formula):
        if domain is None:
            raise ParamError(f"parameter default {default.text!r} is a formula: give a domain")
        return declared
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
    """Fill defaults and validate each given value; unknown names are errors.

    Defaults that are formulas are left as :class:`Formula` objects; :meth:`ParamSpace.bind`
    computes them.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise ParamError(f"{model}: unknown parameter {unknown[0]!r}; the model declares: {known}")
    values = {}
    for name, declaration in declared.items():
        value = given.get(name, declaration.default)
        values[name] = declaration.validate(value, model) if name in given else value
    return values


@dataclass
class ParamSpace:
    """The parameter space a model class declares: parameters, constraints, derived values
    and quorum systems, every formula checked against the parameters' types."""

    model: str
    params: dict[str, Param]
    assume: tuple[Formula, ...] = ()
    derived: dict[str, Formula] = field(default_factory=dict)
    quorums: dict[str, Quorum] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @property
    def choices(self) -> dict[str, tuple[Any, ...]]:
        """The domains of parameters whose choices are not numbers or truth values."""
        return {
            name: tuple(p.domain or ())
            for name, p in self.params.items() if self.types[name] == "choice"
        }

    def type_of(self, compiled: Formula, names: Mapping[str, str] | None = None) -> str:
        """The type of ``compiled`` over the parameters and derived values (or ``names``)."""
        return infer_type(compiled.tree, self.types if names is None else names, self.choices,
                          compiled.text)

    def check(self, text: str | Formula, wanted: str) -> Formula:
        """Parse ``text`` and check that it is of type ``wanted``; raise :class:`FormulaError`."""
        compiled = text if isinstance(text, Formula) else parse_formula(text)
        found = self.type_of(compiled)
        if found != wanted:
            raise FormulaError(f"{compiled.text!r} is {_a(found)}; expected {_a(wanted)}")
        return compiled

    def parameters_of(self, compiled: Formula) -> set[str]:
        """The parameters ``compiled`` depends on, through derived values too."""
        found: set[str] = set()
        for name in compiled.names:
            if name in self.derived:
                found |= self.parameters_of(self.derived[name])
            elif name in self.params:
                found.add(name)
        return found

    def bind(self, given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The parameters of one point (defaults filled in, domains and constraints checked)
        and its derived values; raises :class:`ParamError` naming what is wrong."""
        values = merge_params(self.params, given, self.model)
        for name, declaration in self.params.items():
            if isinstance(values[name], Formula):
                value = values[name].evaluate(values)
                if value not in declaration.domain:
                    raise ParamError(
                        f"{self.model}: parameter {name} defaults to {declaration.default.text} "
                        f"= {value!r}, outside its domain {declaration.describe_domain()}; "
                        f"set it with -p {name}=VALUE"
                    )
                values[name] = value
        derived = self.derive(values)
        broken = self.violated(values, derived)
        if broken is not None:
            shown = ", ".join(
                f"{name}={({**values, **derived})[name]!r}" for name in sorted(broken.names)
            )
            raise ParamError(
                f"{self.model}: {shown} violate the constraint {broken.text!r} (declared in assume)"
            )
        return values, derived

    def derive(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The derived values at the point ``values``, in declaration order."""
        env = dict(values)
        derived = {}
        for name, compiled in self.derived.items():
            env[name] = derived[name] = compiled.evaluate(env)
        return derived

    def violated(self, values: Mapping[str, Any],
                 derived: Mapping[str, Any] | None = None) -> Formula | None:
        """The first constraint the point ``values`` violates, or None."""
        env = {**values, **(self.derive(values) if derived is None else derived)}
        for constraint in self.assume:
            if not constraint.evaluate(env):
                return constraint
        return None

    def describe(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The space as plain data (JSON-ready); with ``values``, also the derived values."""
        params = {}
        for name, declaration in self.params.items():
            entry: dict[str, Any] = {"kind": self.types[name],
                                     "domain": declaration.describe_domain()}
            if isinstance(declaration.domain, range):
                entry["min"] = declaration.domain.start
                entry["max"] = declaration.domain[-1] if declaration.domain else None
            elif declaration.domain is not None:
                entry["choices"] = [_plain(choice) for choice in declaration.domain]
            if isinstance(declaration.default, Formula):
                entry["default"] = None
                entry["default_formula"] = declaration.default.text
            else:
                entry["default"] = _plain(declaration.default)
            entry["doc"] = declaration.doc
            params[name] = entry
        derived_values = self.derive(values) if values is not None else {}
        derived: dict[str, Any] = {}
        for name, compiled in self.derived.items():
            derived[name] = {"formula": compiled.text}
            if name in derived_values:
                derived[name]["value"] = derived_values[name]
        return {
            "params": params,
            "constraints": [constraint.text for constraint in self.assume],
            "derived": derived,
            "quorums": {
                name: {"size": q.size.text, "nodes": q.nodes.text}
                for name, q in self.quorums.items()
            },
        }


def _plain(value: Any) -> Any:
    """``value`` as JSON data: literals as they are, sequences as lists, the rest as repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return repr(value)


def space_of(cls: type) -> ParamSpace:
    """The checked parameter space of a model class (computed once per class).

    Raises :class:`ModelDefinitionError` when a formula is malformed, reads an unknown name,
    mixes types, or when the defaults violate a declared constraint.
    """
    cached = cls.__dict__.get("_checker_space")
    if cached is None:
        cached = _build_space(cls)
        type.__setattr__(cls, "_checker_space", cached)
    return cached


def _build_space(cls: type) -> ParamSpace:
    model = cls.__name__
    declared: dict[str, Param] = dict(getattr(cls, "_params", {}))
    space = ParamSpace(model, declared, types={n: p.kind for n, p in declared.items()})

    def fail(what: str, exc: Exception) -> ModelDefinitionError:
        return ModelDefinitionError(f"model {model}, {what}: {exc}")

    earlier: dict[str, str] = {}
    for name, declaration in declared.items():
        if isinstance(declaration.default, Formula):
            kind = declaration.kind
            if kind not in ("int", "bool"):
                raise fail(f"parameter {name}", "a formula default needs a domain of numbers "
                           "or truth values")
            try:
                found = space.type_of(declaration.default, earlier)
            except FormulaError as exc:
                raise fail(f"default of {name}", f"{exc} (a default formula reads parameters "
                           "declared before it)") from None
            if found != kind:
                raise fail(f"default of {name}", f"the formula is {_a(found)}; the parameter "
                           f"is {_a(kind)}")
        earlier[name] = space.types[name]

    derived = getattr(cls, "derived", None) or {}
    if not isinstance(derived, Mapping):
        raise fail("derived", "must be a dict of name -> formula")
    for name, text in derived.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise fail("derived", f"{name!r} is not a valid name")
        if name in declared or name in space.derived or hasattr(cls, name) or name in _CALLS:
            raise fail(f"derived value {name}", "the name is already taken by a parameter, "
                       "a derived value or an attribute of the model")
        try:
            compiled = parse_formula(text)
            kind = space.type_of(compiled)
        except FormulaError as exc:
            raise fail(f"derived value {name}", exc) from None
        if kind == "choice":
            raise fail(f"derived value {name}", "must be a number or a truth value")
        space.derived[name] = compiled
        space.types[name] = kind

    assume = getattr(cls, "assume", None) or ()
    if isinstance(assume, str):
        assume = (assume,)
    if not isinstance(assume, (tuple, list)):
        raise fail("assume", "must be a tuple of formulas (strings)")
    compiled_assume = []
    for text in assume:
        try:
            compiled_assume.append(space.check(text, "bool"))
        except FormulaError as exc:
            raise fail("assume", exc) from None
    space.assume = tuple(compiled_assume)

    quorums = getattr(cls, "quorums", None) or {}
    if not isinstance(quorums, Mapping):
        raise fail("quorums", "must be a dict of name -> quorum(size, of=nodes)")
    for name, declaration in quorums.items():
        if not isinstance(declaration, Quorum):
            raise fail(f"quorum {name}", "declare it with quorum(size, of=nodes)")
        try:
            space.check(declaration.size, "int")
            space.check(declaration.nodes, "int")
        except FormulaError as exc:
            raise fail(f"quorum {name}", exc) from None
        space.quorums[str(name)] = declaration

    if not getattr(cls, "_abstract", False):
        try:
            space.bind({})
        except ParamError as exc:
            raise ModelDefinitionError(f"model {model}: the default parameters are not a valid "
                                       f"point: {exc}") from None
    return space


def describe_space(model: Any) -> dict[str, Any]:
    """The declared parameter space of a model (instance or class) as JSON-ready data:
    ``params`` (kind, domain, default or default formula, doc), ``constraints``, ``derived``
    (formula, and value for an instance) and ``quorums``. Reports and trace formats embed it."""
    cls = model if isinstance(model, type) else type(model)
    values = None if isinstance(model, type) else getattr(model, "params", None)
    return space_of(cls).describe(values)
