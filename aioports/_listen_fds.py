"""Taking the sockets a supervisor passed in: the systemd socket activation protocol.

``aioports run --fd`` (and systemd, and anything else that speaks sd_listen_fds(3)) starts a
server with its listening sockets already open from fd 3 on, and says so in the environment:
``LISTEN_FDS`` (how many), ``LISTEN_PID`` (whom they are for: the server's own PID, so that a
process the server starts does not take them too) and ``LISTEN_FDNAMES`` (their names,
colon-separated). :func:`listen_fds` reads that, as ``sd_listen_fds(1)`` does.

The variables are removed from ``os.environ`` by default (``unset_environment=True``, like
``sd_listen_fds(1)``): the server's own children (a reloader, workers it forks and execs) then
see no sockets meant for somebody else. A second call therefore returns no sockets; keep the
list of the first. Pass ``unset_environment=False`` to leave them for a later reader.
"""

from __future__ import annotations

import os
import socket

from ._errors import InvalidArgumentError

__all__ = ("LISTEN_FDS_START", "listen_fds")

#: the first passed descriptor (``SD_LISTEN_FDS_START``)
LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def listen_fds(*, unset_environment: bool = True) -> list[socket.socket]:
    """The listening sockets passed to this process by socket activation, in fd order
    (fd 3 first); empty when none were passed, or when ``LISTEN_PID`` names another process.

    Each descriptor is marked close-on-exec, as ``sd_listen_fds`` does, and wrapped in a
    ``socket.socket`` of its own family and type: hand it to the server
    (``asyncio.start_server(sock=...)``, ``uvicorn --fd``).

    :param unset_environment: remove ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES``
        from ``os.environ`` (the default; see the module docs)
    :raises InvalidArgumentError: when ``LISTEN_PID`` or ``LISTEN_FDS`` is not a whole number,
        or a passed descriptor is not an open socket.
    """
    pid_text = os.environ.get("LISTEN_PID")
    count_text = os.environ.get("LISTEN_FDS")
    if unset_environment:
        for name in _VARIABLES:
            os.environ.pop(name, None)
    if pid_text is None or count_text is None:
        return []
    pid = _whole("LISTEN_PID", pid_text)
    if pid != os.getpid():
        return []  # meant for another process (the one that started us, say)
    count = _whole("LISTEN_FDS", count_text)
    sockets = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
        try:
            os.set_inheritable(fd, False)
            sockets.append(socket.socket(fileno=fd))
        except OSError as exc:
            for sock in sockets:
                sock.detach()  # not ours to close: the caller may still want to look
            message = f"LISTEN_FDS={count_text} passes fd {fd}, which is not an open socket"
            raise InvalidArgumentError("LISTEN_FDS", count_text, message) from exc
    return sockets


def _whole(name: str, text: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidArgumentError(name, text, f"{name} must be a whole number, got {text!r}")
    return int(digits)
