"""Port hygiene: the browser-unsafe list, the kernel's reserved ports and ephemeral range
(parsed from given text, from files in the test's folder, and from the real ``/proc`` files
where this host has them), and the warnings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aioports import PortRange
from aioports._config import DEFAULT_RANGE
from aioports._hygiene import (
    BROWSER_UNSAFE_PORTS,
    EPHEMERAL_RANGE_PATH,
    RESERVED_PORTS_PATH,
    ephemeral_range,
    excluded_ports,
    parse_ephemeral_range,
    parse_reserved_ports,
    port_warnings,
    range_warnings,
    reserved_ports,
)

# Every port of the fetch standard's table (https://fetch.spec.whatwg.org/#port-blocking).
FETCH_BAD_PORTS = {
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
    101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
    179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563,
    587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
    5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
}  # fmt: skip


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_browser_unsafe_list_is_the_fetch_standards() -> None:
    assert BROWSER_UNSAFE_PORTS == FETCH_BAD_PORTS
    assert 3659 in DEFAULT_RANGE  # why it matters: the default range holds one


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set()),
        ("\n", set()),
        ("8080\n", {8080}),
        ("8080,9000-9003\n", {8080, 9000, 9001, 9002, 9003}),
        ("1-3,2-4", {1, 2, 3, 4}),
        ("65535", {65535}),
        # Items the kernel never writes are skipped, never fatal.
        ("abc,80,9-7,0,70000,+5,٣٠٠٠,", {80}),
    ],
)
def test_parse_reserved_ports(text: str, expected: set[int]) -> None:
    assert parse_reserved_ports(text) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32768\t60999\n", PortRange(32768, 60999)),
        ("1024 65535", PortRange(1024, 65535)),
        ("", None),
        ("32768", None),
        ("60999\t32768\n", None),
        ("a\tb", None),
        ("0\t100", None),
        ("1 2 3", None),
    ],
)
def test_parse_ephemeral_range(text: str, expected: PortRange | None) -> None:
    assert parse_ephemeral_range(text) == expected


def test_missing_files_mean_nothing_known(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert reserved_ports(missing) == frozenset()
    assert ephemeral_range(missing) is None
    assert excluded_ports(missing) == BROWSER_UNSAFE_PORTS
    assert range_warnings(PortRange(1, 65535), missing) == []
    assert port_warnings(40000, reserved_path=missing, ephemeral_path=missing) == []


def test_unusable_files_mean_nothing_known(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe8080")
    huge = _file(tmp_path, "huge", "1," * 40_000)
    for path in (folder, binary, huge):
        assert reserved_ports(path) == frozenset()
        assert ephemeral_range(path) is None


def test_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert reserved_ports(fifo) == frozenset()
    assert ephemeral_range(fifo) is None


def test_files_are_read_again_on_each_call(tmp_path: Path) -> None:
    path = _file(tmp_path, "reserved", "8080\n")
    first = excluded_ports(path)
    assert 8080 in first
    assert excluded_ports(path) is first  # the same content: the cached set
    path.write_text("9000-9001\n")
    second = excluded_ports(path)
    assert 8080 not in second
    assert {9000, 9001, 3659} <= second


def test_a_long_reserved_list_is_read_whole(tmp_path: Path) -> None:
    ports = range(20_000, 22_000)  # about 12 KB of text: more than one page
    path = _file(tmp_path, "reserved", ",".join(map(str, ports)) + "\n")
    assert reserved_ports(path) == frozenset(ports)


def test_range_warning_when_the_range_overlaps_the_ephemeral_range(tmp_path: Path) -> None:
    path = _file(tmp_path, "range", "32768\t60999\n")
    assert range_warnings(PortRange(3000, 3999), path) == []
    assert range_warnings(PortRange(61000, 65535), path) == []
    (message,) = range_warnings(PortRange(30000, 32768), path)
    assert "shares 1 port with" in message
    assert "32768-60999" in message
    (message,) = range_warnings(PortRange(60000, 65535), path)
    assert "shares 1000 ports" in message
    assert "outgoing connections" in message


def test_port_warnings_name_each_problem(tmp_path: Path) -> None:
    reserved = _file(tmp_path, "reserved", "3659,40000\n")
    ephemeral = _file(tmp_path, "range", "32768\t60999\n")

    def warnings(port: int) -> list[str]:
        return port_warnings(port, reserved_path=reserved, ephemeral_path=ephemeral)

    assert warnings(3000) == []
    (unsafe, kept) = warnings(3659)
    assert "3659 (apple-sasl)" in unsafe
    assert "browsers refuse" in unsafe
    assert "reserved" in kept
    assert "ephemeral range 32768-60999" in warnings(50000)[0]
    assert len(warnings(40000)) == 2  # reserved and ephemeral
    (only,) = warnings(77)  # a bad port without a service name
    assert only.startswith("port 77 is on")


@pytest.mark.skipif(not RESERVED_PORTS_PATH.exists(), reason="no ip_local_reserved_ports here")
def test_the_real_reserved_ports_file() -> None:
    expected = parse_reserved_ports(RESERVED_PORTS_PATH.read_text())
    assert reserved_ports() == expected
    assert excluded_ports() == BROWSER_UNSAFE_PORTS | expected


@pytest.mark.skipif(not EPHEMERAL_RANGE_PATH.exists(), reason="no ip_local_port_range here")
def test_the_real_ephemeral_range_file() -> None:
    span = ephemeral_range()
    assert span is not None
    low, high = map(int, EPHEMERAL_RANGE_PATH.read_text().split())
    assert span == PortRange(low, high)
    assert range_warnings(span) != []
    assert port_warnings(span.start)[-1].startswith(f"port {span.start} is in the kernel's")
