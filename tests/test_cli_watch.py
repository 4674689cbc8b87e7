"""``aioports dashboard --watch``: on a real terminal (a pty, the real executable) frames are
redrawn in place and changed rows marked, and Ctrl-C ends it with exit 0; without a terminal,
with ``--json`` or with a bad ``--interval`` it is a usage error."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import forked
import pytest
from cli_helpers import CliRunner, Executable, Stream, validate
from helpers import free_block
from processes import needs_sigint, reap

from aioports import Allocation
from aioports.cli._dashboard import DashboardRow, LiveState
from aioports.cli._results import Style
from aioports.cli._results_live import Dashboard
from aioports.cli._watch import CLEAR_BELOW, END, HOME, START, frame, mark_changes

BLOCK = 8
ON_TERMINAL: tuple[Stream, ...] = ("stdout",)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    start = free_block(BLOCK)
    return CliRunner(monkeypatch, tmp_path / "registry.json", range=f"{start}-{start + BLOCK - 1}")


# -- without a terminal -------------------------------------------------------------------


def test_watch_needs_a_terminal(cli: CliRunner) -> None:
    done = cli("dashboard", "--watch")
    assert done.exit_code == 2
    assert "--watch needs a terminal" in done.stderr
    assert done.stdout == ""
    document = cli("dashboard", "--watch", "--json").json()
    validate("error", document)
    assert document["error"]["type"] == "UsageError"
    # Under --json even on a terminal: the rows are for scripts as dashboard --json gives them.
    on_terminal = cli("dashboard", "--watch", "--json", terminal=ON_TERMINAL)
    assert on_terminal.exit_code == 2
    assert "dashboard --json" in on_terminal.json()["error"]["message"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--interval", "1"], "--interval with --dashboard needs --watch"),
        (["--watch", "--interval", "0"], "from 0.1 to 3600 seconds"),
        (["--watch", "--interval", "0.05"], "from 0.1 to 3600 seconds"),
        (["--watch", "--interval", "4000"], "from 0.1 to 3600 seconds"),
        (["--watch", "--interval", "-1"], "finite number of seconds"),
        (["--watch", "--interval", "nan"], "finite number of seconds"),
        (["--watch", "--interval", "1e3"], "takes seconds"),
        (["--watch", "--interval", ".5"], "takes seconds"),
        (["--watch", "--interval", "٣"], "takes seconds"),
        (["--watch", "--interval"], "expected one argument"),
    ],
)
def test_bad_intervals_are_usage_errors(cli: CliRunner, args: list[str], words: str) -> None:
    done = cli("dashboard", *args, terminal=ON_TERMINAL)
    assert done.exit_code == 2, done.stderr
    assert words in done.stderr
    assert done.stdout == ""


def test_only_the_dashboard_takes_watch(cli: CliRunner) -> None:
    done = cli("list", "--watch")
    assert done.exit_code == 2
    assert "--watch only applies to --dashboard" in done.stderr


# -- frames -------------------------------------------------------------------------------


def _row(port: int, state: LiveState, when: int = 0) -> DashboardRow:
    allocation = Allocation(port=port, allocated_at=datetime(2026, 1, 1, 0, 0, when, tzinfo=UTC))
    return DashboardRow("shop", "main", "web", allocation, state)


def test_mark_changes_between_frames() -> None:
    first = [_row(4000, LiveState.FREE), _row(4001, LiveState.FREE)]
    marked, gone, states = mark_changes(first, None)
    assert [row.changed for row in marked] == [False, False]  # the first frame: nothing
    assert gone == []
    second = [_row(4000, LiveState.ACTIVE), _row(4001, LiveState.FREE), _row(4002, LiveState.FREE)]
    marked, gone, states = mark_changes(second, states)
    assert [row.changed for row in marked] == [True, False, True]  # changed, same, new
    third = [_row(4000, LiveState.ACTIVE), _row(4001, LiveState.FREE, when=9)]
    marked, gone, _ = mark_changes(third, states)
    assert [row.changed for row in marked] == [False, True]  # 4001 released and taken again
    assert gone == [4002]


def test_a_frame_redraws_in_place_and_marks_changed_rows() -> None:
    rows = [_row(4000, LiveState.ACTIVE), _row(4001, LiveState.FREE)]
    marked, _, _ = mark_changes(rows, {})  # everything new: changed
    text = frame(Dashboard(marked), marked[:1] + rows[1:], [4005], Style(), 1.0, (80, 24))
    assert text.startswith(HOME)
    assert text.endswith(CLEAR_BELOW)
    lines = text[len(HOME) : -len(CLEAR_BELOW)].split("\n")
    assert lines[-1] == ""
    assert all(line.endswith("\033[K") for line in lines[:-1])
    assert "every 1 s, Ctrl-C to stop" in lines[0]
    assert "* changed - gone: 4005" in lines[0]
    assert any(re.match(r"   \* web\s+4000\s+\[ACTIVE\]", line) for line in lines)
    assert any(re.match(r"     web\s+4001\s+\[FREE\]", line) for line in lines)
    # Colour: the changed state in reverse video as well.
    coloured = frame(Dashboard(marked), marked, [], Style(colour=True), 0.5, (80, 24))
    assert "\033[32;7m[ACTIVE]" in coloured
    assert "every 0.5 s" in coloured


def test_a_frame_never_outgrows_the_terminal() -> None:
    rows = [_row(4000 + i, LiveState.FREE) for i in range(40)]
    text = frame(Dashboard(rows), rows, [], Style(), 1.0, (80, 10))
    lines = text[len(HOME) : -len(CLEAR_BELOW)].split("\n")[:-1]
    assert len(lines) == 9  # the last line of the terminal stays free: nothing scrolls
    assert lines[-1].startswith("... ")
    assert "more lines: enlarge the terminal" in lines[-1]


def test_the_plain_dashboard_is_unchanged(cli: CliRunner) -> None:
    port = cli.json("allocated", "--allocate", "--app", "shop", "--service", "web")["port"]
    lines = cli("dashboard").stdout.splitlines()
    assert any(re.fullmatch(rf"     web\s+{port}\s+\[FREE\]", line) for line in lines)


# -- on a real terminal -------------------------------------------------------------------


@contextlib.contextmanager
def _watching(cli: CliRunner, *args: str) -> Iterator[tuple[forked.Child, int]]:
    """``aioports dashboard --watch ARGS`` with its stdout on a 120x40 pty."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    exe = Executable(cli.registry, cli.range)
    proc = exe.popen("dashboard", "--watch", *args, stdout=secondary, stderr=subprocess.PIPE)
    os.close(secondary)
    try:
        yield proc, primary
    finally:
        reap(proc)
        os.close(primary)


class _Screen:
    """What the terminal received so far, read as it arrives."""

    def __init__(self, fd: int) -> None:
        self.fd, self.data = fd, b""

    def until(self, seen: Callable[[str], bool], timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while not seen(self.text):
            left = deadline - time.monotonic()
            assert left > 0, f"not seen in time; the terminal shows {self.text[-2000:]!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                self.data += chunk
        return self.text

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    @property
    def frames(self) -> list[str]:
        """The complete frames so far (each from cursor home to clear-below)."""
        return [f for f in self.text.split(HOME)[1:] if CLEAR_BELOW in f]


@needs_sigint
def test_watch_redraws_marks_changes_and_stops_on_ctrl_c(cli: CliRunner) -> None:
    port = cli.json("allocated", "--allocate", "--app", "shop", "--service", "web")["port"]
    with _watching(cli, "--interval", "0.2") as (proc, primary):
        screen = _Screen(primary)
        screen.until(lambda text: text.count(HOME) >= 2)
        assert screen.text.startswith(START)
        assert re.search(rf"     web\s+{port}\s+\S*\[FREE\]", screen.frames[-1])
        with socket.socket() as server:  # a server starts on the port: the state changes
            server.bind(("127.0.0.1", port))
            server.listen()
            screen.until(lambda _: bool(re.search(rf"\* web\s+{port}\s+\S*\[ACTIVE\]",
                                                  "".join(screen.frames))))  # fmt: skip
            marked_at = len(screen.frames)
            # The next frame, with nothing changed, marks nothing any more.
            screen.until(lambda _: len(screen.frames) > marked_at + 1)
            assert re.search(rf"     web\s+{port}\s+\S*\[ACTIVE\]", screen.frames[-1])
        cli("release", str(port))
        screen.until(lambda _: f"gone: {port}" in "".join(screen.frames))
        frames = len(screen.frames)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=20) == 0
        text = screen.until(lambda text: text.endswith(END), timeout=5)
        assert proc.stderr is not None
        assert proc.stderr.read() == ""  # no traceback, no "interrupted"
    # Every frame is drawn over the last one: no full clear, nothing that scrolls the screen.
    assert len(screen.frames) >= frames >= 4
    assert "\033[2J" not in text
    for drawn in screen.frames:
        assert drawn.count("\n") < 39
    assert "Traceback" not in text


@needs_sigint
def test_watch_on_an_empty_registry(cli: CliRunner) -> None:
    with _watching(cli, "--interval", "0.1") as (proc, primary):
        screen = _Screen(primary)
        screen.until(lambda _: len(screen.frames) >= 2)
        assert "No ports are allocated." in screen.frames[-1]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_sigterm_still_stops_a_watch_with_143(cli: CliRunner) -> None:
    with _watching(cli) as (proc, primary):
        screen = _Screen(primary)
        screen.until(lambda _: len(screen.frames) >= 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 143
        screen.until(lambda text: text.endswith(END), timeout=5)  # the terminal is restored
