from __future__ import annotations

import os
import socket
import textwrap

import forked
import pytest
from helpers import bindable, free_port
from processes import listener_process

from aioports import InvalidPortError, PortManager, PortStatus


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "::"])
async def test_listener_in_a_child_is_in_use(manager: PortManager, host: str) -> None:
    with listener_process(host) as (_, port):
        result = await manager.probe(port)
        assert result.in_use
        assert result.status is PortStatus.IN_USE
        assert result.port == port
        assert not bindable(port)


async def test_free_port_is_free(manager: PortManager) -> None:
    port = free_port()
    result = await manager.probe(port)
    assert result.port == port
    assert not result.in_use
    assert result.status is PortStatus.FREE


async def test_bound_but_not_listening_is_in_use(manager: PortManager) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert (await manager.probe(port)).in_use


async def test_ipv6_only_listener_is_in_use(manager: PortManager) -> None:
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::1", 0))
        sock.listen()
        assert (await manager.probe(sock.getsockname()[1])).in_use


async def test_probe_frees_its_own_sockets(manager: PortManager) -> None:
    port = free_port()
    for _ in range(3):
        assert not (await manager.probe(port)).in_use
    assert bindable(port)


@pytest.mark.parametrize("value", [0, -1, 65536, 70000, "abc", 3.5, True, None])
async def test_bad_ports(manager: PortManager, value: object) -> None:
    with pytest.raises(InvalidPortError):
        await manager.probe(value)  # type: ignore[arg-type]


PRIVILEGED = textwrap.dedent(
    """
    import os, sys, anyio
    import anyio._backends._asyncio  # imported before dropping privileges
    from aioports import PortManager
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    async def main():
        result = await PortManager(sys.argv[1]).probe(int(sys.argv[2]))
        print(result.status.value, result.in_use)
    anyio.run(main)
    """
)


def _lowest_unprivileged_port() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as file:
            return int(file.read())
    except OSError:
        return 1024


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX privileges")
def test_privileged_port_is_denied_not_free(tmp_path: object) -> None:
    limit = _lowest_unprivileged_port()
    if limit <= 1:
        pytest.skip("every port is unprivileged on this host")
    port = next(p for p in range(limit - 1, 0, -1) if bindable(p))
    out = forked.run(PRIVILEGED, f"{tmp_path}/r.json", str(port))
    assert out.split() == ["denied", "True"]
