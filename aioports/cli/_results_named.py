"""Results of the named-port commands: ensure, port, env and prune (see ``_results.py`` for
the contract)."""

from __future__ import annotations

from ._results import PREFIX, Result, Style, printable, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from .. import EnsuredPort, Occupier, PortStatus, PruneResult
    from .._project import Project

__all__ = ("EnvShown", "EnvWritten", "Ensured", "PortShown", "Pruned", "ServiceState")


def _worktree_label(project: Project) -> str:
    """How a line names the worktree: its branch, else its folder's name."""
    from pathlib import Path

    return project.branch or Path(project.worktree).name


class ServiceState:
    """A named port and what is on it now.

    :ivar ensured: the port and whether it is new
    :ivar status: the probe's answer (free, in use, denied)
    :ivar holder: the process that holds it, if one can be named
    """

    __slots__ = ("ensured", "holder", "status")

    def __init__(self, ensured: EnsuredPort, status: PortStatus, holder: Occupier | None) -> None:
        self.ensured, self.status, self.holder = ensured, status, holder

    @property
    def state(self) -> str:
        if self.status.value == "denied":
            return "denied"
        return "free" if self.status.value == "free" else "active"

    def to_dict(self) -> dict[str, Any]:
        holder = self.holder
        process = None if holder is None else {"pid": holder.pid, "name": holder.process_name}
        return {
            "port": self.ensured.port,
            "created": self.ensured.created,
            "env": self.ensured.env,
            "state": self.state,
            "process": process,
        }

    def remark(self) -> str:
        """What people are told about the port beyond its number, or ``""``."""
        if self.state == "denied":
            return "this user may not bind it (a privileged port)"
        if self.state != "active":
            return ""
        holder = self.holder
        if holder is None or holder.pid is None:
            return "in use"
        return f"held by {printable(holder.process_name or 'a process')} (PID {holder.pid})"


class Ensured(Result):
    """``ensure``: every service's port, with what is on it now."""

    __slots__ = ("notes", "project", "services", "warnings")

    status = "ensured"

    def __init__(
        self, project: Project, services: Sequence[ServiceState], warnings: Sequence[str]
    ) -> None:
        self.project, self.services = project, tuple(services)
        self.warnings = tuple(warnings)
        self.notes = self.warnings

    @property
    def app(self) -> str:
        allocation = self.services[0].ensured.allocation
        return allocation.app or self.project.app

    @property
    def message(self) -> str:
        ports = ", ".join(f"{s.ensured.service} -> {s.ensured.port}" for s in self.services)
        return f"{self.app}: {ports} (worktree {_worktree_label(self.project)})."

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "worktree": self.project.worktree,
            "branch": self.project.branch,
            "services": {s.ensured.service: s.to_dict() for s in self.services},
            "warnings": list(self.warnings),
        }

    def human(self, style: Style) -> str:
        label = _worktree_label(self.project)
        lines = []
        for state in self.services:
            line = f"{self.app}/{state.ensured.service} -> {state.ensured.port} (worktree {label})"
            remark = state.remark()
            lines.append(PREFIX + printable(line + (f"; {remark}" if remark else "")))
        return "\n".join(lines) + "\n"


class PortShown(Result):
    """``port``: the number alone, for ``$(aioports port web)``."""

    __slots__ = ("ensured", "notes", "project")

    status = "ok"

    def __init__(self, project: Project, ensured: EnsuredPort, warnings: Sequence[str]) -> None:
        self.project, self.ensured, self.notes = project, ensured, tuple(warnings)

    @property
    def message(self) -> str:
        allocation = self.ensured.allocation
        return f"{allocation.app}/{self.ensured.service} is on port {self.ensured.port}."

    def to_dict(self) -> dict[str, Any]:
        allocation = self.ensured.allocation
        return {
            "port": self.ensured.port,
            "app": allocation.app,
            "worktree": allocation.worktree,
            "service": self.ensured.service,
            "created": self.ensured.created,
            "env": self.ensured.env,
        }

    def human(self, style: Style) -> str:
        return f"{self.ensured.port}\n"


class EnvShown(Result):
    """``env``: the variables in the chosen format, nothing else on stdout."""

    __slots__ = ("notes", "text", "variables")

    status = "ok"

    def __init__(self, variables: Mapping[str, int], text: str, warnings: Sequence[str]) -> None:
        self.variables, self.text, self.notes = dict(variables), text, tuple(warnings)

    @property
    def message(self) -> str:
        return f"{len(self.variables)} variable(s)."

    def to_dict(self) -> dict[str, Any]:
        return {"variables": self.variables, "warnings": list(self.notes)}

    def human(self, style: Style) -> str:
        return self.text


class EnvWritten(Result):
    """``env --write FILE``: the block in the file is up to date."""

    __slots__ = ("changed", "notes", "path", "variables")

    def __init__(
        self, path: Path, variables: Mapping[str, int], changed: bool, warnings: Sequence[str]
    ) -> None:
        self.path, self.variables, self.changed = path, dict(variables), changed
        self.notes = tuple(warnings)

    @property
    def status(self) -> str:
        return "written" if self.changed else "unchanged"

    @property
    def message(self) -> str:
        names = ", ".join(self.variables)
        if not self.changed:
            return f"{self.path} already has {names}; nothing to write."
        return f"Wrote {names} to the aioports block of {self.path}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "variables": self.variables,
            "changed": self.changed,
            "warnings": list(self.notes),
        }


_REASONS = {"owner_gone": "its owner process has exited", "worktree_gone": "its worktree is gone"}


class Pruned(Result):
    """``prune``: the stale entries, each with its reason."""

    __slots__ = ("result",)

    def __init__(self, result: PruneResult) -> None:
        self.result = result

    @property
    def status(self) -> str:
        return "dry_run" if self.result.dry_run else "pruned"

    @property
    def message(self) -> str:
        count = len(self.result.pruned)
        if not count:
            return "Nothing is stale; nothing to prune."
        verb = "Would prune" if self.result.dry_run else "Pruned"
        return f"{verb} {count} stale entr{'y' if count == 1 else 'ies'}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.result.dry_run,
            "pruned": [
                {
                    "port": p.allocation.port,
                    "reason": p.reason.value,
                    "allocation": p.allocation.to_dict(),
                }
                for p in self.result.pruned
            ],
        }

    def details(self, style: Style) -> list[str]:
        rows = []
        for pruned in self.result.pruned:
            a = pruned.allocation
            name = f"{a.app}/{a.service}" if a.key is not None else _one_shot(a.metadata)
            where = f" ({a.worktree})" if a.worktree else ""
            rows.append((f"  {a.port}", name + where, _REASONS[pruned.reason.value]))
        return table(rows) if rows else []


def _one_shot(metadata: Mapping[str, Any]) -> str:
    app, service = metadata.get("app"), metadata.get("service")
    if isinstance(app, str) and isinstance(service, str):
        return f"{app}/{service}"
    return app if isinstance(app, str) else "one-shot allocation"
