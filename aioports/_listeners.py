"""One snapshot of the kernel's TCP socket table: which ports have a listener right now.

A listener makes a port busy for any server that does not share it through ``SO_REUSEPORT``
(aioports' probes never do), so the free-port search can skip those ports without a bind
each. The table says nothing for sure about the other ports (a bound socket that is not
listening is not in it; a TIME_WAIT entry may not block a server), so any port it does not
list is still bind-checked before it is called free.

Linux only: a ``sock_diag`` netlink dump of the listening sockets (``_sockets.py``), else
``/proc/net/tcp`` and ``tcp6``; both show the network namespace a bind sees. Elsewhere there is
no snapshot and the search probes every port. Which *process* holds a port is
another question, answered by ``_sockets.py`` for ``detect_occupier`` and kills.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ("listening_ports",)

_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"  # TCP_LISTEN in include/net/tcp_states.h


def listening_ports() -> frozenset[int] | None:
    """The local ports of every listening TCP socket, or None where the table is not
    readable. Blocking file reads: call it in a worker thread."""
    if sys.platform != "linux":
        return None
    from ._sockets import netlink_listening_ports

    try:
        return netlink_listening_ports()
    except OSError:
        pass  # no netlink here (a sandbox): the /proc tables say the same, more slowly
    ports: set[int] = set()
    read_any = False
    for table in _TABLES:
        try:
            text = table.read_text(encoding="ascii")
        except OSError:
            continue
        read_any = True
        ports.update(parse_listeners(text))
    return frozenset(ports) if read_any else None


def parse_listeners(text: str) -> set[int]:
    """The local ports of the LISTEN rows of one ``/proc/net/tcp*`` file."""
    ports = set()
    for line in text.splitlines()[1:]:
        fields = line.split(None, 4)
        # sl, local_address (hex address:hex port), rem_address, st, ...
        if len(fields) >= 4 and fields[3] == _LISTEN:
            ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports
