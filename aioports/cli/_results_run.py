"""The result of ``aioports run``: the child's exit code, and nothing to show."""

from __future__ import annotations

from ._results import Result, Style

__all__ = ("Ran",)


class Ran(Result):
    """The child's exit: its code is the run's; nothing is written to stdout, ``--json``
    included (stdout is the child's)."""

    __slots__ = ("exit_code",)

    def __init__(self, exit_code: int) -> None:
        self.exit_code = exit_code

    status = "exited"
    message = ""

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.exit_code

    def document(self) -> object:
        return None

    def human(self, style: Style) -> str:
        return ""

    def quiet(self) -> str:
        return ""
