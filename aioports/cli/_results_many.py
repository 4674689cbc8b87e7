"""The result of a command given several ports (``release 3000 3001``): one result per port,
each shown as it would be alone (see ``_results.py`` for the contract).

Given one port, a command returns that port's own result, so its document stays what it
always was. Given several, the document is ``{"status": ..., "results": [...], "message":
...}``: ``results`` holds each port's document in the order given (a port that failed holds
its error document), and ``status`` is the status they share, or ``mixed`` (their statuses
differ, or every port failed).
"""

from __future__ import annotations

from ._results import Result, Style

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

__all__ = ("Several", "combined_code")


def combined_code(codes: Sequence[int]) -> int:
    """The exit code of a run over several ports: 0 when every port's is, 1 when any port
    failed, else the largest (``probe``: 4 when a port is denied, 3 when one is in use)."""
    if 1 in codes:
        return 1
    return max(codes, default=0)


class Several(Result):
    """One result per port, in the order the ports were given.

    :ivar ports: the ports
    :ivar results: each port's result (a :class:`~aioports.cli._failure.Failure` for a port
        that failed)
    """

    __slots__ = ("ports", "results")

    def __init__(self, ports: Sequence[int], results: Sequence[Result]) -> None:
        self.ports, self.results = tuple(ports), tuple(results)

    @property
    def status(self) -> str:
        # "error" belongs to a failed run's document (``error.json``), never to this one.
        statuses = {result.status for result in self.results}
        return statuses.pop() if len(statuses) == 1 and "error" not in statuses else "mixed"

    @property
    def code(self) -> int:  # type: ignore[override]
        return combined_code([result.code for result in self.results])

    @property
    def message(self) -> str:
        each = ", ".join(
            f"{port} {result.status}" for port, result in zip(self.ports, self.results, strict=True)
        )
        return f"{len(self.ports)} ports: {each}."

    def to_dict(self) -> dict[str, Any]:
        return {"results": [result.document() for result in self.results]}

    def quiet(self) -> str:
        return "".join(result.quiet() for result in self.results)

    def show(self, out: TextIO, err: TextIO, style: Style, *, quiet: bool = False) -> None:
        for result in self.results:
            result.show(out, err, style, quiet=quiet)
