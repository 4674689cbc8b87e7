"""Bad arguments get typed aioports errors, never a plain ValueError, TypeError or OSError."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import free_block

import aioports
from aioports import (
    AioportsError,
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidRangeError,
    PortManager,
    PortRange,
)
from aioports._config import resolve_range
from aioports._sync import SyncPortManager

Call = Callable[[PortManager], Awaitable[Any]]

BAD_CALLS: list[tuple[str, Call, type[AioportsError]]] = [
    ("group of 0", lambda pm: pm.allocate_group(0), InvalidArgumentError),
    ("group of 70000", lambda pm: pm.allocate_group(70_000), InvalidArgumentError),
    ("group of '2'", lambda pm: pm.allocate_group("2"), ArgumentTypeError),  # type: ignore[arg-type]
    ("roles too few", lambda pm: pm.allocate_group(3, roles=["a", "b"]), InvalidArgumentError),
    ("roles repeated", lambda pm: pm.allocate_group(2, roles=["a", "a"]), InvalidArgumentError),
    ("roles not text", lambda pm: pm.allocate_group(1, roles=5), ArgumentTypeError),  # type: ignore[arg-type]
    ("owner_pid -1", lambda pm: pm.allocate(owner_pid=-1), InvalidArgumentError),
    ("owner_pid '5'", lambda pm: pm.allocate(owner_pid="5"), ArgumentTypeError),  # type: ignore[arg-type]
    ("release_group ''", lambda pm: pm.release_group(""), InvalidArgumentError),
    ("release_group 5", lambda pm: pm.release_group(5), ArgumentTypeError),  # type: ignore[arg-type]
    ("kill timeout -1", lambda pm: pm.kill_occupier(3000, timeout=-1), InvalidArgumentError),
    ("kill timeout nan", lambda pm: pm.kill_occupier(3000, timeout=math.nan), InvalidArgumentError),
    ("host localhost", lambda pm: pm.allocate_socket(host="localhost"), InvalidArgumentError),
    ("host 5", lambda pm: pm.allocate_socket(host=5), ArgumentTypeError),  # type: ignore[arg-type]
    # 192.0.2.1 is TEST-NET-1: never an address of this host, and bind() sends nothing.
    ("host not local", lambda pm: pm.allocate_socket(host="192.0.2.1"), InvalidArgumentError),
    ("scan concurrency 0", lambda pm: pm.scan((3000, 3001), concurrency=0), InvalidArgumentError),
]


@pytest.mark.parametrize(("name", "call", "kind"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
async def test_bad_arguments_raise_typed_errors(
    registry_path: Path, name: str, call: Call, kind: type[AioportsError]
) -> None:
    start = free_block(4)
    manager = PortManager(registry_path, range=(start, start + 3))
    with pytest.raises(kind) as caught:
        await call(manager)
    assert isinstance(caught.value, AioportsError)
    assert isinstance(caught.value, ValueError)  # `except ValueError` still catches it
    assert await manager.list_allocations() == []  # nothing was recorded


@pytest.mark.parametrize("value", [None, math.inf, math.nan, "5", -1])
def test_bad_lock_timeouts(registry_path: Path, value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="lock_timeout"):
        PortManager(registry_path, lock_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="lock_timeout"):
        SyncPortManager(registry_path, lock_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="poll_interval"):
        PortManager(registry_path, poll_interval=value)  # type: ignore[arg-type]


def test_roles_may_be_given_in_the_comma_form(registry_path: Path) -> None:
    start = free_block(2)
    group = SyncPortManager(registry_path).allocate_group(
        2, roles="web, api", range=(start, start + 1)
    )
    assert group.ports == {"web": start, "api": start + 1}


@pytest.mark.parametrize(
    "text",
    [
        "\u0663\u0660\u0660\u0660-\u0663\u0660\u0661\u0660",  # Arabic-Indic 3000-3010
        "\uff13\uff10\uff10\uff10-\uff13\uff10\uff11\uff10",  # fullwidth 3000-3010
        "1-" + "9" * 5000,  # int() refuses over 4,300 digits
        "0001-777777",
    ],
)
def test_ranges_take_ascii_digits_within_bounds_only(text: str) -> None:
    with pytest.raises(InvalidRangeError):
        PortRange.parse(text)


def test_leading_zeros_are_fine_in_a_range() -> None:
    assert PortRange.parse("0004000-04999") == PortRange(4000, 4999)


def test_unknown_config_keys_are_rejected() -> None:
    with pytest.raises(InvalidRangeError, match="unknown config keys"):
        resolve_range(None, {"port": {"range": "4000-4999"}}, {})
    with pytest.raises(InvalidRangeError, match="unknown config"):
        resolve_range(None, {"ports": {"rnge": "4000-4999"}}, {})


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        aioports.allocate_sync(owner_pid="x" * 100_000)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 200
