"""aioports on hosts unlike the developer's: no IPv6, another user, a read-only registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NO_IPV6 = textwrap.dedent(
    """
    import socket, sys, anyio
    from aioports import PortManager
    async def main():
        pm = PortManager(sys.argv[1])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        print((await pm.probe(busy)).in_use)
        print(await pm.allocate((busy, busy + 1)) == busy + 1)
    anyio.run(main)
    """
)

needs_root_and_unshare = pytest.mark.skipif(
    not hasattr(os, "geteuid")
    or os.geteuid() != 0
    or any(shutil.which(tool) is None for tool in ("unshare", "ip", "sysctl")),
    reason="needs root, and unshare(1), ip(8) and sysctl(8) on PATH, to build a network namespace",
)


@needs_root_and_unshare
def test_a_host_with_ipv6_disabled(tmp_path: Path) -> None:
    script = (
        "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
        '&& sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && exec "$0" -c "$1" "$2"'
    )
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, sys.executable, NO_IPV6, str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"cannot make a network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


AS_NOBODY = textwrap.dedent(
    """
    import os, sys, anyio
    # The interpreter may live where the unprivileged user cannot read: import first.
    import anyio._backends._asyncio, concurrent.futures.thread, psutil
    from aioports import PortManager, PermissionDeniedError, AioportsError
    os.setgid(65534)
    os.setuid(65534)
    async def main():
        try:
            await PortManager(sys.argv[1]).list_allocations()
        except PermissionDeniedError as exc:
            kinds = isinstance(exc, PermissionError), isinstance(exc, AioportsError)
            print(type(exc).__name__, *kinds)
            print(exc)
    anyio.run(main)
    """
)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize("layout", ["folder refused", "registry refused"])
def test_permission_refused_is_a_typed_error(tmp_path: Path, layout: str) -> None:
    tmp_path.chmod(0o755)
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700 if layout == "folder refused" else 0o777)
    registry = folder / "registry.json"
    if layout == "registry refused":
        folder.chmod(0o777)
        registry.write_bytes(b'{"version": 1, "leases": {}}')
        registry.chmod(0o600)
        (folder / "registry.json.lock").touch(mode=0o666)
        (folder / "registry.json.lock").chmod(0o666)
    done = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(registry)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, message = done.stdout.splitlines()
    assert first == "PermissionDeniedError True True"
    assert str(folder) in message
    if layout == "registry refused":
        assert registry.read_bytes() == b'{"version": 1, "leases": {}}'
    else:
        assert not registry.exists()
