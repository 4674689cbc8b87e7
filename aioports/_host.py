"""Where this process runs, as the registry needs to know it: the host name, and the PID
namespace that gives its PIDs their meaning.

Two processes on one host that share a registry file can still see different PIDs: a
container (or ``unshare -p``) has its own PID namespace, where PID 57 is some other process
than the host's PID 57. An owner-bound entry records its owner's namespace, and only a
process in that namespace judges by the owner's PID whether it still runs.
"""

from __future__ import annotations

import os
import socket

from ._records import record

__all__ = ("Place", "here", "pid_namespace")


@record
class Place:
    """:ivar hostname: the host name
    :ivar pid_namespace: the PID namespace (``pid:[4026531836]``), None where the OS has none
    """

    hostname: str
    pid_namespace: str | None


def pid_namespace(pid: int | str = "self") -> str | None:
    """The PID namespace of process ``pid`` as Linux names it, or None (another OS, or a
    process this user may not look at)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


# Read once, when the module loads: neither changes while a process runs (a process that
# calls ``unshare`` does not move itself, only its future children), and a read here keeps
# the readlink off any event loop.
_HERE = Place(socket.gethostname(), pid_namespace())


def here() -> Place:
    """This process's place."""
    return _HERE
