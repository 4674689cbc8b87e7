"""Kill safety against real processes: no ancestor of the caller, and no recycled PID, is
ever signalled."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
from processes import POLITE, alive, run_python, spawn

from aioports import Occupier
from aioports._identity import (
    ProcessIdentity,
    is_gone,
    process_identity,
    same_process,
    send_signal,
    start_token,
)
from aioports._occupier import identity_of

# A server that holds a port and runs, through a shell that stays between them, the CLI that
# kills whatever holds that port: the server is the killer's grandparent, neither its parent
# nor its process-group leader.
GRANDPARENT_RUNS_THE_KILL = """
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
port = s.getsockname()[1]
kill = f"{sys.executable} -m aioports --kill-port {port} --force; echo exit=$?"
done = subprocess.run(["sh", "-c", kill], capture_output=True, text=True, timeout=60)
print(done.stdout, done.stderr, "the server survived", sep="\\n", flush=True)
"""


def test_kill_port_refuses_its_grandparent(tmp_path: Path) -> None:
    env = {"AIOPORTS_REGISTRY": str(tmp_path / "registry.json")}
    said = run_python(GRANDPARENT_RUNS_THE_KILL, env=env)
    assert "the server survived" in said  # SIGKILLed, run_python would have failed instead
    assert "it is an ancestor of this process" in said
    assert "exit=1" in said


def test_a_live_process_whose_start_token_differs_is_not_signalled() -> None:
    # What a PID recycled within one clock tick of the holder's start looks like: the same
    # PID and wall-clock start, another start token. Forking until a PID repeats is too slow,
    # so the recorded identity is made to differ in its token alone.
    with spawn(POLITE) as child:
        now = process_identity(child.pid)
        assert now.token is not None
        assert now.token == start_token(child.pid)
        recorded = ProcessIdentity(child.pid, now.create_time, "linux:another-boot:1")
        assert not same_process(recorded, now)
        assert not send_signal(recorded, force=True)
        assert is_gone(recorded)
        assert alive(child.pid)
        # A holder record carrying that token is refused the same way on the kill path.
        occupier = Occupier(
            pid=child.pid,
            process_name="python",
            port=child.port,
            create_time=now.create_time,
            start_token=recorded.token,
        )
        assert not send_signal(identity_of(occupier), force=True)
        assert alive(child.pid)
        # And the true identity is signalled: the check is not simply refusing everything.
        process = psutil.Process(child.pid)
        assert send_signal(now, force=True)
        process.wait(timeout=10)  # gone (its parent, the zygote, reaps it at once)
        assert not alive(child.pid)


def test_tokens_decide_exactly_and_the_clock_only_without_them() -> None:
    me = process_identity(os.getpid())
    assert same_process(me, ProcessIdentity(me.pid, me.create_time + 0.005, None))
    assert not same_process(me, ProcessIdentity(me.pid, me.create_time + 0.02, None))
    # A stepped clock moves the wall-clock start; the token still says it is the same one.
    assert same_process(me, ProcessIdentity(me.pid, me.create_time + 3600, me.token))
    assert not same_process(me, ProcessIdentity(me.pid, me.create_time, f"{me.token}0"))
    assert not same_process(me, ProcessIdentity(me.pid + 1, me.create_time, me.token))
