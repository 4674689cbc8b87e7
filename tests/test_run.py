"""``aioports run``: real servers in real processes, real signals to the wrapper."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import forked
import psutil
import pytest
from cli_helpers import EXECUTABLE, CliRunner, Executable, assert_usage_error, validate
from helpers import free_block
from processes import reap
from repos import make_repo

from aioports._sync import SyncPortManager

UP = re.compile(
    r"^aioports: (?P<label>\S+) is up on http://(?P<host>\S+):(?P<port>\d+) \(PID (?P<pid>\d+)\)$"
)

# A small asyncio server on the socket passed by socket activation: it answers each
# connection with its environment facts, closes first (TIME_WAIT on its port) and, with
# argv[1] == "once", exits after one connection.
ACTIVATED = textwrap.dedent(
    """
    import asyncio, json, os, sys
    import aioports

    async def main():
        facts = {
            "listen_pid": os.environ.get("LISTEN_PID"),
            "listen_fds": os.environ.get("LISTEN_FDS"),
            "names": os.environ.get("LISTEN_FDNAMES"),
            "pid": os.getpid(),
        }
        [sock] = aioports.listen_fds()
        facts["left"] = sorted(k for k in os.environ if k.startswith("LISTEN_"))
        done = asyncio.Event()

        async def answer(reader, writer):
            writer.write(json.dumps(facts).encode())
            await writer.drain()
            writer.close()
            if sys.argv[1] == "once":
                done.set()

        server = await asyncio.start_server(answer, sock=sock)
        async with server:
            await done.wait()

    asyncio.run(main())
    """
)

# Ignores SIGTERM; listens on $PORT.
STUBBORN = textwrap.dedent(
    """
    import os, signal, socket, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
    time.sleep(600)
    """
)

# Forks a grandchild that listens on $PORT and prints its PID; argv[1] == "leave": the
# child exits at once.
FORKING = textwrap.dedent(
    """
    import os, socket, sys, time
    s = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
    grandchild = os.fork()
    if grandchild == 0:
        time.sleep(600)
        os._exit(0)
    print(os.environ["PORT"], grandchild, flush=True)
    s.close()
    if sys.argv[1] == "leave":
        sys.exit(5)
    time.sleep(600)
    """
)


@pytest.fixture
def run_cli(registry_path: Path) -> Executable:
    start = free_block(10)
    # Forked runs (tests/cli_helpers.Executable): the terminal tests start the script itself.
    return Executable(registry_path, range=f"{start}-{start + 9}", fork=True)


@contextlib.contextmanager
def running(
    cli: Executable, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[forked.Child]:
    """``aioports run ARGS`` as a child of its own session (so that only the signals the test
    sends reach it); afterwards SIGKILLs whatever is left of it and of its child's group."""
    proc = cli.popen("run", *args, env=env, cwd=cwd, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _groups_of(proc):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        reap(proc)


_CHILD_GROUPS: dict[int, list[int]] = {}


def _groups_of(proc: forked.Child) -> list[int]:
    return _CHILD_GROUPS.pop(proc.pid, [])


def up_line(proc: forked.Child) -> re.Match[str]:
    """Read stderr up to the "is up" line; remember the child's group for the cleanup."""
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        match = UP.match(line.rstrip("\n"))
        if match:
            _CHILD_GROUPS.setdefault(proc.pid, []).append(int(match["pid"]))
            return match
    raise AssertionError(f"no 'is up' line: {''.join(lines)}")


def finish(proc: forked.Child) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.wait(), out, err


def allocations(registry: Path) -> list[int]:
    return [a.port for a in SyncPortManager(registry).list_allocations()]


def get(port: int, host: str = "127.0.0.1") -> bytes:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as response:
        body: bytes = response.read()
        return body


def test_http_server_on_port(run_cli: Executable) -> None:
    http = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]
    with running(run_cli, "--once", "--", *http) as proc:
        up = up_line(proc)
        port = int(up["port"])
        assert up["host"] == "127.0.0.1"
        assert allocations(run_cli.registry) == [port]
        [entry] = SyncPortManager(run_cli.registry).list_allocations()
        assert entry.owner_pid == int(up["pid"])  # the child owns the one-shot port
        assert b"Directory listing" in get(port)
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C, passed on to the group
        code, out, _ = finish(proc)
    assert code == 0  # http.server exits 0 on KeyboardInterrupt
    assert "Serving HTTP" in out  # the child's stdout is its own; aioports writes none
    assert allocations(run_cli.registry) == []


def test_uvicorn_on_the_passed_fd(run_cli: Executable, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"hello"})
            """
        )
    )
    uvicorn = [sys.executable, "-m", "uvicorn", "--fd", "{fd}", "hello:app"]
    with running(run_cli, "--once", "--fd", "--", *uvicorn, cwd=tmp_path) as proc:
        port = int(up_line(proc)["port"])
        assert get(port) == b"hello"
        os.kill(proc.pid, signal.SIGTERM)
        code, _, err = finish(proc)
    # uvicorn shuts down cleanly, then dies of the signal it caught: passed through.
    assert code == 128 + signal.SIGTERM, err
    assert "Finished server process" in err
    assert allocations(run_cli.registry) == []


def _ask(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    facts: dict[str, object] = json.loads(data)
    return facts


def test_socket_activation_for_an_asyncio_server(run_cli: Executable) -> None:
    server = [sys.executable, "-c", ACTIVATED, "forever"]
    with running(run_cli, "--once", "--fd", "--app", "shop", "--", *server) as proc:
        up = up_line(proc)
        facts = _ask(int(up["port"]))
        assert facts["listen_pid"] == str(facts["pid"]) == up["pid"]
        assert facts["listen_fds"] == "1"
        assert facts["names"] == up["label"] == f"shop/{os.path.basename(sys.executable)}"
        assert facts["left"] == []  # listen_fds() unset them
        os.kill(proc.pid, signal.SIGTERM)
        code, _, _ = finish(proc)
    assert code == 128 + signal.SIGTERM  # asyncio's default: died of SIGTERM, passed through


def test_a_fd_restart_keeps_its_port_over_time_wait(run_cli: Executable) -> None:
    ports = []
    for _ in range(2):  # the second start meets the first one's TIME_WAIT
        with running(run_cli, "--once", "--fd", "--", sys.executable, "-c", ACTIVATED, "once") as p:
            port = int(up_line(p)["port"])
            _ask(port)  # the server hangs up first and exits: TIME_WAIT on the port
            assert finish(p)[0] == 0
        ports.append(port)
    assert len(set(ports)) == 1


def test_a_server_ignoring_sigterm_is_killed_after_the_grace(run_cli: Executable) -> None:
    with running(run_cli, "--once", "--grace", "0.3", "--", sys.executable, "-c", STUBBORN) as p:
        up = up_line(p)
        os.kill(p.pid, signal.SIGTERM)
        code, _, _ = finish(p)
    assert code == 128 + signal.SIGKILL
    assert not _alive(int(up["pid"]))
    assert allocations(run_cli.registry) == []


@pytest.mark.parametrize("how", ["sigint", "child-leaves"])
def test_no_grandchild_is_left_holding_the_port(run_cli: Executable, how: str) -> None:
    """The grandchild dies of the SIGTERM (or SIGINT) sent to the group, and ``run`` returns
    then, not when its grace runs out. PID 1 may reap orphans late (on this machine about 2 s
    late) or never (a container without an init): ``run`` reaps the grandchild it adopted as
    subreaper, or its zombie would keep the group alive, with a grace longer than
    ``finish`` waits."""
    mode = "leave" if how == "child-leaves" else "stay"
    grace = "600"  # far longer than finish() waits
    with running(
        run_cli, "--once", "--grace", grace, "--", sys.executable, "-c", FORKING, mode
    ) as p:
        assert p.stdout is not None
        port, grandchild = map(int, p.stdout.readline().split())
        _CHILD_GROUPS[p.pid] = [grandchild]
        if how == "sigint":
            up_line(p)
            os.kill(p.pid, signal.SIGINT)
        code, _, _ = finish(p)
        assert not _alive(grandchild)
    assert code == (5 if how == "child-leaves" else 128 + signal.SIGINT)
    with socket.create_server(("127.0.0.1", port)):  # free the moment run returns
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:  # reaped since the kill(0)
        return False


@pytest.mark.parametrize(("script", "code"), [("exit 7", 7), ("kill -USR1 $$", 128 + 10)])
def test_exit_codes_pass_through(run_cli: Executable, script: str, code: int) -> None:
    done = run_cli("run", "--once", "--", "sh", "-c", script)
    assert done.exit_code == code
    assert (done.stdout, done.stderr) == ("", "")
    assert allocations(run_cli.registry) == []


def test_environment_and_substitutions(run_cli: Executable) -> None:
    script = 'echo "$PORT $AIOPORTS_PORT $MY_PORT {host}:{port}"'
    inherited = {"PORT": "1", "AIOPORTS_PORT": "2", "MY_PORT": "3"}
    done = run_cli("run", "--once", "--host", "::1", "--", "sh", "-c", script, env=inherited)
    assert done.exit_code == 0, done.stderr
    port, aioports_port, mine, where = done.stdout.split()
    assert port == aioports_port == where.rpartition(":")[2] != "1"
    assert mine == "3"
    assert where.startswith("::1:")
    done = run_cli("run", "--once", "--env", "MY_PORT", "--", "sh", "-c", script, env=inherited)
    port, aioports_port, mine, _ = done.stdout.split()
    assert (port, mine) == ("1", aioports_port)  # --env NAME instead of PORT


def test_command_not_found_is_127(run_cli: Executable) -> None:
    done = run_cli("run", "--once", "--", "aioports-no-such-command")
    assert done.exit_code == 127
    assert done.stderr == "aioports: error: command not found: aioports-no-such-command\n"
    assert allocations(run_cli.registry) == []
    done = run_cli("run", "--once", "--json", "--", "aioports-no-such-command")
    assert done.exit_code == 127
    document = done.json()
    validate("error", document)
    assert document["error"]["type"] == "CommandNotFoundError"


BAD_RUNS = [
    ["run", "--once"],
    ["run", "--once", "--"],
    ["run", "--once", "--", ""],
    ["run", "--once", "--", "echo", "{fd}"],
    ["run", "--once", "--env", "", "--", "true"],
    ["run", "--once", "--env", "1X", "--", "true"],
    ["run", "--once", "--host", "10.255.255.1", "--", "true"],
    ["run", "--once", "--host", "localhost", "--", "true"],
    ["run", "--once", "--grace", "-1", "--", "true"],
    ["run", "web", "--once", "--", "true"],
]


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_bad_input_exits_2_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_mode: bool
) -> None:
    cli = CliRunner(monkeypatch, tmp_path / "registry.json")
    suffix = ["--json"] if json_mode else []
    runs = [[run[0], *suffix, *run[1:]] for run in BAD_RUNS]  # --json before the --
    for args, done in zip(BAD_RUNS, cli.many(runs), strict=True):
        assert_usage_error(args, done, json_mode=json_mode)
    assert not (tmp_path / "registry.json").exists() or cli.json("list", "list") == []


# -- named ports: the service's port from ensure and the project manifest -----------------


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A project ``shop`` with a manifest of two services."""
    return make_repo(
        tmp_path / "shop",
        files={".aioports.toml": 'app = "shop"\n[services]\nweb = {}\napi = { env = "API" }\n'},
    )


def test_a_service_runs_on_its_named_port_every_time(run_cli: Executable, shop: Path) -> None:
    script = 'echo "$WEB_PORT $AIOPORTS_PORT"'
    first = run_cli.popen("run", "web", "--", "sh", "-c", script, cwd=shop)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    env_port, port = out.split()
    assert env_port == port  # the manifest's variable (WEB_PORT by default for web)
    again = run_cli.popen("run", "web", "--", "sh", "-c", script, cwd=shop)
    assert again.communicate(timeout=60)[0].split() == [port, port]
    [entry] = SyncPortManager(run_cli.registry).list_allocations()
    assert (entry.port, entry.app, entry.service) == (int(port), "shop", "web")


def test_an_unknown_service_with_a_manifest_exits_2(run_cli: Executable, shop: Path) -> None:
    proc = run_cli.popen("run", "nope", "--", "true", cwd=shop)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "'nope' is not in" in err
    assert allocations(run_cli.registry) == []


def test_a_held_service_port_names_its_holder(run_cli: Executable, shop: Path) -> None:
    http = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    with running(run_cli, "web", "--", *http, cwd=shop) as first:
        up = up_line(first)
        port = up["port"]
        assert up["label"] == "shop/web"
        rival = run_cli.popen("run", "web", "--", *http, cwd=shop)
        _, err = rival.communicate(timeout=60)
        assert rival.returncode == 1
        held = rf"aioports: error: port {port} for shop/web is held by \S+ \(PID {up['pid']}\); "
        assert re.fullmatch(held + "--kill ends it\n", err), err
        with running(run_cli, "web", "--kill", "--", *http, cwd=shop) as second:
            assert up_line(second)["port"] == port
            assert not _alive(int(up["pid"]))
            os.kill(second.pid, signal.SIGTERM)
            assert finish(second)[0] == 128 + signal.SIGTERM
        assert finish(first)[0] != 0


def test_on_a_terminal_the_child_reads_it_and_gets_ctrl_c(run_cli: Executable) -> None:
    """The child's group is the terminal's foreground group while it runs: it may read the
    terminal (no SIGTTIN), and Ctrl-C typed there reaches it."""
    script = "import time; print('got', input(), flush=True); time.sleep(600)"
    proc, leader = _on_a_terminal(
        [EXECUTABLE, "run", "--once", "-q", "--", sys.executable, "-c", script], run_cli.env()
    )
    try:
        os.write(leader, b"hello\n")
        seen = b""
        while b"got hello" not in seen:
            chunk = os.read(leader, 1024)
            assert chunk, seen
            seen += chunk
        os.write(leader, b"\x03")  # Ctrl-C on the terminal
        assert proc.wait(timeout=30) == 128 + signal.SIGINT
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        reap(proc)
        os.close(leader)
    assert allocations(run_cli.registry) == []


JOB = """
import os, sys
print("ready", os.getpid(), os.getppid(), flush=True)
for line in sys.stdin:
    print("got", line.strip(), flush=True)
"""


def test_ctrl_z_stops_the_job_and_fg_continues_it(run_cli: Executable) -> None:
    """In an interactive shell, Ctrl-Z stops the child and the wrapper with it: the shell
    gets its prompt (and the terminal) back; ``fg`` gives both back to the child, which goes
    on reading the terminal; Ctrl-C then ends it."""
    import shlex

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    env = {**run_cli.env(), "PS1": "$ ", "HISTFILE": ""}  # HISTFILE empty: no history saved
    shell, leader = _on_a_terminal([bash, "--norc", "--noprofile", "-i"], env)
    terminal = _Terminal(leader)
    ours: list[psutil.Process] = []
    try:
        command = [EXECUTABLE, "run", "--once", "-q", "--", sys.executable, "-c", JOB]
        terminal.type(shlex.join(command) + "\n")
        ready = terminal.expect(rb"ready (\d+) (\d+)")
        ours = [psutil.Process(int(pid)) for pid in ready.groups()]  # the child, the wrapper
        terminal.type("\x1a")  # Ctrl-Z
        terminal.expect(rb"Stopped")
        terminal.type("echo shell-is-$((40 + 2))\n")
        terminal.expect(rb"shell-is-42")  # the shell reads the terminal again
        assert [p.status() for p in ours] == [psutil.STATUS_STOPPED] * 2
        terminal.type("fg\n")
        terminal.expect(rb"run --once -q -- ")  # the shell names the job it continues
        terminal.type("hello\n")
        terminal.expect(rb"got hello")  # the child reads the terminal again
        terminal.type("\x03")  # Ctrl-C
        terminal.expect(rb"\$ $")  # the prompt: the shell has the terminal again
        terminal.type("echo exit=$?\n")
        terminal.expect(rb"exit=130")
        terminal.type("exit\n")
        assert shell.wait(timeout=30) == 0
    finally:
        for process in ours:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.is_running():  # the same process: psutil checks the start time
                    process.kill()
        reap(shell)
        os.close(leader)
    assert allocations(run_cli.registry) == []


class _Terminal:
    """The leader side of a pty: what a user types, and what the terminal has shown."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, pattern: bytes) -> re.Match[bytes]:
        """Read until ``pattern`` shows up in what was shown since the last match."""
        while (found := re.search(pattern, self.seen)) is None:
            ready, _, _ = select.select([self.fd], [], [], 30)
            assert ready, f"{pattern!r} did not show up in {self.seen!r}"
            chunk = os.read(self.fd, 4096)
            assert chunk, self.seen
            self.seen += chunk
        self.seen = self.seen[found.end() :]
        return found


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """Start ``argv`` as the leader of a new session on a new pty, its controlling terminal
    (as a terminal emulator starts its shell); returns it and the pty's other side."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        preexec_fn=lambda: fcntl_ioctl_tiocsctty(0),
        text=True,
    )
    os.close(follower)
    return proc, leader


def fcntl_ioctl_tiocsctty(fd: int) -> None:
    """Make the pty on ``fd`` the controlling terminal of the new session (as a terminal
    emulator does for its shell)."""
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
