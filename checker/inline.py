"""Action bodies rewritten as statements of the search's generated expander.

Most calls of an action in a search return None: the guard is false. For a model like
two-phase commit the call itself (frame, arguments, return) then costs as much as the guard,
so :func:`checker.explore.expander` pastes the body of each simple action into its loop
instead of calling it. This module decides which bodies are simple enough and rewrites them.

A body is inlined only when the rewrite cannot change what it does:

- the action is a plain method bound to the model, with its own source, which compiles to
  exactly the bytecode the method runs (so a stale source file or a decorator's wrapper is
  never pasted), without closures, ``*args``, ``yield``, ``await`` or name mangling;
- its statements are assignments, expressions, ``if``, ``for``, ``while``, ``assert``,
  ``raise``, ``pass``, ``break``, ``continue`` and ``return``; a ``return`` is never inside a
  loop, and an ``if`` holding one either returns on every path of a branch or ends the body
  (so the code after it moves into the other branch, without copies);
- every local variable is assigned before it is read on every path, so a value left over from
  the previous argument can never be read where the method would raise UnboundLocalError;
- it uses no ``lambda``, walrus, ``del``, ``try``, ``with``, ``import``, ``global``, nested
  definitions, nor anything that looks at frames or scopes (``locals``, ``super``, ...).

Locals are renamed apart (``_x<action>_<name>``), parameters that are never assigned become
the expander's own names (the state, the loop variables, the model), and each ``return e``
becomes the code that appends the successors ``e`` stands for. Everything else, globals and
builtins included, runs as written: the expander is built over the action's module globals.

Guards that do not depend on the action's arguments are hoisted out of the loop over them
(``hoist``): when the whole body is one ``if`` without ``else``, the leading conjuncts of its
test that read no argument and call nothing are tested once per state, before the loop, instead
of once per argument (two-phase commit's ``COMMIT in s.msgs`` ran once per resource manager).
The test reads the state, the model and globals only (locals are not assigned yet), so with
actions free of side effects, as the model API requires, it has the same value for every
argument; with no call in it, nothing it runs is the model's own code.
"""

from __future__ import annotations
import __future__

import ast
import copy
import functools
import inspect
import operator
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PREFIX", "InlinedBody", "inline_body"]

PREFIX = "_x"
"""Names the expander generates start with this; a body using such a name is not inlined."""

_SIMPLE_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Pass, ast.Break,
                      ast.Continue, ast.Assert, ast.Raise, ast.Return)
_SCOPE_NAMES = frozenset({"locals", "vars", "eval", "exec", "globals", "dir", "super",
                          "__class__", "breakpoint"})
_FRAME_ATTRIBUTES = frozenset({"_getframe", "currentframe", "f_back", "f_locals", "f_globals",
                               "stack", "trace"})
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_FUTURE_FLAGS = functools.reduce(operator.or_, (getattr(__future__, feature).compiler_flag
                                                for feature in __future__.all_feature_names))
_CO_PLAIN = inspect.CO_OPTIMIZED | inspect.CO_NEWLOCALS
_CO_FORBIDDEN = (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR
                 | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
                 | inspect.CO_ITERABLE_COROUTINE)


class _NotInlinable(Exception):
    """The body has a shape this module does not rewrite."""


@dataclass(frozen=True)
class InlinedBody:
    """An action body ready to paste: statements (source text) and the globals they use;
    ``hoisted``, when not None, is a condition to test once before the loop over the action's
    arguments, the statements running only where it holds (see the module docstring)."""

    lines: list[str]
    globals: dict[str, Any]
    hoisted: str | None = None


def inline_body(
    step: Callable[..., Any], state: str, arguments: list[str], owner: str, tag: str,
    emit: Callable[[ast.expr], list[ast.stmt]], hoist: bool = False,
) -> InlinedBody | None:
    """The body of action ``step`` as statements for the expander, or None when unsafe.

    ``state`` and ``arguments`` are the expander's names for the state and the action's
    arguments, ``owner`` its name for the object the method is bound to (the model); ``tag``
    makes the renamed locals unique; ``emit(e)`` gives the statements that append the
    successors of a returned expression ``e``. With ``hoist`` (the expander loops over a
    fixed, non-empty tuple of arguments), guards that do not depend on the arguments come
    back separately as ``hoisted``.
    """
    try:
        function = _plain_method(step, len(arguments))
        definition = _definition(function)
        _check_body(definition, function.__code__)
        statements = _rewrite(definition, function.__code__, [owner, state, *arguments], tag,
                              emit)
        hoisted = _hoisted(statements, set(arguments), f"{PREFIX}{tag}_") if hoist else None
        return InlinedBody(_lines(statements), function.__globals__,
                           None if hoisted is None else ast.unparse(hoisted))
    except _NotInlinable:
        return None


def _plain_method(step: Callable[..., Any], arguments: int) -> types.FunctionType:
    if not inspect.ismethod(step) or isinstance(step.__self__, type):
        raise _NotInlinable
    function = step.__func__
    if not isinstance(function, types.FunctionType):
        raise _NotInlinable
    code = function.__code__
    if (code.co_freevars or code.co_flags & _CO_FORBIDDEN or code.co_flags & _CO_PLAIN
            != _CO_PLAIN or code.co_kwonlyargcount or code.co_posonlyargcount
            or code.co_argcount != arguments + 2):
        raise _NotInlinable
    return function


def _definition(function: types.FunctionType) -> ast.FunctionDef:
    """The method's parsed definition, if it compiles to the very code the method runs."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except Exception:  # no source, or none that parses: call the method
        raise _NotInlinable from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        raise _NotInlinable
    definition = tree.body[0]
    definition.decorator_list = []
    module = compile(ast.Module([definition], []), function.__code__.co_filename, "exec",
                     flags=function.__code__.co_flags & _FUTURE_FLAGS, dont_inherit=True)
    compiled = next((c for c in module.co_consts if isinstance(c, types.CodeType)), None)
    if compiled is None or not _same_code(compiled, function.__code__):
        raise _NotInlinable
    return definition


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    """Whether two code objects do the same, whatever their line numbers and qualified names."""
    if (a.co_code != b.co_code or a.co_names != b.co_names or a.co_varnames != b.co_varnames
            or a.co_cellvars != b.co_cellvars or a.co_freevars != b.co_freevars
            or a.co_flags != b.co_flags or a.co_argcount != b.co_argcount
            or len(a.co_consts) != len(b.co_consts)):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        if isinstance(x, types.CodeType) and isinstance(y, types.CodeType):
            if not _same_code(x, y):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def _check_body(definition: ast.FunctionDef, code: types.CodeType) -> None:
    """Reject forms the rewrite does not handle and reads of possibly unassigned locals."""
    for node in ast.walk(definition):
        if node is definition:
            continue
        if isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await,
                             ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            raise _NotInlinable
        if isinstance(node, ast.Name) and (node.id in _SCOPE_NAMES
                                           or node.id.startswith(PREFIX)):
            raise _NotInlinable
        if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRIBUTES:
            raise _NotInlinable
    parameters = set(code.co_varnames[:code.co_argcount])
    local_names = (set(code.co_varnames) | set(code.co_cellvars)) - parameters
    _Assignments(local_names).block(definition.body, set(), in_loop=False)


class _Assignments:
    """Definite assignment of locals, statement by statement (see the module docstring)."""

    def __init__(self, local_names: set[str]) -> None:
        self.local_names = local_names

    def block(self, statements: list[ast.stmt], assigned: set[str], in_loop: bool
              ) -> tuple[set[str], bool]:
        """Locals assigned after ``statements``, and whether no path falls off their end."""
        assigned = set(assigned)
        for statement in statements:
            assigned, ends = self.statement(statement, assigned, in_loop)
            if ends:
                return assigned, True
        return assigned, False

    def statement(self, node: ast.stmt, assigned: set[str], in_loop: bool
                  ) -> tuple[set[str], bool]:
        if isinstance(node, ast.If):
            self.reads(node.test, assigned)
            body, body_ends = self.block(node.body, assigned, in_loop)
            orelse, orelse_ends = self.block(node.orelse, assigned, in_loop)
            if body_ends and orelse_ends:
                return assigned, True
            if body_ends:
                return orelse, False
            if orelse_ends:
                return body, False
            return body & orelse, False
        if isinstance(node, (ast.For, ast.While)):
            if isinstance(node, ast.For):
                self.reads(node.iter, assigned)
                inside = self.targets(node.target, assigned)
            else:
                self.reads(node.test, assigned)
                inside = assigned
            if any(isinstance(n, ast.Return) for n in ast.walk(node)):
                raise _NotInlinable
            self.block(node.body, inside, in_loop=True)
            self.block(node.orelse, assigned, in_loop)
            return assigned, False
        if not isinstance(node, _SIMPLE_STATEMENTS):
            raise _NotInlinable
        if isinstance(node, (ast.Break, ast.Continue)):
            return assigned, True
        if isinstance(node, ast.Assign):
            self.reads(node.value, assigned)
            for target in node.targets:
                assigned = self.targets(target, assigned)
            return assigned, False
        if isinstance(node, ast.AugAssign):
            self.reads(node.value, assigned)
            self.reads(_loaded(node.target), assigned)
            return self.targets(node.target, assigned), False
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return assigned, False
            self.reads(node.value, assigned)
            return self.targets(node.target, assigned), False
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.reads(child, assigned)
        return assigned, isinstance(node, (ast.Return, ast.Raise))

    def targets(self, target: ast.expr, assigned: set[str]) -> set[str]:
        """Locals assigned after storing into ``target``; reads of its subscripts checked."""
        assigned = set(assigned)
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
            elif isinstance(node, (ast.Attribute, ast.Subscript)):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.expr):
                        self.reads(child, assigned)
        if any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Del) for n in ast.walk(target)):
            raise _NotInlinable
        return assigned

    def reads(self, node: ast.expr, assigned: set[str]) -> None:
        """Fail if ``node`` may read a local that is not assigned yet."""
        if isinstance(node, _COMPREHENSIONS):
            bound = set(assigned)
            for generator in node.generators:
                self.reads(generator.iter, bound)
                bound |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
                for condition in generator.ifs:
                    self.reads(condition, bound)
            results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for result in results:
                self.reads(result, bound)
            return
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                raise _NotInlinable
            if node.id in self.local_names and node.id not in assigned:
                raise _NotInlinable
            return
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.reads(child, assigned)
            elif isinstance(child, ast.keyword):
                self.reads(child.value, assigned)


def _loaded(target: ast.expr) -> ast.expr:
    """``target`` as an expression that reads it (for ``x += 1``)."""
    loaded = copy.deepcopy(target)
    for node in ast.walk(loaded):
        if hasattr(node, "ctx"):
            node.ctx = ast.Load()
    return loaded


def _rewrite(definition: ast.FunctionDef, code: types.CodeType, outer: list[str], tag: str,
             emit: Callable[[ast.expr], list[ast.stmt]]) -> list[ast.stmt]:
    """The body with locals renamed, parameters bound, and returns turned into ``emit``."""
    parameters = list(code.co_varnames[:code.co_argcount])
    stored = {n.id for n in ast.walk(definition)
              if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    renames = {name: f"{PREFIX}{tag}_{name}"
               for name in set(code.co_varnames) | set(code.co_cellvars)}
    prologue: list[ast.stmt] = []
    for name, bound_to in zip(parameters, outer):
        if name in stored:
            prologue += ast.parse(f"{renames[name]} = {bound_to}").body
        else:
            renames[name] = bound_to
    body = [_Renamer(renames).visit(statement) for statement in definition.body]
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]
    return prologue + _returns_emitted(body, emit)


def _lines(statements: list[ast.stmt]) -> list[str]:
    """``statements`` as lines of source, ``pass`` for none."""
    return "\n".join(ast.unparse(statement) for statement in statements).splitlines() or ["pass"]


def _hoisted(statements: list[ast.stmt], arguments: set[str], local_prefix: str
             ) -> ast.expr | None:
    """Take the guard that does not depend on the arguments out of a rewritten body.

    When the body is one ``if`` without ``else`` and stores into no attribute or item (what
    the test reads could change between arguments), the leading conjuncts of its test that
    read no argument and no local and call nothing are removed from it (with the whole test,
    the body becomes the ``if``'s body) and returned joined by ``and``; None when there are
    none. ``if a and b`` tests ``a`` first, so testing ``a`` before the loop and ``b`` in it
    is the same test.
    """
    if len(statements) != 1 or not isinstance(statements[0], ast.If) or statements[0].orelse:
        return None
    if any(isinstance(node, (ast.Attribute, ast.Subscript))
           and not isinstance(node.ctx, ast.Load) for node in ast.walk(statements[0])):
        return None
    branch = statements[0]
    conjuncts = (branch.test.values if isinstance(branch.test, ast.BoolOp)
                 and isinstance(branch.test.op, ast.And) else [branch.test])
    fixed = 0
    while fixed < len(conjuncts) and _fixed(conjuncts[fixed], arguments, local_prefix):
        fixed += 1
    if fixed == 0:
        return None
    rest = conjuncts[fixed:]
    if not rest:
        statements[:] = branch.body
    else:
        branch.test = rest[0] if len(rest) == 1 else ast.BoolOp(ast.And(), rest)
    return conjuncts[0] if fixed == 1 else ast.BoolOp(ast.And(), conjuncts[:fixed])


def _fixed(test: ast.expr, arguments: set[str], local_prefix: str) -> bool:
    """Whether ``test`` has the same value for every argument: it reads none and no local
    (renamed locals start with ``local_prefix``), and calls nothing (a comprehension is a
    call too)."""
    for node in ast.walk(test):
        if isinstance(node, (ast.Call, ast.Await, *_COMPREHENSIONS)):
            return False
        if isinstance(node, ast.Name) and (node.id in arguments
                                           or node.id.startswith(local_prefix)):
            return False
    return True


class _Renamer(ast.NodeTransformer):
    def __init__(self, renames: dict[str, str]) -> None:
        self.renames = renames

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.renames.get(node.id, node.id), node.ctx), node)


def _returns_emitted(statements: list[ast.stmt], emit: Callable[[ast.expr], list[ast.stmt]]
                     ) -> list[ast.stmt]:
    """``statements`` with each ``return`` replaced by ``emit``; code after it is dropped.

    An ``if`` that returns on some path takes the statements after it into both branches;
    the checks above allow that only where one branch ends in every path, so nothing is copied
    into a branch that runs it.
    """
    result: list[ast.stmt] = []
    for position, statement in enumerate(statements):
        if isinstance(statement, ast.Return):
            if statement.value is not None:
                result += emit(statement.value)
            return result
        if isinstance(statement, ast.Raise):
            return result + [statement]
        if isinstance(statement, ast.If) and _returns(statement):
            rest = statements[position + 1:]
            if rest and not (_ends(statement.body) or _ends(statement.orelse)):
                raise _NotInlinable
            body = _returns_emitted(statement.body + rest, emit) or [ast.Pass()]
            orelse = _returns_emitted(statement.orelse + rest, emit)
            result.append(ast.If(statement.test, body, orelse))
            return result
        result.append(statement)
    return result


def _returns(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _ends(statements: list[ast.stmt]) -> bool:
    """Whether every path through ``statements`` returns or raises (loops aside)."""
    for statement in statements:
        if isinstance(statement, (ast.Return, ast.Raise)):
            return True
        if isinstance(statement, ast.If) and _ends(statement.body) and _ends(statement.orelse):
            return True
    return False
