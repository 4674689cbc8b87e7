"""A child in a process group of its own: started with a listening socket on fd 3 (the systemd
socket activation protocol), sent the signals its supervisor gets, and ended with its group.

Why fork and exec by hand rather than ``subprocess``: socket activation wants ``LISTEN_PID``
to be the child's own PID, which only the child knows before it execs, and the socket on
exactly fd 3. The child does as little as it can between fork and exec (no thread of the
parent exists yet: :func:`spawn` runs before any is started), and reports a failed exec
through a close-on-exec pipe, as ``subprocess`` does, so that "command not found" is the
parent's error, not a message from the child.

A group of its own means one signal reaches the child and everything it started (a shell
script's server, ``npm run``'s node, a reloader's worker), and no grandchild is left holding
the port: :meth:`Group.wait` ends whatever is left of the group once the child has exited.
On a terminal the child's group becomes the foreground group, so that the child reads the
terminal and Ctrl-C reaches it directly, as a shell runs a job; the wrapper takes the terminal
back afterwards. Ctrl-C and Ctrl-Z reach the child's group only, so when the child stops the
wrapper stops itself, and the shell sees its job stopped; ``fg`` continues both. A process
that leaves the group (``setsid``, a daemon) escapes all this.

The wrapper is the child's subreaper (Linux): what the child leaves behind when it exits is
re-parented to the wrapper, not to PID 1, and reaped here. Where PID 1 reaps nobody (a
container started without an init, as many are), an orphan that has exited stays a zombie,
a member of the group for ``killpg``, and the group would look alive until its grace ran out.

POSIX only; plain sync code for the command line's main thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence

__all__ = ("FORWARDED", "STOPPING", "Group", "exit_code", "spawn")

#: the signals passed on to the child's group
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: those that ask to stop: the group is killed if it outlives the grace period after one
STOPPING = (signal.SIGINT, signal.SIGTERM)
#: where the passed socket goes (``SD_LISTEN_FDS_START``)
LISTEN_FD = 3
# What Python ignores for itself, and a child must get back at their defaults.
_RESTORED = tuple(
    sig for sig in (getattr(signal, "SIGPIPE", None), getattr(signal, "SIGXFSZ", None)) if sig
)
_POLL = 0.02
_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def _terminal() -> int | None:
    """fd 0 if it is a terminal whose foreground group is ours (we may hand it over)."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _foreground(fd: int) -> int | None:
    """The terminal's foreground process group, if it still has one."""
    try:
        return os.tcgetpgrp(fd)
    except OSError:
        return None


def _give_terminal(fd: int, pgid: int) -> None:
    """Make ``pgid`` the terminal's foreground group; SIGTTOU ignored meanwhile, since a
    background process (the child before it is handed the terminal, the wrapper after) that
    changes it would be stopped."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    listen_fd: int | None = None,
    grace: float = 5.0,
) -> Group:
    """Start ``argv`` (looked up on ``env``'s ``PATH``) in a new process group.

    :param grace: seconds the group gets to exit after a stop signal (see :class:`Group`)
    :param listen_fd: a listening socket to pass as fd 3, with ``LISTEN_FDS=1`` and
        ``LISTEN_PID`` set to the child's PID (``env`` brings ``LISTEN_FDNAMES``)
    :return: the running child
    :raises OSError: when the command cannot be executed (``FileNotFoundError`` when it is
        not found, ``PermissionError`` when it may not run), nothing left running.
    """
    args = list(argv)
    environment = dict(env)
    terminal = _terminal()
    _become_subreaper()
    report_read, report_write = os.pipe()  # both close-on-exec
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; it execs or exits
            _child(args, environment, listen_fd, terminal, report_write, blocked)
        os.close(report_write)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also here: whichever runs first, the group exists
        if terminal is not None:
            _give_terminal(terminal, pid)
        group = Group(pid, terminal, grace=grace)
        group.install()  # handlers in place before the blocked signals are delivered
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with os.fdopen(report_read, "rb") as report:
        failure = report.read()
    if failure:
        os.waitpid(pid, 0)
        group.restore()
        code = int(failure)
        raise OSError(code, os.strerror(code), args[0])
    return group


def _become_subreaper() -> None:
    """Have the orphans of the child's processes re-parented to this process (Linux's
    ``PR_SET_CHILD_SUBREAPER``; not inherited by the child). Elsewhere, or where it is
    refused, orphans go to PID 1 as before."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans() -> None:
    """Collect every child of this process that has exited: the orphans handed to it as
    subreaper (call it only once the child itself was waited for)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(  # pragma: no cover - runs in the forked child only
    args: list[str],
    env: dict[str, str],
    listen_fd: int | None,
    terminal: int | None,
    report: int,
    blocked: set[int | signal.Signals],
) -> None:
    try:
        os.setpgid(0, 0)
        if terminal is not None:
            _give_terminal(terminal, os.getpid())
        for sig in (*FORWARDED, *_RESTORED):
            if sig in _RESTORED or signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        if listen_fd is not None:
            if report == LISTEN_FD:
                report = os.dup(report)  # fd 3 is the socket's
            if listen_fd == LISTEN_FD:
                os.set_inheritable(LISTEN_FD, True)
            else:
                os.dup2(listen_fd, LISTEN_FD)  # inheritable
            env["LISTEN_FDS"] = "1"
            env["LISTEN_PID"] = str(os.getpid())
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.execvpe(args[0], args, env)
    except BaseException as exc:
        number = exc.errno if isinstance(exc, OSError) and exc.errno else 8  # ENOEXEC
        with contextlib.suppress(OSError):
            os.write(report, str(number).encode())
    finally:
        os._exit(127)


def exit_code(status: int) -> int:
    """The shell's exit code of a wait status: the child's code, 128 + N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class Group:
    """A running child and its process group (the group's id is the child's PID).

    :param terminal: the terminal handed to the group, to take back at the end
    """

    __slots__ = ("_killer", "_previous", "_terminal", "_waited", "grace", "pid")

    def __init__(self, pid: int, terminal: int | None, *, grace: float = 5.0) -> None:
        self.pid = pid
        self.grace = grace
        self._terminal = terminal
        self._previous: dict[int, object] = {}
        self._killer: threading.Timer | None = None
        self._waited = False

    def install(self) -> None:
        """Pass :data:`FORWARDED` signals on to the group (main thread only)."""
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._forward)

    def restore(self) -> None:
        """Put the previous signal handlers back, and take the terminal back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()
        if self._terminal is not None:
            if _foreground(self._terminal) == self.pid:  # not when it went on in the background
                _give_terminal(self._terminal, os.getpgrp())
            self._terminal = None

    def _forward(self, signum: int, frame: object) -> None:
        self.signal(signum)
        if signum in STOPPING and self._killer is None:
            # Asked to stop: the group gets the grace period, then SIGKILL.
            self._killer = threading.Timer(self.grace, self.signal, (signal.SIGKILL,))
            self._killer.daemon = True
            self._killer.start()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to every process of the group (none left: nothing happens)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def alive(self) -> bool:
        """Whether any process of the group is left (the child or one it started), once
        the orphans that exited are reaped (only after the child was waited for)."""
        if self._waited:
            _reap_orphans()
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def wait(self) -> int:
        """Wait for the child, then end the rest of its group; restore the handlers.

        :return: the child's exit code, or 128 + N when a signal N ended it
        """
        try:
            # On a terminal, also hear of the child stopping (Ctrl-Z): see _suspend.
            options = 0 if self._terminal is None else os.WUNTRACED
            while True:
                _, status = os.waitpid(self.pid, options)
                if not os.WIFSTOPPED(status):
                    break
                self._suspend()
            self._waited = True
            self._end_the_rest()
        finally:
            if self._killer is not None:
                self._killer.cancel()
            self.restore()
        return exit_code(status)

    def _suspend(self) -> None:
        """The child stopped (Ctrl-Z on the terminal): stop this process too, as a shell's job
        stops whole, so that the shell sees the job stopped and takes its terminal back.
        Once continued (``fg``, ``bg``), continue the group, and hand it the terminal again
        if this process has it (``fg``). SIGTSTP, not SIGSTOP: where no shell could continue
        this process (an orphaned group) the kernel discards it, and the child goes on."""
        terminal = self._terminal
        assert terminal is not None
        if _foreground(terminal) == self.pid:  # never take it from anyone else (after bg)
            _give_terminal(terminal, os.getpgrp())
        os.kill(os.getpid(), signal.SIGTSTP)  # here until continued
        if _foreground(terminal) == os.getpgrp():
            _give_terminal(terminal, self.pid)
        self.signal(signal.SIGCONT)

    def _end_the_rest(self) -> None:
        """SIGTERM whatever the child left running in its group; SIGKILL after the grace."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(_POLL)
        if self.alive():
            self.signal(signal.SIGKILL)
            deadline = time.monotonic() + 1.0
            while self.alive() and time.monotonic() < deadline:
                time.sleep(_POLL)  # until the kernel has taken them and they are reaped
