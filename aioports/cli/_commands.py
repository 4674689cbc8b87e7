"""One handler per command: parse its values, make one call into the public API, and say
which renderer method shows the result."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

import anyio
import anyio.to_thread

from .. import PortInUseError, PortManager, PortRange, ProcessGoneError, ScanResult
from .._config import RANGE_ENV, RangeSetting, range_setting
from .._settings import save_range, settings_path
from ._dashboard import build_rows
from ._errors import StillOccupiedError, UsageError
from ._parser import ParsedArgs, count_arg, port_arg, range_arg
from ._render import Renderer, ScanReport, who

__all__ = ("HANDLERS", "Context", "Outcome")


@dataclass(frozen=True, slots=True)
class Context:
    """What every handler gets: the manager and the parsed arguments."""

    pm: PortManager
    args: ParsedArgs
    #: where to show progress of long commands: stderr when it is a terminal, else None
    progress: TextIO | None = None

    def setting(self) -> RangeSetting:
        """The default range, read only by the commands that use it: a broken settings
        file or ``$AIOPORTS_RANGE`` must not block the others (``--set-range`` fixes it).

        :raises ConfigError: when its source is unusable.
        """
        return range_setting(registry_path=self.pm.registry_path)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler produced: how to show it, and the exit code."""

    show: Callable[[Renderer], None]
    code: int = 0
    notes: tuple[str, ...] = ()


Handler = Callable[[Context], Awaitable[Outcome]]


def _metadata(args: ParsedArgs) -> dict[str, str]:
    fields = {"app": args.app, "worktree": args.worktree, "service": args.service}
    return {key: value for key, value in fields.items() if value is not None}


def _owner_pid(args: ParsedArgs) -> int | None:
    return None if args.owner_pid is None else count_arg(args.owner_pid, "--owner-pid")


def _range(ctx: Context) -> PortRange:
    """``--range`` when given, else the default range (only then is the default read)."""
    return ctx.setting().range if ctx.args.range is None else range_arg(ctx.args.range)


def _roles(text: str | None, count: int) -> list[str] | None:
    """``--roles a,b,c`` checked against the group size.

    :raises UsageError: for an empty name, a name given twice, or the wrong number of names.
    """
    if text is None:
        return None
    roles = [role.strip() for role in text.split(",")]
    if not all(roles):
        raise UsageError("--roles needs one non-empty name per port, separated by commas")
    if len(roles) != count:
        raise UsageError(f"{count} ports need {count} roles, got {len(roles)}: {text!r}")
    twice = sorted({role for role in roles if roles.count(role) > 1})
    if twice:
        raise UsageError(f"roles must be distinct; given twice: {', '.join(twice)}")
    return roles


@contextlib.contextmanager
def _owner_checked(owner: int | None) -> Iterator[None]:
    """Turn "the --owner-pid process does not exist" into a usage error (exit 2)."""
    try:
        yield
    except ProcessGoneError as exc:
        if owner is None:
            raise
        raise UsageError(f"--owner-pid {owner}: no such process") from exc


async def allocate(ctx: Context) -> Outcome:
    args = ctx.args
    metadata, owner = _metadata(args), _owner_pid(args)
    span = _range(ctx)
    with _owner_checked(owner):
        port = await ctx.pm.allocate(span, metadata, owner_pid=owner)
    return Outcome(lambda r: r.allocated(port, metadata, owner))


async def allocate_group(ctx: Context) -> Outcome:
    args = ctx.args
    assert args.allocate_group is not None
    count = count_arg(args.allocate_group, "--allocate-group")
    roles = _roles(args.roles, count)
    metadata, owner = _metadata(args), _owner_pid(args)
    span = _range(ctx)
    with _owner_checked(owner):
        group = await ctx.pm.allocate_group(
            count, roles=roles, range=span, metadata=metadata, owner_pid=owner
        )
    return Outcome(lambda r: r.group_allocated(group))


async def release(ctx: Context) -> Outcome:
    assert ctx.args.release is not None
    port = port_arg(ctx.args.release)
    released = await ctx.pm.release(port)
    return Outcome(lambda r: r.released(port, released))


async def release_group(ctx: Context) -> Outcome:
    assert ctx.args.release_group is not None
    group_id = ctx.args.release_group.strip()
    if not group_id:
        raise UsageError("--release-group needs a group id (as --allocate-group printed it)")
    ports = await ctx.pm.release_group(group_id)
    return Outcome(lambda r: r.group_released(group_id, ports))


async def list_allocations(ctx: Context) -> Outcome:
    allocations = await ctx.pm.list_allocations()
    return Outcome(lambda r: r.allocations(allocations))


async def probe(ctx: Context) -> Outcome:
    assert ctx.args.probe is not None
    result = await ctx.pm.probe(port_arg(ctx.args.probe))
    return Outcome(lambda r: r.probed(result))


async def cleanup(ctx: Context) -> Outcome:
    result = await ctx.pm.cleanup()
    return Outcome(lambda r: r.cleaned(result))


async def repair(ctx: Context) -> Outcome:
    result = await ctx.pm.repair()
    registry = ctx.pm.registry_path
    return Outcome(lambda r: r.repaired(registry, result))


async def show_range(ctx: Context) -> Outcome:
    s = ctx.setting()
    source = "config" if s.source == "saved" else s.source
    path = settings_path(ctx.pm.registry_path)
    return Outcome(lambda r: r.range_shown(s.range, source, path, changed=False))


async def set_range(ctx: Context) -> Outcome:
    assert ctx.args.set_range is not None
    span = range_arg(ctx.args.set_range)
    path = settings_path(ctx.pm.registry_path)
    await anyio.to_thread.run_sync(save_range, path, span)
    notes: tuple[str, ...] = ()
    if os.environ.get(RANGE_ENV):
        notes = ("note: $AIOPORTS_RANGE is set and overrides the saved range here",)
    return Outcome(lambda r: r.range_shown(span, "config", path, changed=True), notes=notes)


async def dashboard(ctx: Context) -> Outcome:
    rows = await build_rows(ctx.pm, await ctx.pm.list_allocations())
    return Outcome(lambda r: r.dashboard(rows))


async def reserve(ctx: Context) -> Outcome:
    args = ctx.args
    assert args.reserve is not None
    port = port_arg(args.reserve)
    try:
        result = await ctx.pm.reserve(
            port,
            kill_if_occupied=args.kill,
            force=args.force,
            metadata=_metadata(args),
            allow_other_users=args.allow_other_users,
        )
    except PortInUseError as exc:
        if not args.kill:
            raise
        # The library raises this after a kill that did not free the port: say that.
        holder = "its holder" if exc.occupier is None else who(exc.occupier)
        hint = "" if args.force else "; use --force to kill it outright"
        raise StillOccupiedError(
            f"Port {port} is still occupied: {holder} did not exit in time; "
            f"nothing was reserved{hint}",
            port,
            exc.occupier,
        ) from exc
    return Outcome(
        lambda r: r.reserved(result.port, result.was_occupied, result.killed, result.occupier)
    )


async def detect(ctx: Context) -> Outcome:
    assert ctx.args.detect is not None
    port = port_arg(ctx.args.detect)
    occupier = await ctx.pm.detect_occupier(port)
    return Outcome(lambda r: r.detected(port, occupier))


async def kill_port(ctx: Context) -> Outcome:
    assert ctx.args.kill_port is not None
    port = port_arg(ctx.args.kill_port)
    result = await ctx.pm.kill_occupier(
        port, force=ctx.args.force, allow_other_users=ctx.args.allow_other_users
    )
    # A holder that survived the signal is a failure; "nothing held it", or "it exited
    # before it could be signalled", is not.
    code = 0 if result.killed or result.signal is None else 1
    return Outcome(lambda r: r.killed(result), code)


async def scan(ctx: Context) -> Outcome:
    assert ctx.args.scan is not None
    span = range_arg(ctx.args.scan)
    async with anyio.create_task_group() as group:
        if ctx.progress is not None:
            group.start_soon(show_progress, ctx.progress, f"scanning {span}")
        result = await ctx.pm.scan(span, with_occupiers=True)
        group.cancel_scope.cancel()
    report = _scan_report(span, result)
    return Outcome(lambda r: r.scanned(report))


async def show_progress(stream: TextIO, label: str, *, delay: float = 0.5) -> None:
    """After ``delay`` seconds, show ``label`` and the time spent on one terminal line,
    until cancelled; then erase the line. Quick commands never show it."""
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


def _scan_report(span: PortRange, result: ScanResult) -> ScanReport:
    in_use = tuple((p, next(iter(result.holders(p.port)), None)) for p in result.in_use)
    return ScanReport(range=span, in_use=in_use, free=result.free)


HANDLERS: dict[str, Handler] = {
    "allocate": allocate,
    "allocate_group": allocate_group,
    "release": release,
    "release_group": release_group,
    "list": list_allocations,
    "probe": probe,
    "cleanup": cleanup,
    "repair": repair,
    "range": show_range,
    "set_range": set_range,
    "dashboard": dashboard,
    "reserve": reserve,
    "detect": detect,
    "kill_port": kill_port,
    "scan": scan,
}
