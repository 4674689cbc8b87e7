"""Checks of the arguments that are neither ports, ranges nor metadata, one rule each.

Each returns the value it accepts (normalised) or raises :class:`InvalidArgumentError`
(:class:`ArgumentTypeError` for a wrong type), so a bad call fails before anything is touched,
with the name of the argument and what is allowed.
"""

from __future__ import annotations

import math

from ._errors import ArgumentTypeError, InvalidArgumentError, shown

__all__ = ("group_id", "group_size", "owner_pid", "positive_int", "seconds")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def seconds(argument: str, value: object, *, positive: bool = False) -> float:
    """A finite number of seconds, >= 0 (> 0 with ``positive``)."""
    bound = "> 0" if positive else ">= 0"
    message = f"{argument} must be a finite number of seconds {bound}, got {shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArgumentTypeError(argument, value, message)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(argument, value, message)
    if value < 0 or (positive and value == 0):
        raise InvalidArgumentError(argument, value, message)
    return float(value)


def positive_int(argument: str, value: object, *, most: int | None = None) -> int:
    """A whole number from 1 (to ``most``)."""
    span = "of 1 or more" if most is None else f"from 1 to {most}"
    message = f"{argument} must be a whole number {span}, got {shown(value)}"
    if not _is_int(value):
        raise ArgumentTypeError(argument, value, message)
    assert isinstance(value, int)
    if value < 1 or (most is not None and value > most):
        raise InvalidArgumentError(argument, value, message)
    return value


def owner_pid(value: object) -> int:
    """A PID that may own an allocation."""
    return positive_int("owner_pid", value)


def group_size(value: object) -> int:
    """The number of ports of a group."""
    message = f"a group needs a whole number of ports from 1 to 65535, got {shown(value)}"
    if not _is_int(value):
        raise ArgumentTypeError("count", value, message)
    assert isinstance(value, int)
    if not 1 <= value <= 65535:
        raise InvalidArgumentError("count", value, message)
    return value


def group_id(value: object) -> str:
    """A group id as ``allocate_group`` gave it."""
    message = f"a group id is a non-empty string, as allocate_group gave it; got {shown(value)}"
    if not isinstance(value, str):
        raise ArgumentTypeError("group_id", value, message)
    if not value.strip():
        raise InvalidArgumentError("group_id", value, message)
    return value
