"""One handler per command: read its arguments, make one call through the sync door, and
return one result object.

Each handler imports what it needs inside itself, so a command pays only for its own
imports: nothing here loads asyncio, anyio, aiofiles or psutil unless the command waits on
or looks up processes (``reserve``, ``kill-port``, ``scan``; ``detect`` and a dashboard
with in-use ports use psutil).
"""

from __future__ import annotations

import os
import time

from ._errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO, TypeVar

    from .. import Allocation, PortManager, PortRange, ScanResult
    from .._sync import SyncPortManager
    from ._context import Context
    from ._results import Result

    T = TypeVar("T")

__all__ = (
    "allocate",
    "allocate_group",
    "each_port",
    "cleanup",
    "allocations_of",
    "count_arg",
    "dashboard",
    "detect",
    "list_allocations",
    "port_arg",
    "probe",
    "release",
    "release_group",
    "repair",
    "scan",
    "set_range",
    "show_progress",
    "show_range",
    "version",
)


# -- arguments ----------------------------------------------------------------------------


def _whole(text: str) -> int | None:
    """``text`` as a whole number in ASCII digits (surrounding spaces allowed), else None:
    int() would also take "+80", "3_000" and other scripts' digits."""
    digits = text.strip()
    return int(digits) if digits.isascii() and digits.isdigit() else None


def port_arg(text: str) -> int:
    """A port from the command line.

    :raises InvalidPortError: unless ``text`` is a whole number from 1 to 65535.
    """
    from .. import InvalidPortError

    value = _whole(text)
    if value is None:
        raise InvalidPortError(text)
    if not 1 <= value <= 65535:
        raise InvalidPortError(value)
    return value


def count_arg(text: str, what: str) -> int:
    """A positive whole number from the command line.

    :raises UsageError: otherwise.
    """
    value = _whole(text)
    if value is None:
        raise UsageError(f"{what} must be a positive whole number, got {text!r}")
    if value < 1:
        raise UsageError(f"{what} must be a positive whole number, got {value}")
    return value


def _range_arg(text: str) -> PortRange:
    from .._models import PortRange

    return PortRange.parse(text)


def _metadata(ctx: Context, names: tuple[str, ...]) -> dict[str, str]:
    fields = {name: ctx.text(name) for name in names}
    return {name: value for name, value in fields.items() if value is not None}


def _picked(ctx: Context) -> dict[str, str | None]:
    """The ``--app``/``--worktree``/``--service`` filter as keyword arguments."""
    from ._named import picked

    chosen = picked(ctx)
    return {"app": chosen.app, "worktree": chosen.worktree, "service": chosen.service}


def _owner_pid(ctx: Context) -> int | None:
    text = ctx.text("owner_pid")
    return None if text is None else count_arg(text, "--owner-pid")


def _allocation_range(ctx: Context) -> PortRange | None:
    """``--range`` when given; None lets the door read the default range."""
    text = ctx.text("range")
    return None if text is None else _range_arg(text)


def _owned(owner: int | None, call: Callable[[], T]) -> T:
    """``call()``, with "the --owner-pid process does not exist" as a usage error (exit 2)."""
    from .. import ProcessGoneError

    try:
        return call()
    except ProcessGoneError as exc:
        if owner is None:
            raise
        raise UsageError(f"--owner-pid {owner}: no such process") from exc


def each_port(ctx: Context, act: Callable[[int], Result]) -> Result:
    """``act`` on every port given (``release 3000 3001``), each reported: one port's own
    result, or for several a :class:`~aioports.cli._results_many.Several`. Every port is
    checked before anything is done, so a bad one changes nothing; a port whose action
    fails gets its error as its result, and the others still go ahead."""
    ports = list(dict.fromkeys(port_arg(text) for text in ctx.values("port")))
    if len(ports) == 1:
        return act(ports[0])
    from .. import AioportsError
    from ._failure import Failure
    from ._results_many import Several

    results: list[Result] = []
    for port in ports:
        try:
            results.append(act(port))
        except AioportsError as exc:
            results.append(Failure(exc, parsed=ctx.parsed))
    return Several(ports, results)


def allocations_of(door: SyncPortManager, ports: list[int] | None = None) -> dict[int, Allocation]:
    """The registry entries of ``ports`` (all with None), so that ``probe`` and ``detect``
    can say a port is promised to another server; empty when there is no registry yet or it
    cannot be read (those commands answer about the port even then)."""
    from .. import AioportsError

    if not os.path.exists(door.registry_path):  # no registry yet: create nothing to say so
        return {}
    try:
        found = door.list_allocations()
    except (AioportsError, OSError):  # unreadable, locked too long, not ours to read
        return {}
    return {a.port: a for a in found if ports is None or a.port in ports}


def _waiting_door(ctx: Context) -> SyncPortManager:
    """The door for commands that run on an event loop (``run_async``); they use no default
    range, and the manager resolves one only when asked."""
    return ctx.door()


# -- the registry -------------------------------------------------------------------------


def allocate(ctx: Context) -> Result:
    from .._hygiene import range_warnings
    from ._results import Allocated, warned

    metadata = _metadata(ctx, ("app", "worktree", "service"))
    owner = _owner_pid(ctx)
    span = _allocation_range(ctx)
    door = ctx.door()
    port = _owned(owner, lambda: door.allocate(span, metadata, owner_pid=owner))
    return warned(Allocated(port, metadata, owner), range_warnings(span or door.get_range()))


def allocate_group(ctx: Context) -> Result:
    from .._hygiene import range_warnings
    from ._results import GroupAllocated, warned

    count = count_arg(ctx.arg("count"), "--allocate-group")
    text = ctx.text("roles")
    roles = None if text is None else [role.strip() for role in text.split(",")]
    if roles is not None and not all(roles):  # the comma syntax; the library checks the rest
        raise UsageError("--roles needs one non-empty name per port, separated by commas")
    metadata = _metadata(ctx, ("app", "worktree"))
    owner = _owner_pid(ctx)
    span = _allocation_range(ctx)
    door = ctx.door()
    group = _owned(
        owner,
        lambda: door.allocate_group(
            count, roles=roles, range=span, metadata=metadata, owner_pid=owner
        ),
    )
    return warned(GroupAllocated(group), range_warnings(span or door.get_range()))


def release(ctx: Context) -> Result:
    from ._named import picked
    from ._results import Released, ReleasedPicked

    door = ctx.door()
    chosen = picked(ctx)
    if ctx.parsed.many:
        if chosen:
            raise UsageError("release takes PORT... or --app/--worktree/--service, not both")
        return each_port(ctx, lambda port: Released(port, door.release(port)))
    if not chosen:
        raise UsageError(
            "release needs PORT... or --app/--worktree/--service: aioports release PORT..."
        )
    return ReleasedPicked(
        chosen, door.release_matching(chosen.app, chosen.worktree, chosen.service)
    )


def release_group(ctx: Context) -> Result:
    from ._results import GroupReleased

    group_id = ctx.arg("group_id").strip()
    if not group_id:
        raise UsageError("--release-group needs a group id (as --allocate-group printed it)")
    return GroupReleased(group_id, ctx.door().release_group(group_id))


def list_allocations(ctx: Context) -> Result:
    from ._results import Listing

    return Listing(ctx.door().list_allocations(**_picked(ctx)))


def probe(ctx: Context) -> Result:
    from ._results import Probed

    door = ctx.door()
    ports = [port_arg(text) for text in ctx.values("port")]
    entries = allocations_of(door, ports)
    return each_port(ctx, lambda port: Probed(door.probe(port), entries.get(port)))


def cleanup(ctx: Context) -> Result:
    from .. import CleanupResult
    from ._named import picked
    from ._results import Cleaned

    door = ctx.door()
    chosen = picked(ctx)
    if not chosen:
        return Cleaned(door.cleanup())
    released = door.release_matching(chosen.app, chosen.worktree, chosen.service)
    return Cleaned(CleanupResult(released=len(released)))


def repair(ctx: Context) -> Result:
    from ._results import Repaired

    door = ctx.door()
    return Repaired(door.registry_path, door.repair(force=ctx.flag("force")))


def show_range(ctx: Context) -> Result:
    from .._settings import settings_path
    from ._results import RangeShown

    door = ctx.door()
    setting = door.range_setting()
    source = "config" if setting.source == "saved" else setting.source
    path = setting.settings_path or settings_path()
    return RangeShown(setting.range, source, path, changed=False)


def set_range(ctx: Context) -> Result:
    from .._config import RANGE_ENV
    from .._settings import save_range, settings_path
    from ._results import RangeShown

    span = _range_arg(ctx.arg("range"))
    path = settings_path()
    save_range(path, span)
    notes: tuple[str, ...] = ()
    if os.environ.get(RANGE_ENV):
        notes = (f"note: ${RANGE_ENV} is set and overrides the saved range here",)
    return RangeShown(span, "config", path, changed=True, notes=notes)


def dashboard(ctx: Context) -> Result:
    from ._dashboard import build_rows
    from ._results_live import Dashboard

    door = ctx.door()
    return Dashboard(build_rows(door, door.list_allocations(**_picked(ctx))))


def version(ctx: Context) -> Result:
    from .. import __version__
    from ._results import Version

    return Version(__version__)


# -- processes ----------------------------------------------------------------------------


def detect(ctx: Context) -> Result:
    from ._results_live import Detected

    door = ctx.door()
    ports = [port_arg(text) for text in ctx.values("port")]
    held = door.detect_occupiers_by_port(ports)  # one snapshot of the socket table for all
    entries = allocations_of(door, ports)
    return each_port(ctx, lambda port: Detected(port, held[port], entries.get(port)))


def scan(ctx: Context) -> Result:
    from ._results_live import Scanned

    span = _range_arg(ctx.arg("range"))
    progress = ctx.progress

    async def run(pm: PortManager) -> ScanResult:
        import anyio

        async with anyio.create_task_group() as group:
            if progress is not None:
                group.start_soon(show_progress, progress, f"scanning {span}")
            result = await pm.scan(span, with_occupiers=True)
            group.cancel_scope.cancel()
        return result

    return Scanned.of(_waiting_door(ctx).run_async(run))


async def show_progress(stream: TextIO, label: str, *, delay: float = 0.5) -> None:
    """After ``delay`` seconds, show ``label`` and the time spent on one terminal line,
    until cancelled; then erase the line. Quick commands never show it."""
    import anyio

    began = time.monotonic()
    shown = False
    try:
        await anyio.sleep(delay)
        while True:
            stream.write(f"\raioports: {label} ... {time.monotonic() - began:.1f} s")
            stream.flush()
            shown = True
            await anyio.sleep(0.25)
    finally:
        if shown:
            stream.write("\r\033[K")
            stream.flush()
