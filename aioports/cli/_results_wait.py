"""The result of ``aioports wait``."""

from __future__ import annotations

from ._results import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._wait import WaitResult

__all__ = ("Waited",)


class Waited(Result):
    """The condition held: ``listening`` (with who and where) or ``free``."""

    __slots__ = ("record",)

    def __init__(self, record: WaitResult) -> None:
        self.record = record

    @property
    def status(self) -> str:
        return self.record.condition

    @property
    def message(self) -> str:
        record = self.record
        took = f"after {record.waited:.2f} s"
        if record.condition == "free":
            return f"Port {record.port} is free, {took}."
        where = ", ".join(record.addresses)
        who = ""
        if record.pids:
            who = f" (PID{'s' if len(record.pids) > 1 else ''} "
            who += ", ".join(str(pid) for pid in record.pids) + ")"
        return f"Port {record.port} is listening on {where}{who}, {took}."

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = self.record.to_dict()
        return result
