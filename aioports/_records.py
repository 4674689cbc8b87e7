"""Frozen, slotted records without :mod:`dataclasses`, and one JSON shape per record.

Why not dataclasses: importing them (``inspect`` comes along) and building a dozen frozen
slotted classes cost about 25 ms, a third of a command-line call that should take 20. The
:func:`record` decorator below does the part aioports uses, with one ``exec`` per class: a
keyword-capable ``__init__`` (defaults, ``field(default_factory=...)``, ``kw_only``, a
``__post_init__`` hook), ``__repr__``, ``__eq__``, ``__hash__``, immutability, pickling and
:func:`fields` / :func:`replace`. Type checkers see it as a dataclass (PEP 681).

A record's :meth:`Record.to_dict` is its fields in order, each converted by :func:`to_json`:
a nested record becomes its own dict, a datetime its ISO 8601 text, an enum its value, a
tuple or list a list, a mapping a dict. A record whose JSON deliberately differs says so in
one place: ``_json_keys`` lists its keys when they include derived properties, a field
declared with ``field(json=False)`` is left out, and a record may still override
``to_dict`` (``ScanResult`` nests its holders into its ports).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar, dataclass_transform

__all__ = ("MISSING", "Field", "FrozenError", "Record", "field", "fields", "record", "replace")

T = TypeVar("T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: no default
MISSING: Any = _Missing()


class FrozenError(AttributeError):
    """Raised when code assigns to a field of a record: records never change."""


class Field:
    """One field of a record, as :func:`fields` lists them.

    :ivar name: its name
    :ivar default: its default, or :data:`MISSING`
    :ivar default_factory: what makes its default, or :data:`MISSING`
    :ivar kw_only: whether it is passed by keyword only
    :ivar json: whether ``to_dict()`` includes it
    """

    __slots__ = ("default", "default_factory", "json", "kw_only", "name")

    def __init__(
        self, default: Any, default_factory: Any, kw_only: bool, json: bool, name: str = ""
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.kw_only = kw_only
        self.json = json
        self.name = name

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is MISSING


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    kw_only: bool = False,
    json: bool = True,
) -> Any:
    """Declare a field with a default, a default factory, keyword-only, or not in the JSON."""
    return Field(default, default_factory, kw_only, json)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenError(f"{type(self).__name__}.{name} cannot be changed: records are frozen")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenError(f"{type(self).__name__}.{name} cannot be deleted: records are frozen")


def _rebuild(cls: type[T], values: tuple[Any, ...]) -> T:
    """Unpickle a record: its fields, as they were (no ``__post_init__`` check again)."""
    obj = object.__new__(cls)
    for spec, value in zip(cls.__record_fields__, values, strict=True):  # type: ignore[attr-defined]
        object.__setattr__(obj, spec.name, value)
    return obj


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, spec.name) for spec in self.__record_fields__)


def _repr(self: Any) -> str:
    shown = ", ".join(
        f"{spec.name}={getattr(self, spec.name)!r}" for spec in self.__record_fields__
    )
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        unknown: bool = NotImplemented
        return unknown
    equal: bool = _values(self) == _values(other)
    return equal


def _hash(self: Any) -> int:
    return hash(_values(self))


def _reduce(self: Any) -> tuple[Any, ...]:
    return (_rebuild, (type(self), _values(self)))


def _init_source(specs: list[Field], post_init: bool) -> str:
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for spec in specs:
        name = spec.name
        if spec.default_factory is not MISSING:
            parameter = f"{name}=_MISSING"
            body.append(f"  _set(self, {name!r}, _f_{name}() if {name} is _MISSING else {name})")
        else:
            parameter = name if spec.default is MISSING else f"{name}=_d_{name}"
            body.append(f"  _set(self, {name!r}, {name})")
        (keyword if spec.kw_only else positional).append(parameter)
    parameters = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    if post_init:
        body.append("  self.__post_init__()")
    return f"def __init__({parameters}):\n" + "\n".join(body or ["  pass"]) + "\n"


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, slotted record of its annotated fields (in order; ``ClassVar``
    annotations are class attributes, not fields)."""
    inherited: list[Field] = list(getattr(cls, "__record_fields__", ()))
    own: list[Field] = []
    namespace = dict(cls.__dict__)
    # Not inspect.get_annotations: importing inspect is what this module avoids.
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if "ClassVar" in str(annotation):
            continue
        declared = namespace.pop(name, MISSING)
        spec = declared if isinstance(declared, Field) else Field(declared, MISSING, False, True)
        spec.name = name
        own.append(spec)
    specs = inherited + own
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = tuple(spec.name for spec in own)
    namespace["__record_fields__"] = tuple(specs)
    namespace["__match_args__"] = tuple(spec.name for spec in specs if not spec.kw_only)
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": MISSING}
    for spec in specs:
        scope[f"_d_{spec.name}"] = spec.default
        scope[f"_f_{spec.name}"] = spec.default_factory
    exec(_init_source(specs, "__post_init__" in namespace), scope)
    namespace["__init__"] = scope["__init__"]
    for name, method in (
        ("__repr__", _repr),
        ("__eq__", _eq),
        ("__hash__", _hash),
        ("__setattr__", _frozen_setattr),
        ("__delattr__", _frozen_delattr),
        ("__reduce__", _reduce),
    ):
        namespace.setdefault(name, method)
    made: type[T] = type(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    made.__module__ = cls.__module__
    return made


def fields(item: object) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    specs: tuple[Field, ...] = getattr(item, "__record_fields__")  # noqa: B009 - typed read
    return specs


def replace(item: T, **changes: Any) -> T:
    """A copy of the record ``item`` with some fields changed (checked as on construction)."""
    values = {spec.name: getattr(item, spec.name) for spec in fields(item)}
    return type(item)(**(values | changes))


_SCALARS = frozenset((str, int, float, bool))


class Record:
    """Base of the records aioports returns: ``to_dict()`` from their fields."""

    __slots__ = ()

    #: the keys of ``to_dict()`` in order, where they are not just the fields (None)
    _json_keys: ClassVar[tuple[str, ...] | None] = None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-native values, in field order."""
        return {name: to_json(getattr(self, name)) for name in _keys(type(self))}


def _keys(cls: type[Record]) -> tuple[str, ...]:
    if cls._json_keys is not None:
        return cls._json_keys
    return tuple(spec.name for spec in fields(cls) if spec.json)


def to_json(value: Any) -> Any:
    """``value`` as what orjson writes for a record's JSON."""
    if value is None or type(value) in _SCALARS:
        return value
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    return value
