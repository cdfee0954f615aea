"""checker: an explicit-state model checker for distributed protocols.

Write a model as a subclass of :class:`Model` (or :class:`ActorModel` for message passing),
then run ``python -m checker MODEL.py``. The names below are the public API.
"""

from checker.errors import CheckerError, InvalidInput, ModelDefinitionError, ParamError
from checker.explore import Explorer, Options, Result, check
from checker.model import (
    Model,
    action,
    action_invariant,
    constraint,
    invariant,
    sometimes,
)
from checker.params import param
from checker.values import Bag, Id, Map, Record, ids

__all__ = [
    "Bag",
    "CheckerError",
    "Explorer",
    "Id",
    "InvalidInput",
    "Map",
    "Model",
    "ModelDefinitionError",
    "Options",
    "ParamError",
    "Record",
    "Result",
    "action",
    "action_invariant",
    "check",
    "constraint",
    "ids",
    "invariant",
    "param",
    "sometimes",
]
