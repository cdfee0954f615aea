"""Inlined action bodies give exactly the successors, errors and results of calling actions."""

import sys
import textwrap
from pathlib import Path

import pytest

from checker import Model, action, check
from checker import explore as explore_module
from checker.explore import expander, successors
from checker.inline import inline_body
from checker.loader import build_model

MODELS = Path(__file__).parent.parent / "models"


def _inlined(model: Model) -> dict[str, bool]:
    """For each action of ``model``: whether the expander pastes its body."""
    return {
        spec.name: inline_body(spec.step, "_xs", [f"_xa{k}" for k in range(len(spec.domains))],
                               "_xself", "0", lambda value: []) is not None
        for spec in model.actions()
    }


def _reachable(model: Model, limit: int = 1500) -> list:
    actions = model.actions()
    frontier, seen = list(model.initial_states()), []
    known = set(frontier)
    while frontier and len(seen) < limit:
        state = frontier.pop(0)
        seen.append(state)
        for _, _, successor in successors(state, actions):
            if successor not in known:
                known.add(successor)
                frontier.append(successor)
    return seen


def _same_expansion(model: Model) -> None:
    actions = model.actions()
    inlined, called = expander(actions), expander(actions, inline=False)
    for state in _reachable(model):
        expected = [successor for _, _, successor in successors(state, actions)]
        assert inlined(state) == expected
        assert called(state) == expected


SHAPES = '''
import functools

from checker import Model, action, invariant

LIMIT = 3


def _wrapped(method):
    @functools.wraps(method)
    def wrapper(self, s, *args):
        return method(self, s, *args)
    return wrapper


class Shapes(Model):
    """Actions of every shape the rewrite handles, and some it must leave alone."""

    deadlock = False

    def setup(self):
        self.step_size = 1
        self.__hidden = 2

    def init(self):
        return (0, 0)

    @action
    def early_returns(self, s):
        if s[0] > 3:
            return None
        if s[1] == 0:
            return (s[0] + 1, s[1])
        return (s[0], (s[1] + 1) % 3)

    @action(over=(0, 1, 2))
    def elif_chain(self, s, n):
        """A docstring, then an if/elif/else that returns on some paths only."""
        if n == 0:
            return (s[0], n)
        elif n == 1 and s[0] % 2:
            pass
        else:
            return
        marked = (s[0] + self.step_size) % 4
        if marked == s[0]:
            return None
        return (marked, s[1])

    @action(over=(1, 2))
    def returns_list(self, s, n):
        if s[0] < 2:
            return [(s[0] + n, s[1]), None, ((s[0] + 1) % 4, n)]

    @action(over=(1, 2))
    def returns_generator_expression(self, s, n):
        return ((s[0], (s[1] + k) % 3) for k in range(n) if k != s[0])

    @action
    def yields(self, s):
        if s[1] == 2:
            yield (s[0], 0)
            yield None
            yield ((s[0] + 2) % 4, 1)

    @action(over=(2, 3))
    def loop_with_break(self, s, n):
        total = 0
        for k in range(n):
            total += k + s[1]
            if total > 2:
                break
        else:
            total = -1
        count = 0
        while count < n:
            count += 1
            if count == s[0]:
                continue
        return ((total % 4 + count) % 4, s[1])

    @action(over=(1, 2))
    def return_inside_loop(self, s, n):
        for k in range(n):
            if (s[0] + k) % 3 == 0:
                return (s[0], k)
        return None

    @action(over=(1,))
    def reassigns_parameters(self, s, n):
        s = (s[1], s[0])
        n += s[0]
        return (s[0] % 4, (s[1] + n) % 3)

    @action
    def maybe_unassigned(self, s):
        if s[0] == 1:
            x = 2
        if s[0] != 1:
            return None
        return (x, s[1])

    @action
    def reads_a_module_global(self, s):
        assert s[0] >= 0, "states are never negative"
        if s[0] == LIMIT and s[1] != 1:
            return (s[0], 1)

    @action
    def nested_branches(self, s):
        if s[0] == 2:
            if s[1] == 0:
                return None
            else:
                return (3, s[1])
        elif s[0] == 3:
            raise_it = False
            if raise_it:
                raise AssertionError("never")
            doubled = [s[1]] * 2
        else:
            return None
        return (0, doubled[0])

    @action
    def uses_try(self, s):
        try:
            return (s[0], 2) if s[1] == 1 else None
        except KeyError:
            return None

    @action
    def mangled(self, s):
        if s == (1, 1):
            return (self.__hidden, 2)

    @action
    @_wrapped
    def decorated(self, s):
        if s == (2, 1):
            return (1, 2)

    @action
    def does_nothing(self, s):
        """Never enabled."""

    @action(over=(1, 2, 3))
    def guard_without_argument(self, s, n):
        if s[1] == 1:
            return ((s[0] + n) % 4, 2)

    @action(over=(0, 1))
    def guard_partly_without_argument(self, s, n):
        if s[0] == 3 and s[1] != n:
            return (0, n)

    @action(over=(1, 2))
    def guard_with_a_call(self, s, n):
        if min(s) == 0 and s[0] != n:
            return (n, s[1])

    @action(over=(1, 2))
    def writes_the_model(self, s, n):
        if self.step_size == 1:
            self.last_step = n
            return (s[0], (s[1] + n) % 3)

    @action(over=())
    def no_arguments_at_all(self, s, n):
        if s[5] == 0:  # never evaluated: there is no argument
            return s

    @invariant
    def in_range(self, s):
        return 0 <= s[0] < 4 and 0 <= s[1] < 3
'''


@pytest.fixture
def shapes(tmp_path: Path) -> Model:
    """The model in SHAPES, loaded from a file (pytest rewrites the asserts of test modules)."""
    path = tmp_path / "shapes.py"
    path.write_text(SHAPES)
    return build_model(path)


def test_simple_bodies_are_inlined_and_the_others_called(shapes):
    assert _inlined(shapes) == {
        "early_returns": True, "elif_chain": True, "returns_list": True,
        "returns_generator_expression": True, "yields": False, "loop_with_break": True,
        "return_inside_loop": False, "reassigns_parameters": True, "maybe_unassigned": False,
        "reads_a_module_global": True, "nested_branches": True, "uses_try": False,
        "mangled": False, "decorated": False, "does_nothing": True,
        "guard_without_argument": True, "guard_partly_without_argument": True,
        "guard_with_a_call": True, "writes_the_model": True, "no_arguments_at_all": True,
    }


def _hoisted(model: Model) -> dict[str, str | None]:
    """For each inlined action of ``model`` that loops over fixed arguments: the guard the
    expander tests once before the loop."""
    hoisted = {}
    for spec in model.actions():
        if spec.domains and spec.static_args:
            body = inline_body(spec.step, "_xs", [f"_xa{k}" for k in range(len(spec.domains))],
                               "_xself", "0", lambda value: [], hoist=True)
            if body is not None:
                hoisted[spec.name] = body.hoisted
    return hoisted


def test_guards_that_do_not_read_the_arguments_are_taken_out_of_the_loop(shapes):
    assert _hoisted(shapes) == {
        "elif_chain": None, "returns_list": "_xs[0] < 2",
        "returns_generator_expression": None, "loop_with_break": None,
        "reassigns_parameters": None, "guard_without_argument": "_xs[1] == 1",
        "guard_partly_without_argument": "_xs[0] == 3",
        "guard_with_a_call": None, "writes_the_model": None,
    }
    two_phase = _hoisted(build_model(MODELS / "two_phase_commit.py", {"rms": 3}))
    assert two_phase == {
        "tm_rcv_prepared": "_xs.tm_state == 'init'", "rm_prepare": None,
        "rm_choose_to_abort": None, "rm_rcv_commit_msg": "COMMIT in _xs.msgs",
        "rm_rcv_abort_msg": "ABORT in _xs.msgs",
    }


class Probe:
    """Counts how often a guard compares a state with it."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        Probe.compared += 1
        return other == 1

    __hash__ = object.__hash__


PROBE = Probe()


class OneGuardManyArguments(Model):
    """Ten arguments, one guard that does not read them."""

    deadlock = False

    def init(self):
        return 0

    @action(over=range(10))
    def step(self, s, k):
        if s == PROBE:
            return 2 + k


def test_a_hoisted_guard_is_tested_once_per_state():
    expand = expander(OneGuardManyArguments().actions())
    Probe.compared = 0
    assert expand(1) == list(range(2, 12)) and expand(0) == []
    assert Probe.compared == 2
    Probe.compared = 0
    assert expander(OneGuardManyArguments().actions(), inline=False)(1) == list(range(2, 12))
    assert Probe.compared == 10


def test_every_shipped_two_phase_commit_and_paxos_action_but_one_is_inlined():
    assert all(_inlined(build_model(MODELS / "two_phase_commit.py", {"rms": 3})).values())
    paxos = _inlined(build_model(MODELS / "paxos.py", {}))
    assert [name for name, inlined in paxos.items() if not inlined] == ["phase2a"]


def test_inlined_and_called_actions_give_the_same_successors_in_the_same_order(shapes):
    _same_expansion(shapes)


@pytest.mark.parametrize("model_file, params", [
    ("two_phase_commit.py", {"rms": 3}), ("paxos.py", {}), ("raft.py", {"restarts": 0}),
    ("primary_backup.py", {}), ("paxos_actors.py", {}), ("checkpoint_recovery.py", {}),
    ("consistent_hashing.py", {}), ("naive_paxos.py", {}),
])
def test_shipped_models_expand_alike_inlined_and_called(model_file, params):
    _same_expansion(build_model(MODELS / model_file, params))


def test_an_inlined_body_reads_module_globals_when_it_runs(shapes, monkeypatch):
    model = shapes
    expand = expander(model.actions())
    before = expand((3, 0))
    monkeypatch.setattr(sys.modules[type(model).__module__], "LIMIT", 2)
    after = expand((3, 0))
    assert before.count((3, 1)) == after.count((3, 1)) + 1
    assert after == [successor for _, _, successor in successors((3, 0), model.actions())]


def _search(model: Model, inline: bool, monkeypatch) -> tuple:
    with monkeypatch.context() as patch:
        if not inline:
            patch.setattr(explore_module, "inline_body", lambda *args, **kwargs: None)
        result = check(model)
    steps = [(step.action, step.state, step.error) for step in result.trace.steps] \
        if result.trace else None
    return (result.verdict, result.distinct_states, result.transitions, result.depth,
            result.property, result.error, steps)


def test_a_search_gives_the_same_result_with_and_without_inlining(shapes, monkeypatch):
    assert _search(shapes, True, monkeypatch) == _search(shapes, False, monkeypatch)


class RaisesInline(Model):
    """An inlined action raises at one state, after other actions gave successors."""

    def init(self):
        return 0

    @action
    def increment(self, s):
        if s < 4:
            return s + 1

    @action(over=(1, 2))
    def divide(self, s, k):
        if s == 3:
            return 12 // (k - 2)

    @action
    def reset(self, s):
        return 0


def test_an_exception_in_an_inlined_body_is_reported_like_a_called_one(monkeypatch):
    assert _inlined(RaisesInline())["divide"]
    inlined = _search(RaisesInline(), True, monkeypatch)
    assert inlined == _search(RaisesInline(), False, monkeypatch)
    assert inlined[0] == "error" and "divide(2)" in inlined[5]
    assert "ZeroDivisionError" in inlined[5]


SHADOWING = '''
from checker import Model, action

list = tuple
GeneratorType = None


def type(value):
    return "shadowed"


class Shadowing(Model):
    deadlock = False

    def init(self):
        return 0

    @action
    def several(self, s):
        if s < 3:
            return [s + 1, s + 2]

    @action
    def one(self, s):
        return (s + 1) % 5
'''


def test_module_globals_that_shadow_builtins_do_not_reach_the_expander(tmp_path):
    path = tmp_path / "shadowing.py"
    path.write_text(textwrap.dedent(SHADOWING))
    model = build_model(path)
    assert all(_inlined(model).values())
    _same_expansion(model)
