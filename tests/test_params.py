"""Parameter spaces without Z3: the formula language, constraints checked when a model is built,
derived values, default formulas, and the space description reports embed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker import Model, ModelDefinitionError, ParamError, action, invariant, param
from checker.explore import check
from checker.loader import build_model
from checker.params import (
    FormulaError,
    describe_space,
    formula,
    parse_formula,
    quorum,
    space_of,
)

ROOT = Path(__file__).resolve().parent.parent
PAXOS = ROOT / "models" / "paxos.py"


def checker(*args):
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


class Replicas(Model):
    nodes = param(3, range(1, 8), "number of replicas")
    faults = param(1, range(0, 4), "crashes to tolerate")
    mode = param("sync", ("sync", "async"), "replication mode")
    quorum_size = param(formula("nodes - faults"), range(1, 8), "write quorum")
    assume = ("nodes >= 2 * faults + 1", "mode == 'sync' or faults == 0 or nodes > 3")
    derived = {"majority": "nodes // 2 + 1", "spare": "quorum_size - majority"}
    quorums = {"write": quorum("quorum_size", of="nodes")}

    def setup(self):
        self.seen_in_setup = (self.majority, self.spare)

    def init(self):
        return 0

    @action
    def step(self, s):
        return s + 1 if s < 1 else None

    @invariant
    def small(self, s):
        return s <= 1

    def final(self, s):
        return True


def test_formulas_follow_python_arithmetic_including_negative_floor_division():
    env = {"a": -7, "b": 3}
    for text in ("a // 2", "a % 2", "-a // 3 + b * 2", "min(a, b, 0)", "max(a, b) - 1",
                 "b if a < 0 else a", "not (a < b) or a == -7", "0 < b <= 3 != a"):
        assert parse_formula(text).evaluate(env) == eval(text, {}, dict(env)), text


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "n ** 2", "n / 2", "n // f", "n % 0", "x.y", "x[0]",
    "lambda: 1", "abs(n)", "min(*n)", "[n]", "n if",
])
def test_anything_outside_the_formula_language_is_rejected(text):
    with pytest.raises(FormulaError):
        parse_formula(text)


def test_a_formula_naming_an_unknown_parameter_lists_the_known_ones():
    space = space_of(Replicas)
    with pytest.raises(FormulaError, match="unknown name 'node'.*nodes, faults"):
        space.check("node > 1", "bool")


@pytest.mark.parametrize("text, problem", [
    ("nodes + (faults > 1) > 0", "expected an integer"),
    ("nodes and faults", "expected a truth value"),
    ("mode < 'sync'", "compared with == or !="),
    ("mode == 'fast'", "'fast' is not a choice of mode"),
    ("mode == nodes", "only be compared with a literal"),
    ("nodes == 'three'", "may only be compared"),
])
def test_ill_typed_formulas_say_what_was_expected(text, problem):
    with pytest.raises(FormulaError, match=problem):
        space_of(Replicas).check(text, "bool")


def test_default_formulas_and_derived_values_are_computed_before_setup():
    model = Replicas(nodes=5, faults=2)
    assert model.params["quorum_size"] == 3
    assert (model.majority, model.spare) == (3, 0)
    assert model.seen_in_setup == (3, 0)
    assert Replicas(nodes=5, faults=1, quorum_size=5).spare == 2


def test_a_point_that_violates_a_constraint_is_rejected_naming_it():
    with pytest.raises(ParamError, match=r"faults=2, nodes=3 violate the constraint "
                                         r"'nodes >= 2 \* faults \+ 1'"):
        Replicas(faults=2)
    with pytest.raises(ParamError, match="mode == 'sync' or faults == 0 or nodes > 3"):
        Replicas(mode="async")


def test_a_default_formula_outside_the_domain_asks_for_an_explicit_value():
    with pytest.raises(ParamError, match="quorum_size defaults to nodes - faults = 0"):
        Replicas(nodes=1, faults=1)


def test_paxos_keeps_majority_quorums_and_its_state_count_by_default():
    model = build_model(PAXOS)
    assert model.params == {"acceptors": 3, "values": 2, "ballots": 2, "q1": 2, "q2": 2}
    assert build_model(PAXOS, {"acceptors": 5}).params["q1"] == 3
    result = check(model)
    assert (result.verdict, result.distinct_states) == ("ok", 3921)


def test_paxos_accepts_flexible_quorums_and_rejects_sizes_above_the_acceptors():
    assert build_model(PAXOS, {"acceptors": 3, "q1": 1, "q2": 2}).params["q1"] == 1
    with pytest.raises(ParamError, match="q1 <= acceptors"):
        build_model(PAXOS, {"acceptors": 3, "q1": 4})


def test_the_command_line_rejects_a_violating_point_with_one_line_and_exit_150():
    run = checker(PAXOS, "-p", "acceptors=2", "-p", "q2=3")
    assert run.returncode == 150
    assert run.stderr.strip().splitlines() == [
        "checker: error: Paxos: acceptors=2, q2=3 violate the constraint 'q2 <= acceptors' "
        "(declared in assume)"
    ]


def define(body: str, **attributes):
    """Define a small model class with the given class attributes."""
    namespace = {"init": lambda self: 0, "n": param(3, range(1, 6)), **attributes}
    return type(body, (Model,), namespace)


@pytest.mark.parametrize("attributes, problem", [
    ({"assume": ("n >",)}, "assume: syntax error"),
    ({"assume": ("n + 1",)}, "expected a truth value"),
    ({"assume": 3}, "must be a tuple of formulas"),
    ({"derived": {"n": "n + 1"}}, "already taken"),
    ({"derived": {"init": "n + 1"}}, "already taken"),
    ({"derived": {"half": "n // two"}}, "positive integer literal"),
    ({"quorums": {"q": "n"}}, "quorum\\(size, of=nodes\\)"),
    ({"quorums": {"q": quorum("n > 1", of="n")}}, "expected an integer"),
    ({"assume": ("n > 3",)}, "the default parameters are not a valid point"),
    ({"m": param(formula("k + 1"), range(0, 9)), "k": param(1, range(0, 3))},
     "reads parameters declared before it"),
])
def test_malformed_space_declarations_fail_when_the_class_is_defined(attributes, problem):
    with pytest.raises(ModelDefinitionError, match=problem):
        define("Broken", **attributes)


def test_a_formula_default_needs_a_domain():
    with pytest.raises(ParamError, match="give a domain"):
        param(formula("n + 1"))


def test_a_single_assumption_may_be_written_as_a_plain_string():
    cls = define("Single", assume="n >= 2")
    with pytest.raises(ParamError, match="'n >= 2'"):
        cls(n=1)


def test_describe_space_gives_domains_defaults_constraints_derived_values_and_quorums():
    described = describe_space(Replicas(nodes=5))
    assert described["params"]["nodes"] == {
        "kind": "int", "domain": "1..7", "min": 1, "max": 7, "default": 3,
        "doc": "number of replicas"}
    assert described["params"]["mode"]["choices"] == ["sync", "async"]
    assert described["params"]["quorum_size"]["default_formula"] == "nodes - faults"
    assert described["constraints"] == list(Replicas.assume)
    assert described["derived"]["majority"] == {"formula": "nodes // 2 + 1", "value": 3}
    assert described["quorums"] == {"write": {"size": "quorum_size", "nodes": "nodes"}}
    assert "value" not in describe_space(Replicas)["derived"]["majority"]
    json.dumps(described)


def test_the_json_result_of_a_check_carries_the_parameter_space():
    run = checker(PAXOS, "--json", "-p", "ballots=1")
    result = json.loads(run.stdout)
    assert result["param_space"]["constraints"] == ["q1 <= acceptors", "q2 <= acceptors"]
    assert result["param_space"]["quorums"]["phase1"] == {"size": "q1", "nodes": "acceptors"}


def test_checking_a_model_never_imports_z3():
    code = (
        "import sys; sys.modules['z3'] = None\n"
        "from checker.cli import main\n"
        "code = main(['models/paxos.py', '--quiet', '-p', 'ballots=1'])\n"
        "assert 'z3' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout


def test_the_params_command_without_z3_says_how_to_install_it():
    code = (
        "import sys; sys.modules['z3'] = None\n"
        "from checker.cli import main\n"
        "sys.exit(main(['params', 'models/paxos.py', '--query', 'intersect:phase1']))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2
    assert "pip install z3-solver" in run.stderr
    assert "Traceback" not in run.stderr
