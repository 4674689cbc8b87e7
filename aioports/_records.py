"""One JSON shape per record, derived from its dataclass fields.

A record's :meth:`Record.to_dict` is its fields in order, each converted by :func:`to_json`:
a nested record becomes its own dict, a datetime its ISO 8601 text, an enum its value, a
tuple or list a list, a mapping a dict. A record whose JSON deliberately differs says so in
one place: ``_json_keys`` lists its keys when they include derived properties, a field
declared with :data:`NOT_IN_JSON` metadata is left out, and a record may still override
``to_dict`` (``ScanResult`` nests its holders into its ports).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, cast

__all__ = ("NOT_IN_JSON", "Record", "to_json")

#: ``field(metadata=NOT_IN_JSON)``: a field that is not part of the record's JSON
NOT_IN_JSON: Mapping[str, bool] = {"json": False}

_SCALARS = frozenset((str, int, float, bool))


class Record:
    """Base of the frozen dataclass records: ``to_dict()`` from their fields."""

    __slots__ = ()

    #: the keys of ``to_dict()`` in order, where they are not just the fields (None)
    _json_keys: ClassVar[tuple[str, ...] | None] = None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-native values, in field order."""
        return {name: to_json(getattr(self, name)) for name in _keys(type(self))}


def _keys(cls: type[Record]) -> tuple[str, ...]:
    if cls._json_keys is not None:
        return cls._json_keys
    fields = dataclasses.fields(cast(Any, cls))  # every Record is a dataclass
    return tuple(f.name for f in fields if f.metadata.get("json", True))


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
