"""Malformed models are rejected when their class is defined, with a message saying what to fix."""

import pytest

from checker import Map, Model, ModelDefinitionError, action, invariant, param, sometimes
from checker.errors import ParamError


def test_model_without_init_is_rejected():
    with pytest.raises(ModelDefinitionError, match="no init"):
        class NoInit(Model):
            @action
            def step(self, s):
                return s


def test_action_with_too_few_parameters_is_rejected():
    with pytest.raises(ModelDefinitionError, match=r"must take \(self, s, \.\.\.\)"):
        class Bad(Model):
            def init(self):
                return 0

            @action
            def step(self):
                return 0


def test_action_arguments_must_match_domains():
    with pytest.raises(ModelDefinitionError, match="over= gives 0 domain"):
        class Bad(Model):
            def init(self):
                return 0

            @action
            def step(self, s, node):
                return 0


def test_action_with_varargs_is_rejected():
    with pytest.raises(ModelDefinitionError, match=r"\*args"):
        class Bad(Model):
            def init(self):
                return 0

            @action(over=range(2))
            def step(self, s, *nodes):
                return 0


def test_property_that_is_not_a_method_is_rejected():
    with pytest.raises(ModelDefinitionError, match="methods defined with def"):
        invariant(len)


def test_property_with_wrong_arity_is_rejected():
    with pytest.raises(ModelDefinitionError, match=r"must take \(self, s\)"):
        class Bad(Model):
            def init(self):
                return 0

            @invariant
            def ok(self, s, t):
                return True


def test_duplicate_names_are_rejected():
    with pytest.raises(ModelDefinitionError, match="two definitions are named 'agreement'"):
        class Bad(Model):
            def init(self):
                return 0

            @invariant
            def agreement(self, s):
                return True

            @sometimes(name="agreement")
            def chosen(self, s):
                return True


def test_unknown_domain_attribute_is_reported_when_the_model_is_built():
    class Bad(Model):
        def init(self):
            return 0

        @action(over="NODES")
        def step(self, s, node):
            return 0

    with pytest.raises(ModelDefinitionError, match="over='NODES' names no attribute"):
        Bad().actions()


class Sized(Model):
    nodes = param(3, range(1, 6), "number of nodes")
    mode = param("fast", ("fast", "slow"), "how it runs")

    def init(self):
        return 0


def test_parameters_have_defaults_and_are_validated():
    assert Sized().params == {"nodes": 3, "mode": "fast"}
    assert Sized(nodes=5).nodes == 5
    with pytest.raises(ParamError, match=r"nodes=9 is outside its domain 1\.\.5"):
        Sized(nodes=9)
    with pytest.raises(ParamError, match=r"mode='medium' is outside its domain"):
        Sized(mode="medium")
    with pytest.raises(ParamError, match="unknown parameter 'size'"):
        Sized(size=2)


def test_maps_are_immutable_and_update_functionally():
    m = Map({"a": 1})
    assert m.set("b", 2) == {"a": 1, "b": 2} and m == {"a": 1}
    with pytest.raises(TypeError, match="immutable"):
        m["c"] = 3
    assert hash(Map({"x": 1, "y": 2})) == hash(Map({"y": 2, "x": 1}))
