"""The JSON renderer: exactly one document on stdout per run, errors included.

The shapes are documented in the README and pinned by the JSON Schema files in ``schemas/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from .. import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    KillResult,
    Occupier,
    PortRange,
    ProbeResult,
    RepairResult,
)
from ._dashboard import DashboardRow
from ._render import (
    ScanReport,
    group_released_sentence,
    is_orphan,
    orphan_sentence,
    probed_sentence,
    range_sentence,
    released_sentence,
    repaired_sentence,
    scanned_sentence,
)

__all__ = ("JsonRenderer", "error_fields")


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The error as JSON: its type, message and the context attributes it carries."""
    kind = getattr(exc, "json_type", None) or type(exc).__name__
    fields: dict[str, Any] = {"type": kind, "message": str(exc)}
    for name in ("port", "value", "reason", "path", "pid", "range", "occupier", "allocation"):
        try:
            value = getattr(exc, name)
        except AttributeError:
            continue
        if callable(value):
            continue
        fields[name] = _jsonable(value)
    return fields


def _jsonable(value: object) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(value)


def _process(occupier: Occupier | None) -> dict[str, Any] | None:
    return None if occupier is None else {"pid": occupier.pid, "name": occupier.process_name}


def _processes(result: KillResult) -> list[dict[str, Any]]:
    """Every process signalled (a pre-fork server has several), named when known."""
    names = {o.pid: o.process_name for o in result.occupiers if o.pid is not None}
    if result.pid is not None:
        names.setdefault(result.pid, result.process_name)
    pids = result.pids or (() if result.pid is None else (result.pid,))
    return [{"pid": pid, "name": names.get(pid)} for pid in pids]


class JsonRenderer:
    """Exactly one JSON document on ``out`` per run, errors included.

    The document goes to ``out.buffer`` as UTF-8 bytes when the stream has one, so what
    agents read never depends on the locale's encoding.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _emit(self, document: object) -> None:
        try:
            data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            # A lone surrogate: an argument that was not valid in the locale's encoding.
            # The stdlib escapes it (``\\udcff``) where orjson refuses.
            data = json.dumps(document, indent=2).encode() + b"\n"
        buffer = getattr(self._out, "buffer", None)
        if buffer is None:
            self._out.write(data.decode())
            return
        self._out.flush()  # anything written as text before goes first
        buffer.write(data)
        buffer.flush()

    def allocated(self, port: int, metadata: Mapping[str, Any], owner_pid: int | None) -> None:
        self._emit(
            {
                "status": "allocated",
                "port": port,
                "metadata": dict(metadata),
                "owner_pid": owner_pid,
                "message": f"Allocated port {port}.",
            }
        )

    def group_allocated(self, group: AllocationGroup) -> None:
        self._emit(
            {"status": "allocated"}
            | group.to_dict()
            | {"message": f"Allocated port group {group.group_id}."}
        )

    def released(self, port: int, released: bool) -> None:
        self._emit(
            {
                "status": "released" if released else "not_allocated",
                "port": port,
                "released": released,
                "message": released_sentence(port, released),
            }
        )

    def group_released(self, group_id: str, ports: Sequence[int]) -> None:
        self._emit(
            {
                "status": "released" if ports else "not_allocated",
                "group_id": group_id,
                "ports": list(ports),
                "message": group_released_sentence(group_id, ports),
            }
        )

    def allocations(self, allocations: Sequence[Allocation]) -> None:
        self._emit([a.to_dict() for a in allocations])

    def probed(self, result: ProbeResult) -> None:
        self._emit(
            {"status": result.status.value}
            | result.to_dict()
            | {"message": probed_sentence(result)}
        )

    def cleaned(self, result: CleanupResult) -> None:
        message = f"Cleaned up: released {result.released} allocation(s)."
        self._emit({"status": "cleaned"} | result.to_dict() | {"message": message})

    def cleanup_cancelled(self) -> None:
        self._emit({"status": "cancelled", "message": "Cleanup cancelled; nothing was removed."})

    def repaired(self, registry: Path, result: RepairResult) -> None:
        status = "repaired" if result.repaired else "healthy"
        self._emit(
            {"status": status, "registry": str(registry)}
            | result.to_dict()
            | {"message": repaired_sentence(registry, result)}
        )

    def range_shown(self, range: PortRange, source: str, config: Path, *, changed: bool) -> None:
        self._emit(
            {
                "status": "range_set" if changed else "ok",
                "range": range.to_dict(),
                "source": source,
                "config_path": str(config),
                "message": range_sentence(range, source, config, changed=changed),
            }
        )

    def dashboard(self, rows: Sequence[DashboardRow]) -> None:
        self._emit([row.to_dict() for row in rows])

    def detected(self, port: int, occupier: Occupier | None) -> None:
        if occupier is None:
            status, message = "free", "Port is free."
        elif is_orphan(occupier):
            # Only a leftover socket (TIME_WAIT ...): no process holds the port.
            status, message = "free", orphan_sentence(occupier)
        else:
            status, message = "occupied", "Port is occupied. No action taken."
        self._emit(
            {
                "status": status,
                "port": port,
                "process": None if is_orphan(occupier) else _process(occupier),
                "occupier": None if occupier is None else occupier.to_dict(),
                "message": message,
            }
        )

    def killed(self, result: KillResult) -> None:
        pid, name, killed = result.pid, result.process_name, result.killed
        if pid is None and not killed:
            status, message = "free", "No process holds the port. Nothing to kill."
        elif result.signal is None and not killed:
            status, message = "exited", "The process exited before it was signalled."
        elif killed:
            status, message = "killed", "Process terminated. Port is free."
        else:
            status, message = "not_killed", "Process did not exit in time. Use --force."
        process = None if pid is None and name is None else {"pid": pid, "name": name}
        self._emit(
            {
                "status": status,
                "port": result.port,
                "killed": killed,
                "process": process,
                "processes": _processes(result),
                "message": message,
            }
        )

    def reserved(
        self, port: int, was_occupied: bool, killed: bool, occupier: Occupier | None
    ) -> None:
        self._emit(
            {
                "status": "reserved",
                "port": port,
                "was_occupied": was_occupied,
                "killed": killed,
                "process": _process(occupier),
                "message": "Port successfully reserved.",
            }
        )

    def scanned(self, report: ScanReport) -> None:
        self._emit(
            {
                "status": "ok",
                "range": report.range.to_dict(),
                "in_use": [
                    {"port": p.port, "status": p.status.value, "process": _process(o)}
                    for p, o in report.in_use
                ],
                "free": report.free,
                "message": scanned_sentence(report),
            }
        )

    def version(self, version: str) -> None:
        self._emit({"status": "ok", "version": version})

    def error(self, exc: BaseException) -> None:
        self._emit({"status": "error", "error": error_fields(exc)})
