"""Occupiers across users, for real: a listener run as nobody, and a detector run as nobody.

Both need root to set up (a child switching to uid 65534); they are skipped otherwise.
"""

from __future__ import annotations

import json
import os
import socket

import forked
import pytest
from helpers import bindable
from processes import POLITE, alive, spawn

from aioports import PermissionDeniedError, PortManager

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users"
)

# Runs as root until everything is imported and warmed up, then becomes nobody and looks at
# a port that root holds: root's /proc/<pid>/fd is now closed to it.
DETECT_AS_NOBODY = """
import asyncio, json, os, sys
from aioports import PermissionDeniedError, PortManager
port = int(sys.argv[1])
pm = PortManager(os.path.join(sys.argv[2], "registry.json"))
asyncio.run(pm.detect_occupiers(port))
os.setgid(65534)
os.setuid(65534)
occupiers = asyncio.run(pm.detect_occupiers(port))
try:
    asyncio.run(pm.kill_occupier(port))
    refused = None
except PermissionDeniedError as exc:
    refused = str(exc)
print(json.dumps({"occupiers": [o.to_dict() for o in occupiers], "refused": refused}))
"""


def test_a_hidden_holder_is_an_unknown_process_never_free(tmp_path: object) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        seen = json.loads(forked.run(DETECT_AS_NOBODY, str(port), str(tmp_path)))
    (occupier,) = seen["occupiers"]
    assert occupier["pid"] is None
    assert occupier["process_name"] is None
    assert occupier["uid"] == 0
    assert occupier["status"] == "LISTEN"
    assert occupier["addresses"] == ["127.0.0.1"]
    assert "cannot see (uid 0)" in seen["refused"]


async def test_another_users_process_needs_the_explicit_flag(manager: PortManager) -> None:
    with spawn(POLITE, user=NOBODY) as child:
        occupier = await manager.detect_occupier(child.port)
        assert occupier is not None
        assert (occupier.pid, occupier.uid, occupier.username) == (child.pid, NOBODY, "nobody")
        with pytest.raises(PermissionDeniedError, match="belongs to user nobody") as caught:
            await manager.kill_occupier(child.port)
        assert caught.value.pid == child.pid
        assert alive(child.pid)
        result = await manager.kill_occupier(child.port, allow_other_users=True)
        assert result.killed, result.message
        assert bindable(child.port)


RESERVE_AS_NOBODY = """
import asyncio, os, sys
from aioports import PermissionDeniedError, PortManager
os.setgid(65534)
os.setuid(65534)
try:
    asyncio.run(PortManager(sys.argv[1]).reserve(81))
except PermissionDeniedError as exc:
    print("refused:", exc)
else:
    print("reserved")
"""


def test_reserving_a_privileged_port_as_a_normal_user_is_refused(tmp_path: object) -> None:
    # Nothing is recorded, nor even opened: the registry path is one nobody could not write.
    out = forked.run(RESERVE_AS_NOBODY, os.path.join(str(tmp_path), "registry.json"))
    assert out.startswith("refused: port 81 is privileged"), out
