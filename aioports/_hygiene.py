"""Port hygiene: the ports an automatic choice skips, and what to warn about an explicit one.

Three facts decide whether a port is a good one to hand out, beyond "a server could bind it":

- **Browser-unsafe ports.** Browsers refuse to connect to the WHATWG fetch standard's "bad
  ports" (``ERR_UNSAFE_PORT`` in Chrome): a dev server there works from ``curl`` but not from
  the page that needs it. The list is fixed in the standard, so it is a constant here.
- **Reserved ports** (Linux: ``/proc/sys/net/ipv4/ip_local_reserved_ports``): ports the
  administrator set aside for a service; the kernel never gives them out on its own either.
- **The ephemeral range** (Linux: ``/proc/sys/net/ipv4/ip_local_port_range``): the ports the
  kernel picks for outgoing connections and ``bind(0)``. A port handed out there can be taken
  by any process's next connection before the server binds it.

Automatic choices (allocate, ensure, groups, leases, fixtures) skip :func:`excluded_ports`;
an explicit port (``reserve``, ``--preferred``) is honoured, with :func:`port_warnings`; a
range that overlaps the ephemeral range gets one :func:`range_warnings` message.

Cost: this runs on every allocation. Reading a ``/proc`` file is one ``open``/``read``/
``close`` (a few microseconds); the parsed set is cached by the file's text, so a call costs
the read and a dict lookup (``benchmarks/bench_hygiene.py``). The files are re-read on each
call because ``sysctl`` can change them at any time. Where they are missing (macOS, Windows,
a container without ``/proc``) nothing is reserved and no ephemeral range is known.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ._models import PortRange

__all__ = (
    "BROWSER_UNSAFE_PORTS",
    "EPHEMERAL_RANGE_PATH",
    "RESERVED_PORTS_PATH",
    "ephemeral_range",
    "excluded_ports",
    "parse_ephemeral_range",
    "parse_reserved_ports",
    "port_warnings",
    "range_warnings",
    "reserved_ports",
)

RESERVED_PORTS_PATH = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
EPHEMERAL_RANGE_PATH = Path("/proc/sys/net/ipv4/ip_local_port_range")

# The fetch standard's table of bad ports (https://fetch.spec.whatwg.org/#port-blocking, as of
# July 2026: 4190 and 6679 were added in 2024), with the service each is known for, which the
# warnings name. Port 0 is in the table too; it is no port anyone is handed.
_BAD_PORTS: dict[int, str] = {
    0: "-", 1: "tcpmux", 7: "echo", 9: "discard", 11: "systat", 13: "daytime",
    15: "netstat", 17: "qotd", 19: "chargen", 20: "ftp-data", 21: "ftp", 22: "ssh",
    23: "telnet", 25: "smtp", 37: "time", 42: "name", 43: "nicname", 53: "domain",
    69: "tftp", 77: "-", 79: "finger", 87: "-", 95: "supdup", 101: "hostname",
    102: "iso-tsap", 103: "gppitnp", 104: "acr-nema", 109: "pop2", 110: "pop3",
    111: "sunrpc", 113: "auth", 115: "sftp", 117: "uucp-path", 119: "nntp", 123: "ntp",
    135: "epmap", 137: "netbios-ns", 139: "netbios-ssn", 143: "imap", 161: "snmp",
    179: "bgp", 389: "ldap", 427: "svrloc", 465: "submissions", 512: "exec",
    513: "login", 514: "shell", 515: "printer", 526: "tempo", 530: "courier",
    531: "chat", 532: "netnews", 540: "uucp", 548: "afp", 554: "rtsp", 556: "remotefs",
    563: "nntps", 587: "submission", 601: "syslog-conn", 636: "ldaps", 989: "ftps-data",
    990: "ftps", 993: "imaps", 995: "pop3s", 1719: "h323gatestat", 1720: "h323hostcall",
    1723: "pptp", 2049: "nfs", 3659: "apple-sasl", 4045: "npp", 4190: "sieve",
    5060: "sip", 5061: "sips", 6000: "x11", 6566: "sane-port", 6665: "ircu",
    6666: "ircu", 6667: "ircu", 6668: "ircu", 6669: "ircu", 6679: "osaut",
    6697: "ircs-u", 10080: "amanda",
}  # fmt: skip

#: the ports browsers refuse to connect to (the WHATWG fetch standard's "bad ports")
BROWSER_UNSAFE_PORTS: frozenset[int] = frozenset(_BAD_PORTS)

# A /proc/sys file is a line or two; a larger read means something else is at the path.
_MAX_READ = 64 * 1024
_PAGE = 4096
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _read(path: Path) -> str | None:
    """The text of a small kernel file, or None when it cannot be read (missing, no ``/proc``,
    not permitted, or not text): hygiene facts are advice, never a reason to fail."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return None
    try:
        # One page-sized read: a sysctl file is a line, and each read of /proc costs about
        # 3 us (a 64 KiB buffer, or a second read to see the end, would double the cost).
        # Only a full page means there may be more.
        data = os.read(fd, _PAGE)
        while len(data) % _PAGE == 0 and len(data) <= _MAX_READ:
            chunk = os.read(fd, _PAGE)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > _MAX_READ:
        return None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


def _number(text: str) -> int | None:
    """A port number in ASCII digits, or None (int() also takes other scripts' digits)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        return None
    value = int(text)
    return value if 1 <= value <= 65535 else None


@lru_cache(maxsize=8)
def parse_reserved_ports(text: str) -> frozenset[int]:
    """The ports listed in ``ip_local_reserved_ports`` text: ``"8080,9000-9010"`` (ranges
    inclusive; empty text: none). An item that is not a port or a range of ports is skipped:
    the kernel never writes one, and a bad item must not block every allocation.

    Cached by text: the file rarely changes, and the set is built once per content.
    """
    ports: set[int] = set()
    for item in text.split(","):
        low, dash, high = item.partition("-")
        first = _number(low)
        last = _number(high) if dash else first
        if first is None or last is None or first > last:
            continue
        ports.update(range(first, last + 1))
    return frozenset(ports)


@lru_cache(maxsize=8)
def parse_ephemeral_range(text: str) -> PortRange | None:
    """The range in ``ip_local_port_range`` text (``"32768\\t60999"``), or None when the text
    is not two ports in order."""
    parts = text.split()
    if len(parts) != 2:
        return None
    first, last = _number(parts[0]), _number(parts[1])
    if first is None or last is None or first > last:
        return None
    return PortRange(first, last)


def reserved_ports(path: Path = RESERVED_PORTS_PATH) -> frozenset[int]:
    """The ports the administrator reserved (``ip_local_reserved_ports``); none when the file
    is missing or unreadable."""
    text = _read(path)
    return frozenset() if text is None else parse_reserved_ports(text)


def ephemeral_range(path: Path = EPHEMERAL_RANGE_PATH) -> PortRange | None:
    """The kernel's ephemeral port range (``ip_local_port_range``), or None when unknown."""
    text = _read(path)
    return None if text is None else parse_ephemeral_range(text)


@lru_cache(maxsize=8)
def _excluded(reserved: frozenset[int]) -> frozenset[int]:
    return BROWSER_UNSAFE_PORTS | reserved


def excluded_ports(reserved_path: Path = RESERVED_PORTS_PATH) -> frozenset[int]:
    """What automatic choices skip: the browser-unsafe ports and the reserved ones.

    The same frozenset object comes back while the reserved ports stay the same, so callers
    may cache on identity.
    """
    return _excluded(reserved_ports(reserved_path))


def _overlap(span: PortRange, other: PortRange) -> int:
    return max(0, min(span.end, other.end) - max(span.start, other.start) + 1)


def range_warnings(range: PortRange, ephemeral_path: Path = EPHEMERAL_RANGE_PATH) -> list[str]:
    """One message when ``range`` overlaps the kernel's ephemeral range, else none."""
    ephemeral = ephemeral_range(ephemeral_path)
    if ephemeral is None:
        return []
    shared = _overlap(range, ephemeral)
    if not shared:
        return []
    ports = "port" if shared == 1 else "ports"
    return [
        f"the range {range} shares {shared} {ports} with the kernel's ephemeral range "
        f"{ephemeral} (ip_local_port_range), which it hands to outgoing connections: one may "
        "take such a port between its allocation and your server's bind; choose a range "
        f"outside {ephemeral}"
    ]


def port_warnings(
    port: int,
    *,
    reserved_path: Path = RESERVED_PORTS_PATH,
    ephemeral_path: Path = EPHEMERAL_RANGE_PATH,
) -> list[str]:
    """What is wrong with a port chosen explicitly (``reserve``, ``--preferred``): it is
    honoured, with these messages; an empty list for a good port."""
    warnings = []
    service = _BAD_PORTS.get(port)
    if service is not None:
        known = "" if service == "-" else f" ({service})"
        warnings.append(
            f"port {port}{known} is on the fetch standard's list of bad ports: browsers refuse "
            "to connect to it (ERR_UNSAFE_PORT), though curl and other clients can"
        )
    if port in reserved_ports(reserved_path):
        warnings.append(
            f"port {port} is reserved on this host (ip_local_reserved_ports): the administrator "
            "set it aside for a service of theirs"
        )
    ephemeral = ephemeral_range(ephemeral_path)
    if ephemeral is not None and port in ephemeral:
        warnings.append(
            f"port {port} is in the kernel's ephemeral range {ephemeral} (ip_local_port_range): "
            "an outgoing connection may take it while your server is not listening"
        )
    return warnings
