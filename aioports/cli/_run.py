"""``aioports run [SERVICE] [--once] [--fd] ... -- COMMAND [ARG...]``: start a server on its port.

The port is the service's named port (``ensure``: the same on every start), or with ``--once``
a one-shot allocation that the child owns and that goes when it ends. The child gets the port
in its environment (``PORT``, or ``--env NAME``, or the manifest's variable for the service,
and always ``AIOPORTS_PORT``, overriding inherited values) and in its arguments (``{port}``,
``{host}``, ``{fd}``). With ``--fd`` the socket is bound and listening before the child starts
and is passed as fd 3 by the systemd protocol, so the port is never unbound for a moment.

The child runs in a process group of its own (``_child.py``): SIGINT, SIGTERM and SIGHUP are
passed to the group, which is killed if it outlives the grace period after a stop; once the
child has exited, the rest of its group is ended too. ``run`` exits with the child's code,
128 + N when signal N ended it, 127 when the command is not found. When the server listens
(the child or one of its descendants), one line on stderr says where; aioports writes nothing
to stdout, and the child's streams are its own.

Every argument is checked before anything is recorded. Nothing heavy is imported at the top.
"""

from __future__ import annotations

import os

from ._errors import CliError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .. import Occupier
    from .._child import Group
    from .._sync import SyncPortManager
    from ._context import Context
    from ._results import Result

__all__ = ("CommandNotFoundError", "CommandNotRunnableError", "PortHeldError", "run")

DEFAULT_GRACE = 5.0
_UP_INTERVAL = 0.1


class CommandNotFoundError(CliError):
    """The command after ``--`` is not on ``PATH`` (exit code 127, as a shell's)."""

    exit_code = 127


class CommandNotRunnableError(CliError):
    """The command exists but may not be executed (exit code 126, as a shell's)."""

    exit_code = 126


class PortHeldError(CliError):
    """Another process holds the service's port (exit code 1); ``--kill`` ends it."""

    def __init__(self, message: str, port: int, occupier: Occupier | None) -> None:
        super().__init__(message)
        self.port = port
        self.occupier = occupier


class _Plan:
    """The checked arguments of one run."""

    __slots__ = ("argv", "env", "fd", "grace", "host", "kill", "quiet", "service")

    def __init__(self, ctx: Context) -> None:
        self.argv = list(ctx.parsed.rest)
        if not self.argv or not self.argv[0]:
            raise UsageError("run needs a command after --: aioports run [SERVICE] -- COMMAND")
        self.fd = ctx.flag("fd")
        if not self.fd and any("{fd}" in arg for arg in self.argv):
            raise UsageError("{fd} in the command needs --fd (the socket passed as fd 3)")
        self.env = ctx.text("env")
        if self.env is not None and not _env_name(self.env):
            raise UsageError(
                f"--env must be an environment variable name (letters, digits and _, not "
                f"starting with a digit), got {self.env!r}"
            )
        self.host = _local_host(ctx.text("host"))
        grace = ctx.seconds("grace")
        self.grace = DEFAULT_GRACE if grace is None else grace
        self.kill = ctx.flag("kill")
        self.quiet = ctx.parsed.quiet
        self.service = ctx.parsed.args.get("service")
        if ctx.flag("once") and self.service is not None:
            raise UsageError(
                f"--once takes no SERVICE: it runs on a port of its own, got {self.service!r}"
            )


def _env_name(text: str) -> bool:
    """Whether ``text`` is a variable name a shell takes: ASCII letters, digits and ``_``,
    not starting with a digit (without ``re``: it is not loaded at start-up)."""
    return (
        text.isascii()
        and bool(text)
        and not text[0].isdigit()
        and all(c.isalnum() or c == "_" for c in text)
    )


def _local_host(text: str | None) -> str:
    """``--host``: an IP address of this host (a bind to port 0 works there); 127.0.0.1 when
    not given.

    :raises InvalidArgumentError: otherwise (exit code 2).
    """
    import ipaddress
    import socket

    from .. import InvalidArgumentError

    if text is None:
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        message = f"--host must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::), got {text!r}"
        raise InvalidArgumentError("host", text, message) from None
    host = str(address)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            message = f"--host {host} is not an address of this host (127.0.0.1, ::1, 0.0.0.0, ::)"
            raise InvalidArgumentError("host", text, message) from None
    return host


def run(ctx: Context) -> Result:
    plan = _Plan(ctx)
    door = ctx.door()
    if ctx.flag("once"):
        return _run_once(ctx, plan, door)
    return _run_named(ctx, plan, door)


def _run_once(ctx: Context, plan: _Plan, door: SyncPortManager) -> Result:
    import contextlib

    from .. import ProcessGoneError
    from ._commands import _allocation_range, _metadata

    command = os.path.basename(plan.argv[0])
    metadata: dict[str, Any] = {**_metadata(ctx, ("app", "worktree")), "command": command}
    lease = door.acquire_lease(_allocation_range(ctx), metadata, hold=True, host=plan.host)
    try:
        app = metadata.get("app")
        label = f"{app}/{command}" if app else command
        sock = lease.socket
        assert sock is not None
        if plan.fd:
            sock.listen()
        else:
            lease.close_socket()  # the child binds it itself, a moment from now
        group = _start(plan, lease.port, None if not plan.fd else sock.fileno(), label)
        lease.close_socket()  # the child has its own copy
        # If the child has already gone, the port stays this process's until the end.
        with contextlib.suppress(ProcessGoneError):
            lease = door.hand_over(lease, group.pid)
        return _supervise(plan, group, lease.port, label)
    finally:
        lease.release_blocking()


def _run_named(ctx: Context, plan: _Plan, door: SyncPortManager) -> Result:
    from .._named import Call

    services = None if plan.service is None else [plan.service]
    request = door.ensure_request(Call(services, ctx.text("app"), ctx.text("worktree")))
    [ensured] = door.ensure_ports(request)
    port = ensured.port
    key = ensured.allocation
    label = f"{key.app}/{ensured.service}" if key.app else ensured.service
    if plan.env is None:
        plan.env = ensured.env
    _make_way(door, plan, port, label)
    sock = None
    if plan.fd:
        sock = _held(plan, port, label)
    try:
        group = _start(plan, port, None if sock is None else sock.fileno(), label)
    finally:
        if sock is not None:
            sock.close()  # the child has its own copy
    return _supervise(plan, group, port, label)


def _make_way(door: SyncPortManager, plan: _Plan, port: int, label: str) -> None:
    """Stop unless the port is free; with ``--kill``, end its holders first (the
    identity-checked kill), and stop cleanly when that does not free it.

    :raises PortHeldError: when a process holds it (and ``--kill`` was not given or failed).
    """
    from .. import PortStatus

    if door.probe(port).status is PortStatus.FREE:
        return
    holders = [o for o in door.detect_occupiers(port) if o.pid is not None]
    holder = holders[0] if holders else None
    who = "a socket no process holds" if holder is None else _named(holder)
    if not plan.kill or holder is None:
        hint = "; --kill ends it" if holder is not None else ""
        raise PortHeldError(f"port {port} for {label} is held by {who}{hint}", port, holder)
    result = door.run_async(lambda pm: pm.kill_occupier(port, escalate=True))
    if door.probe(port).status is not PortStatus.FREE:
        raise PortHeldError(
            f"port {port} for {label} is still held after --kill: {result.message}", port, holder
        )


def _named(occupier: Occupier) -> str:
    return f"{occupier.process_name or 'unknown process'} (PID {occupier.pid})"


def _held(plan: _Plan, port: int, label: str) -> Any:
    """The named port's socket, bound (over TIME_WAIT leftovers too) and listening."""
    import socket

    from .._held_socket import bind_held
    from .._steps import drive_sync

    family = socket.AF_INET6 if ":" in plan.host else socket.AF_INET
    sock = drive_sync(bind_held(family, plan.host, port))
    if sock is None:
        raise PortHeldError(f"port {port} for {label} cannot be bound on {plan.host}", port, None)
    sock.listen()
    return sock


def _start(plan: _Plan, port: int, listen_fd: int | None, label: str) -> Group:
    """Spawn the child with its environment and arguments.

    :raises CommandNotFoundError, CommandNotRunnableError: when it cannot be executed.
    """
    from .._child import spawn

    env = dict(os.environ)
    env[plan.env or "PORT"] = str(port)
    env["AIOPORTS_PORT"] = str(port)
    substitutions = {"{port}": str(port), "{host}": plan.host}
    if listen_fd is not None:
        env["LISTEN_FDNAMES"] = label.replace(":", "_")
        substitutions["{fd}"] = "3"
    argv = [_substituted(arg, substitutions) for arg in plan.argv]
    try:
        return spawn(argv, env, listen_fd=listen_fd, grace=plan.grace)
    except FileNotFoundError:
        raise CommandNotFoundError(f"command not found: {argv[0]}") from None
    except PermissionError:
        message = f"command cannot be run (permission denied): {argv[0]}"
        raise CommandNotRunnableError(message) from None
    except OSError as exc:
        message = f"command cannot be run: {argv[0]}: {exc.strerror}"
        raise CommandNotRunnableError(message) from None


def _substituted(arg: str, substitutions: dict[str, str]) -> str:
    for placeholder, value in substitutions.items():
        arg = arg.replace(placeholder, value)
    return arg


def _supervise(plan: _Plan, group: Group, port: int, label: str) -> Result:
    """Wait for the child (saying once when it is up) and return its exit code."""
    import threading

    done = threading.Event()
    watcher = None
    if not plan.quiet:
        watcher = threading.Thread(
            target=_say_when_up, args=(group.pid, port, plan.host, label, done), daemon=True
        )
        watcher.start()
    try:
        code = group.wait()
    finally:
        done.set()
    if watcher is not None:
        watcher.join(1.0)
    from ._results_run import Ran

    return Ran(code)


def _say_when_up(pid: int, port: int, host: str, label: str, done: Any) -> None:
    """Poll until the child's tree listens on the port, then write the one line; stop quietly
    when the child ends first."""
    import sys

    from .._wait import LISTENING, Watch

    watch = Watch(port, LISTENING, timeout=10**9, interval=_UP_INTERVAL, pid=pid)
    try:
        watch.start()
        while not done.is_set():
            result = watch.poll_listening()
            if result is not None:
                break
            done.wait(_UP_INTERVAL)
        else:
            return
    except Exception:
        return  # the child is gone, or the socket table is hidden: no line
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    address = f"[{shown}]" if ":" in shown else shown
    listener = result.pids[0] if result.pids else pid
    sys.stderr.write(f"aioports: {label} is up on http://{address}:{port} (PID {listener})\n")
    sys.stderr.flush()
