"""What every handler gets: the parsed command line, and a way to the sync door."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from .._models import RangeLike
    from .._sync import SyncPortManager
    from ._parse import Parsed

__all__ = ("Context",)


class Context:
    """The parsed arguments of one run.

    :ivar parsed: the command line
    :ivar progress: where long commands show progress (stderr on a terminal), or None
    """

    __slots__ = ("parsed", "progress")

    def __init__(self, parsed: Parsed, progress: TextIO | None = None) -> None:
        self.parsed = parsed
        self.progress = progress

    def arg(self, name: str) -> str:
        """The positional argument ``name`` (the table makes it required)."""
        return self.parsed.args[name]

    def text(self, name: str) -> str | None:
        """The value of option ``name``, or None when it was not given."""
        value = self.parsed.options.get(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        """Whether the switch ``name`` was given."""
        return name in self.parsed.options

    def seconds(self, name: str) -> float | None:
        """The value of option ``name`` in seconds (the parser checked it), or None."""
        text = self.text(name)
        return None if text is None else float(text)

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of the ``many`` argument ``name`` (``release 3000 3001``)."""
        return self.parsed.many or (self.arg(name),)

    def door(self, range: RangeLike | None = None) -> SyncPortManager:
        """The sync door on ``--registry`` (else ``$AIOPORTS_REGISTRY``, else the default
        registry), waiting ``--lock-timeout`` seconds for the lock. Without ``range``, the
        default range is read only if an operation needs it, so a broken
        ``$AIOPORTS_RANGE`` or settings file blocks only the commands that use it."""
        from .._sync import SyncPortManager

        timeout = self.seconds("lock_timeout")
        registry = self.text("registry")
        if timeout is None:
            return SyncPortManager(registry, range=range)
        return SyncPortManager(registry, range=range, lock_timeout=timeout)
