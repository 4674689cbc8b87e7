"""``aioports dashboard``, and with ``--watch [--interval S]`` the dashboard redrawn in place.

Each frame is the dashboard as ``aioports dashboard`` shows it, under a header line, with the
rows whose state (or holder's PID) changed since the last frame marked ``*`` (and their state
in reverse video when colour is on); a row that is new since the last frame counts as changed,
one that went away is named in the header. A frame is written with one write: cursor home,
the lines (each clearing the rest of its line), clear to the end of the screen. Nothing
scrolls: a frame taller than the terminal is cut, with a line saying how much is not shown.
Lines wider than the terminal are cut at its edge (auto-wrap is off while watching), and the
cursor is hidden; both are restored however the watch ends.

Ctrl-C ends the watch with exit code 0: it is how a watch is meant to end, not a failure
(SIGTERM still stops it with 143, as every command). Without a terminal ``--watch`` is a usage
error (exit 2), as is ``--json``: both are for scripts, which run ``dashboard --json`` when
they need a snapshot.

This module is the handler the command table names, so it imports nothing at the top that
``--help`` would pay for; the dashboard's rows and rendering stay in ``_dashboard.py`` and
``_results_live.py``.
"""

from __future__ import annotations

import sys
import time

from . import _commands as commands
from ._errors import UsageError
from ._results import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

    from ._context import Context
    from ._dashboard import DashboardRow
    from ._results import Style

    #: what a row is compared by between frames: its state and its holder's PID
    RowState = tuple[str, int | None]

__all__ = ("DEFAULT_INTERVAL", "Watched", "dashboard", "frame", "interval_arg", "mark_changes")

DEFAULT_INTERVAL = 1.0
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0

HOME, CLEAR_LINE, CLEAR_BELOW = "\033[H", "\033[K", "\033[J"
# While watching: no cursor, and no wrapping (a line wider than the terminal is cut at its
# edge instead of pushing the frame down); both restored at the end.
START = "\033[?25l\033[?7l"
END = "\033[?7h\033[?25h"


class Watched(Result):
    """The end of a watch (Ctrl-C): nothing more to show, exit code 0."""

    __slots__ = ()
    status = "stopped"

    @property
    def message(self) -> str:
        return "Stopped watching."

    def human(self, style: Style) -> str:
        return ""  # the last frame stays on the screen as it was


def interval_arg(text: str | None) -> float:
    """Seconds between frames: a decimal number from 0.1 to 3600 (default 1).

    :raises UsageError: for anything else.
    """
    if text is None:
        return DEFAULT_INTERVAL
    whole, _, fraction = text.strip().partition(".")
    digits = whole + fraction
    if not (digits.isascii() and digits.isdigit() and whole):
        raise UsageError(f"--interval takes seconds, such as 1 or 0.5; got {text!r}")
    seconds = float(text)
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise UsageError(
            f"--interval must be from {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds; got {text!r}"
        )
    return seconds


def dashboard(ctx: Context) -> Result:
    """The ``dashboard`` command: one snapshot, or with ``--watch`` frames until Ctrl-C."""
    interval = interval_arg(ctx.text("interval"))
    if not ctx.flag("watch"):
        return commands.dashboard(ctx)
    if ctx.parsed.json:
        raise UsageError(
            "--watch redraws a terminal for people; scripts run 'aioports dashboard --json' "
            "whenever they need the rows"
        )
    out = sys.stdout
    if not out.isatty():
        raise UsageError(
            "--watch needs a terminal on standard output (it redraws the screen); without "
            "one, run 'aioports dashboard' when you need it"
        )
    return _watch(ctx, out, interval)


def _watch(ctx: Context, out: TextIO, interval: float) -> Result:
    from ._main import _style

    style = _style(out)
    previous: dict[tuple[int, str], RowState] | None = None
    _write(out, START)
    try:
        while True:
            snapshot = commands.dashboard(ctx)
            rows = getattr(snapshot, "record", ())
            marked, gone, previous = mark_changes(rows, previous)
            _write(out, frame(snapshot, marked, gone, style, interval, _size(out)))
            time.sleep(interval)
    except KeyboardInterrupt:
        return Watched()
    finally:
        _write(out, END)


def mark_changes(
    rows: Sequence[DashboardRow], previous: dict[tuple[int, str], RowState] | None
) -> tuple[list[DashboardRow], list[int], dict[tuple[int, str], RowState]]:
    """The rows with ``changed`` set where their state differs from ``previous`` (the last
    frame's; None for the first frame, where nothing is marked), the ports no entry holds any
    more, and this frame's states for the next one.

    An entry is known by its port and allocation time: a port released and allocated again
    between two frames is a new entry, hence changed.
    """
    from .._records import replace

    now: dict[tuple[int, str], RowState] = {}
    marked = []
    for row in rows:
        key = (row.allocation.port, row.allocation.allocated_at.isoformat())
        holder = None if row.occupier is None else row.occupier.pid
        now[key] = (row.state.value, holder)
        changed = previous is not None and previous.get(key) != now[key]
        marked.append(replace(row, changed=True) if changed else row)
    ports = {port for port, _ in now}
    gone = [] if previous is None else sorted({port for port, _ in previous} - ports)
    return marked, gone, now


def frame(
    snapshot: Result,
    rows: Sequence[DashboardRow],
    gone: Sequence[int],
    style: Style,
    interval: float,
    size: tuple[int, int],
) -> str:
    """One frame: cursor home, the header and the dashboard, each line clearing what an
    earlier frame left on it, cut to the terminal's ``(columns, lines)``, then clear below."""
    from ._results_live import Dashboard

    header = f"aioports dashboard: every {interval:g} s, Ctrl-C to stop - {time.strftime('%X')}"
    if any(row.changed for row in rows):
        header += " - * changed"
    if gone:
        shown = ", ".join(map(str, gone[:10])) + (", ..." if len(gone) > 10 else "")
        header += f" - gone: {shown}"
    body = Dashboard(rows).human(style) if rows else snapshot.human(style)
    lines = [header, *body.splitlines()]
    height = max(2, size[1] - 1)  # the last line stays free: writing there could scroll
    if len(lines) > height:
        hidden = len(lines) - height + 1
        lines = [*lines[: height - 1], f"... {hidden} more lines: enlarge the terminal"]
    return HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW


def _size(out: TextIO) -> tuple[int, int]:
    import os

    try:
        size = os.get_terminal_size(out.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    # A terminal that does not know its size (a bare pty) says 0.
    return size.columns or 80, size.lines or 24


def _write(out: TextIO, text: str) -> None:
    """``text`` in one write, so that a terminal never shows half a frame."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(text)
        out.flush()
        return
    out.flush()
    buffer.write(text.encode(out.encoding or "utf-8", "backslashreplace"))
    buffer.flush()
