"""Immutable values that states are made of: records, node ids, maps and bags.

States must be hashable and immutable so the explorer can fingerprint them and share
structure between a state and its successors. These types add what plain tuples and
frozensets lack: named fields with cheap functional update (:class:`Record`), a value type
the symmetry machinery can find anywhere in a state (:class:`Id`), and immutable mappings and
multisets keyed by such ids (:class:`Map`, :class:`Bag`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any

try:
    from checker import _values
except ImportError:  # built without a C compiler: the pure-Python bases below are used
    _values = None

__all__ = ["Bag", "Id", "Map", "Record", "ids", "show"]

_tuple_new = tuple.__new__


_interned: dict[tuple[str, int], Id] = {}


# Ids are hashed at every lookup in a map keyed by them, and a tuple computes its hash anew
# each time: the C base remembers their hashes by address (the same values).
_IdBase: type = _values.IdBase if _values is not None else tuple


class Id(_IdBase):
    """An interchangeable value: a node, a resource manager, a proposed value.

    An ``Id`` is a (kind, index) pair that prints as ``kind`` followed by the index
    (``rm0``, ``acceptor2``). Symmetry reduction permutes the indices of ids of a symmetric
    kind wherever they occur in a state, so per-node data must be keyed by ids, never by
    plain ints or strings.

    >>> Id("rm", 2)
    rm2
    >>> Id("rm", 1) < Id("rm", 2)
    True
    """

    __slots__ = ()

    def __new__(cls, kind: str, index: int) -> Id:
        # One object per id of a str kind and int index in a process, also for ids unpickled
        # from another process: the model's ids then find a state's on identity (a parallel
        # worker searched about 18% slower from states holding foreign copies). Other kinds
        # and indices are not shared: equal values of other types may print differently.
        if cls is not Id or type(kind) is not str or type(index) is not int:
            return _tuple_new(cls, (kind, index))
        known = _interned.get((kind, index))
        if known is None:
            known = _interned[(kind, index)] = _tuple_new(cls, (kind, index))
        return known

    @property
    def kind(self) -> str:
        """The kind of thing this id names, e.g. ``"acceptor"``."""
        return self[0]

    @property
    def index(self) -> int:
        """The position of this id among the ids of its kind."""
        return self[1]

    def __repr__(self) -> str:
        return f"{self[0]}{self[1]}"

    __str__ = __repr__

    def __getnewargs__(self) -> tuple[str, int]:
        return (self[0], self[1])


def ids(kind: str, count: int) -> tuple[Id, ...]:
    """Return ``count`` ids of ``kind``, numbered from 0.

    >>> ids("acceptor", 3)
    (acceptor0, acceptor1, acceptor2)
    """
    return tuple(Id(kind, index) for index in range(count))


class _RecordMeta(type):
    """Builds record classes: fields from annotations, fast constructor and accessors."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        namespace["__slots__"] = ()
        parent_fields: tuple[str, ...] = ()
        parent_defaults: dict[str, Any] = {}
        for base in bases:
            parent_fields = getattr(base, "_fields", parent_fields)
            parent_defaults = dict(getattr(base, "_defaults", parent_defaults))
        own = [f for f in namespace.get("__annotations__", {}) if not f.startswith("_")]
        fields = parent_fields + tuple(f for f in own if f not in parent_fields)
        defaults = dict(parent_defaults)
        for field in own:
            if field in namespace:
                defaults[field] = namespace.pop(field)
        seen_default = False
        for field in fields:
            if field in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(
                    f"record {name}: field {field!r} has no default but comes after a field "
                    "with one; give it a default or move it before the defaulted fields"
                )
        for field in fields:
            if field in namespace and not callable(namespace[field]):
                raise TypeError(f"record {name}: field {field!r} clashes with a class attribute")
        cls = super().__new__(mcls, name, bases, namespace)
        cls._fields = fields
        cls._defaults = defaults
        cls._index = {field: i for i, field in enumerate(fields)}
        if fields or name != "Record":
            for field in fields:
                if not field.isidentifier():
                    raise TypeError(f"record {name}: field {field!r} is not an identifier")
            if _values is None:
                _install_record_methods(cls, fields, defaults)
            else:
                _values.install_vectorcall(cls)
            for i, field in enumerate(fields):
                setattr(cls, field, _field_descriptor(cls, i, field, f"Field {field!r}."))
        return cls


def _install_record_methods(cls: type, fields: tuple[str, ...], defaults: dict[str, Any]) -> None:
    """Generate ``__new__`` and ``replace`` with the record's own fields (no C extension)."""
    params = ", ".join(f"{f}=_defaults[{f!r}]" if f in defaults else f for f in fields)
    values = "".join(f"{f}, " for f in fields)
    keywords = "".join(f"{f}=_KEEP, " for f in fields)
    updated = "".join(f"_self[{i}] if {f} is _KEEP else {f}, " for i, f in enumerate(fields))
    source = (
        f"def __new__(_cls, {params}):\n"
        f"    return _tuple_new(_cls, ({values}))\n"
        f"def replace(_self, {'*, ' if fields else ''}{keywords}**_unknown):\n"
        f"    if _unknown:\n"
        f"        _no_field(_self, _unknown)\n"
        f"    return _tuple_new(_cls, ({updated}))\n"
    )
    scope: dict[str, Any] = {"_tuple_new": _tuple_new, "_defaults": defaults, "_cls": cls,
                             "_KEEP": _KEEP, "_no_field": _no_field}
    exec(source, scope)  # noqa: S102 - code generated from validated identifiers only
    scope["replace"].__doc__ = "Return a copy of this record with the given fields changed."
    for name in ("__new__", "replace"):
        if name not in vars(cls):  # a class that defines its own keeps it
            scope[name].__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, scope[name])


_KEEP = object()


def _no_field(record: Any, unknown: dict[str, Any]) -> None:
    raise TypeError(
        f"{type(record).__name__} has no field {next(iter(unknown))!r}; "
        f"fields are {', '.join(record._fields)}"
    )


class _PyRecordBase(tuple):
    """Pure-Python base of records (the C one is ``checker._values.RecordBase``)."""

    __slots__ = ()

    def replace(self, **changes: Any) -> Any:
        """Return a copy of this record with the given fields changed.

        Each record class gets its own generated version with one keyword per field.
        """
        if changes:
            _no_field(self, changes)
        return self

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = tuple.__hash__

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


def _py_field_descriptor(cls: type, index: int, name: str, doc: str) -> property:
    """Read-only access to item ``index`` of a record (no C extension)."""
    return property(itemgetter(index), doc=doc)


_RecordBase: type = _values.RecordBase if _values is not None else _PyRecordBase
_field_descriptor = _values.field_descriptor if _values is not None else _py_field_descriptor


class Record(_RecordBase, metaclass=_RecordMeta):
    """An immutable record with named fields and cheap functional update.

    Declare fields as annotations; a class attribute gives a default::

        class Acceptor(Record):
            max_bal: int = -1
            max_val: object = None

    ``Acceptor(max_bal=2)`` builds one, ``a.max_bal`` reads a field and
    ``a.replace(max_bal=3)`` returns an updated copy. Records are tuples underneath, so they
    hash and compare fast, but a record only equals another record of the same class.

    >>> class Point(Record):
    ...     x: int
    ...     y: int = 0
    >>> p = Point(1)
    >>> p, p.replace(y=5)
    (Point(x=1, y=0), Point(x=1, y=5))
    """

    _fields: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}
    _index: dict[str, int] = {}

    def as_dict(self) -> dict[str, Any]:
        """The fields and their values, in declaration order."""
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={show(v)}" for f, v in zip(self._fields, self))
        return f"{type(self).__name__}({inner})"


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, show(value))


def sorted_items(items: Iterable[Any]) -> list[Any]:
    """Sort values of possibly mixed types deterministically, for display and enumeration."""
    items = list(items)
    if not any(isinstance(item, (frozenset, set)) for item in items):
        try:
            return sorted(items)
        except TypeError:
            pass
    # Sets compare by inclusion, a partial order: sort those (and mixed types) by their text.
    return sorted(items, key=_sort_key)


def show(value: Any) -> str:
    """``repr(value)`` with the elements of every set in sorted order.

    Python prints a frozenset of strings in an order that depends on ``PYTHONHASHSEED``;
    traces, labels and reports use this instead so that their text is the same in every run.

    >>> show(frozenset({"b", "a"}))
    "frozenset({'a', 'b'})"
    """
    if isinstance(value, (frozenset, set)):
        name = type(value).__name__
        if not value:
            return f"{name}()"
        inner = ", ".join(show(element) for element in sorted_items(value))
        return f"{{{inner}}}" if type(value) is set else f"{name}({{{inner}}})"
    if type(value) is tuple:
        inner = ", ".join(show(element) for element in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


class _PyMapBase(dict):
    """Pure-Python base of maps (the C one is ``checker._values.MapBase``)."""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(frozenset(dict.items(self)))
            return self._hash

    def set(self, key: Any, value: Any) -> Any:
        """Return a copy with ``key`` mapped to ``value``."""
        copy = type(self)(self)
        dict.__setitem__(copy, key, value)
        return copy

    def merge(self, changes: Mapping[Any, Any]) -> Any:
        """Return a copy with every entry of ``changes`` set."""
        copy = type(self)(self)
        dict.update(copy, changes)
        return copy

    def remove(self, key: Any) -> Any:
        """Return a copy without ``key`` (which must be present)."""
        copy = type(self)(self)
        dict.__delitem__(copy, key)
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))


_MapBase: type = _values.MapBase if _values is not None else _PyMapBase


class Map(_MapBase):
    """An immutable mapping, typically from node ids to per-node data.

    Use it instead of a tuple indexed by node number, so that symmetry reduction can
    permute keys and values together. ``m.set(k, v)`` returns an updated copy, as do
    ``m.merge(changes)`` and ``m.remove(k)``.

    >>> m = Map({Id("n", 0): 1})
    >>> m.set(Id("n", 1), 2)
    Map({n0: 1, n1: 2})
    """

    __slots__ = ()

    def _immutable(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} is immutable: use set(), merge() or remove()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable  # type: ignore[assignment]
    __ior__ = _immutable  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{show(k)}: {show(self[k])}" for k in sorted_items(self))
        return f"{type(self).__name__}({{{inner}}})"


class Bag(Map):
    """An immutable multiset: a map from item to its (positive) count.

    >>> b = Bag().add("m").add("m")
    >>> b["m"], b.remove_one("m")["m"]
    (2, 1)
    """

    __slots__ = ()

    def add(self, item: Any, count: int = 1) -> Bag:
        """Return a copy with ``count`` more copies of ``item``."""
        return self.set(item, self.get(item, 0) + count)  # type: ignore[return-value]

    def remove_one(self, item: Any) -> Bag:
        """Return a copy with one copy of ``item`` fewer."""
        left = self[item] - 1
        return self.remove(item) if left == 0 else self.set(item, left)  # type: ignore[return-value]

    def elements(self) -> Iterator[Any]:
        """Every item, repeated by its count, in sorted order."""
        for item in sorted_items(self):
            for _ in range(self[item]):
                yield item
