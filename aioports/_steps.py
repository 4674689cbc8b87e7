"""How the deciding code asks for what only a door can do, without doing I/O itself.

The free-port search and the allocation logic are generators. Where they need something
that would block (a psutil lookup, a read of the kernel's socket table) they yield a
:class:`Blocking` request, and where a long loop should let other tasks run they yield
:data:`CHECKPOINT`. Each door drives them its own way: :func:`drive_sync` runs the request
inline (the CLI, the sync facade, the pytest fixtures); :func:`drive_async` runs it in a
worker thread and yields to the event loop (``PortManager``). One core, two doors.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final, TypeVar

from ._records import record

__all__ = ("CHECKPOINT", "Blocking", "Step", "Steps", "drive_async", "drive_sync")

T = TypeVar("T")


@record
class Blocking:
    """A request to call ``func(*args)``, which may block; its return value is sent back."""

    func: Callable[..., Any]
    args: tuple[Any, ...] = ()


class _Checkpoint:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CHECKPOINT"


#: a point where an async door lets other tasks run; a sync door just goes on
CHECKPOINT: Final = _Checkpoint()

Step = Blocking | _Checkpoint
#: a generator of the core: it yields steps, gets each step's result back, and returns T
Steps = Generator[Step, Any, T]


def drive_sync(steps: Steps[T]) -> T:
    """Run ``steps`` to the end in this thread, performing each request inline."""
    reply: Any = None
    try:
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply = step.func(*step.args) if isinstance(step, Blocking) else None
    finally:
        steps.close()


async def drive_async(steps: Steps[T]) -> T:
    """Run ``steps`` to the end on the event loop, each :class:`Blocking` request in a
    worker thread, each :data:`CHECKPOINT` as an anyio checkpoint."""
    import anyio.lowlevel
    import anyio.to_thread

    reply: Any = None
    try:
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                result: T = stop.value
                return result
            if isinstance(step, Blocking):
                reply = await anyio.to_thread.run_sync(step.func, *step.args)
            else:
                await anyio.lowlevel.checkpoint()
                reply = None
    finally:
        steps.close()
