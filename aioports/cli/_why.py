"""``aioports why PORT...``: everything that stands between a server and each port, one line
per reason and a verdict (``PortManager.explain`` through the sync door)."""

from __future__ import annotations

from ._results import PREFIX, Recorded, Style, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .. import Explanation
    from ._context import Context
    from ._results import Result

__all__ = ("Explained", "why")


def why(ctx: Context) -> Result:
    from ._commands import each_port

    door = ctx.door()
    return each_port(ctx, lambda port: Explained(door.explain(port)))


class Explained(Recorded):
    """One port's explanation. It exits 0 whatever the verdict: it is a report (``probe``
    is the command whose exit code answers "could a server start here")."""

    record: Explanation

    @property
    def status(self) -> str:
        return self.record.status.value

    @property
    def message(self) -> str:
        return self.record.message

    def to_dict(self) -> dict[str, object]:
        data = self.record.to_dict()
        del data["message"]  # the document puts the verdict last, as every document does
        return data

    def human(self, style: Style) -> str:
        lines = [PREFIX + printable(self.message)]
        lines += [f"  - {printable(reason.message)}" for reason in self.record.reasons]
        return "\n".join(lines) + "\n"
