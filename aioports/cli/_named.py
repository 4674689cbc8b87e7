"""The named-port commands: ``ensure``, ``port``, ``env`` and ``prune``.

Each reads the project of the current folder (or ``--worktree``), makes its calls through the
sync door and returns one result from ``_results_named.py``.
"""

from __future__ import annotations

from ._errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .. import EnsuredPort, PortRange
    from .._dotenv import Format
    from .._named import Request, Selection
    from .._sync import SyncPortManager
    from ._context import Context
    from ._results import Result
    from ._results_named import ServiceState

__all__ = ("ensure", "env", "picked", "port", "prune")

FORMATS: dict[str, Format] = {"dotenv": "dotenv", "shell": "shell", "json": "json"}


def _services(ctx: Context) -> list[str] | None:
    """The SERVICE arguments, or None when none were given (the manifest's then)."""
    parsed = ctx.parsed
    if parsed.many:
        return list(parsed.many)
    one = parsed.args.get("service")  # ``port SERVICE`` takes just one
    return None if one is None else [one]


def picked(ctx: Context) -> Selection:
    """The entries ``--app``, ``--worktree`` and ``--service`` pick. A ``--worktree`` that
    names a folder stands for the git worktree it is in, as ``ensure`` records it."""
    from pathlib import Path

    from .._named import selection

    worktree = ctx.text("worktree")
    if worktree is not None and Path(worktree).is_dir():
        from .._project import find_project

        worktree = find_project(Path(worktree)).worktree
    return selection(ctx.text("app"), worktree, ctx.text("service"), required=False)


def _preferred(ctx: Context) -> int | None:
    from ._commands import port_arg

    text = ctx.text("preferred")
    return None if text is None else port_arg(text)


def _range(ctx: Context) -> PortRange | None:
    from .._models import PortRange

    text = ctx.text("range")
    return None if text is None else PortRange.parse(text)


def _request(
    ctx: Context, services: Sequence[str] | None, *, every: bool, preferred: int | None = None
) -> tuple[SyncPortManager, Request]:
    from .._named import Call

    door = ctx.door()
    call = Call(
        services,
        app=ctx.text("app"),
        worktree=ctx.text("worktree"),
        preferred=preferred,
        range=_range(ctx),
        every=every,
    )
    return door, door.ensure_request(call)


def _warnings(request: Request) -> list[str]:
    """One line per thing worth knowing about the ports a request may take."""
    from .._hygiene import port_warnings, range_warnings

    lines: list[str] = []
    for span in dict.fromkeys(w.span for w in request.wants):
        lines.extend(range_warnings(span))
    for wanted in request.wants:
        if wanted.preferred is not None:
            lines.extend(port_warnings(wanted.preferred))
    return lines


def _states(door: SyncPortManager, ensured: Sequence[EnsuredPort]) -> list[ServiceState]:
    """What is on each port now: a probe, and the holder of the busy ones."""
    from ._results_named import ServiceState

    probes = {e.port: door.probe(e.port) for e in ensured}
    busy = [port for port, result in probes.items() if result.status.value == "in_use"]
    holders = door.detect_occupiers_by_port(busy) if busy else {}
    states = []
    for e in ensured:
        found = [o for o in holders.get(e.port, []) if o.pid is not None]
        states.append(ServiceState(e, probes[e.port].status, found[0] if found else None))
    return states


def ensure(ctx: Context) -> Result:
    from ._results_named import Ensured

    services = _services(ctx)
    preferred = _preferred(ctx)
    if preferred is not None and (services is None or len(services) != 1):
        raise UsageError("--preferred goes with exactly one SERVICE")
    door, request = _request(ctx, services, every=True, preferred=preferred)
    ensured = door.ensure_ports(request)
    return Ensured(request.project, _states(door, ensured), _warnings(request))


def port(ctx: Context) -> Result:
    from ._results_named import PortShown

    services = _services(ctx)
    door, request = _request(ctx, services, every=False, preferred=_preferred(ctx))
    [ensured] = door.ensure_ports(request)
    return PortShown(request.project, ensured, _warnings(request))


def env(ctx: Context) -> Result:
    from pathlib import Path

    from .._dotenv import render, write_block
    from ._results_named import EnvShown, EnvWritten

    given = ctx.text("format") or "dotenv"
    chosen = FORMATS.get(given)
    if chosen is None:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {given!r}")
    target = ctx.text("write")
    if target is not None and ctx.text("format") is not None:
        raise UsageError("--write writes a dotenv block; it takes no --format")
    door, request = _request(ctx, _services(ctx), every=True)
    ensured = door.ensure_ports(request)
    variables = {e.env: e.port for e in ensured}
    warnings = _warnings(request)
    if target is None:
        return EnvShown(variables, render(variables, chosen), warnings)
    path = Path(target)
    written = write_block(path, variables)
    return EnvWritten(path, variables, written.changed, [*warnings, *written.warnings])


def prune(ctx: Context) -> Result:
    from ._results_named import Pruned

    return Pruned(ctx.door().prune(dry_run=ctx.flag("dry_run")))
