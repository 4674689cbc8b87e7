from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aioports import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    InvalidPortError,
    InvalidRangeError,
    PortRange,
    PortStatus,
    ProbeResult,
)
from aioports._models import validate_port

BAD_PORTS: list[Any] = [0, -1, 65536, 70000, "abc", "3000", 3.5, True, False, None, [3000]]


@pytest.mark.parametrize("value", BAD_PORTS)
def test_bad_ports_are_rejected_with_what_was_given(value: Any) -> None:
    with pytest.raises(InvalidPortError) as info:
        validate_port(value)
    assert repr(value) in str(info.value)
    assert "1 to 65535" in str(info.value)


@pytest.mark.parametrize("value", [1, 80, 3000, 65535])
def test_good_ports_pass(value: int) -> None:
    assert validate_port(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ((5000, 4000), "start is greater"),
        ((0, 10), "outside 1-65535"),
        ((10, 65536), "outside 1-65535"),
        ((-5, 10), "outside 1-65535"),
        (("a", 10), "integers"),
        ((True, 10), "integers"),
        ("4999-4000", "start is greater"),
        ("", "expected text"),
        ("abc", "expected text"),
        ("4000", "expected text"),
        ("4000-", "expected text"),
        ({"start": 1}, "exactly the keys"),
        ((1, 2, 3), "exactly two"),
        (3000, "expected a PortRange"),
    ],
)
def test_bad_ranges(value: Any, reason: str) -> None:
    with pytest.raises(InvalidRangeError) as info:
        PortRange.coerce(value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "value",
    [PortRange(4000, 4999), (4000, 4999), [4000, 4999], {"start": 4000, "end": 4999},
     "4000-4999", " 4000 - 4999 ", "4000:4999", "4000..4999"],
)  # fmt: skip
def test_range_forms(value: Any) -> None:
    assert PortRange.coerce(value) == PortRange(4000, 4999)


def test_range_behaves_like_a_collection() -> None:
    span = PortRange(10, 14)
    assert len(span) == 5
    assert list(span) == [10, 11, 12, 13, 14]
    assert 10 in span
    assert 14 in span
    assert 15 not in span
    assert "10" not in span
    assert str(span) == "10-14"
    assert span.to_dict() == {"start": 10, "end": 14}
    assert len(PortRange(7, 7)) == 1


@pytest.mark.parametrize(
    ("status", "in_use"),
    [(PortStatus.FREE, False), (PortStatus.IN_USE, True), (PortStatus.DENIED, True)],
)
def test_in_use_is_derived_from_the_status(status: PortStatus, in_use: bool) -> None:
    result = ProbeResult(3000, status)
    assert result.in_use is in_use
    assert result.to_dict()["in_use"] is in_use


def test_a_cleanup_result_is_always_cleaned() -> None:
    assert CleanupResult(released=0).cleaned is True
    with pytest.raises(TypeError):
        CleanupResult(cleaned=False, released=0)  # type: ignore[call-arg]


def test_records_are_frozen_and_serialise() -> None:
    when = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    allocation = Allocation(port=3000, allocated_at=when, metadata={"a": 1}, pid=5, hostname="h")
    with pytest.raises(AttributeError):
        allocation.port = 1  # type: ignore[misc]
    assert allocation.to_dict()["allocated_at"] == "2026-11-26T10:00:00+00:00"
    assert ProbeResult(3000, PortStatus.IN_USE).to_dict() == {
        "port": 3000, "in_use": True, "status": "in_use"
    }  # fmt: skip
    assert CleanupResult(released=2).to_dict() == {"cleaned": True, "released": 2}
    group = AllocationGroup("g1", (allocation,))
    assert group.to_dict()["ports"] == {"3000": 3000}
