"""``aioports.listen_fds()``: the sockets a supervisor passed from fd 3 on, in a fresh process
each time (fd 3 is the child's own to set up)."""

from __future__ import annotations

import json
import textwrap

import forked
import pytest

# Puts a listening socket (or, with argv[1] == "pipe", a pipe) on fd 3, sets the variables as
# argv[2:] say (NAME=VALUE, "{pid}" is this process's PID), calls listen_fds(argv[1] flag)
# twice and prints what it saw as JSON.
CHILD = textwrap.dedent(
    """
    import json, os, socket, sys
    import aioports
    kind, keep, assignments = sys.argv[1], sys.argv[2] == "keep", sys.argv[3:]
    if kind == "pipe":
        fd, write = os.pipe()
    else:
        fd = socket.create_server(("127.0.0.1", 0)).detach()
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    for item in assignments:
        name, _, value = item.partition("=")
        os.environ[name] = value.replace("{pid}", str(os.getpid()))
    try:
        first = aioports.listen_fds(unset_environment=not keep)
    except aioports.InvalidArgumentError as exc:
        print(json.dumps({"error": str(exc), "argument": exc.argument}))
        sys.exit()
    second = aioports.listen_fds()
    print(json.dumps({
        "first": [[s.fileno(), s.family == socket.AF_INET, s.type == socket.SOCK_STREAM,
                   s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)] for s in first],
        "cloexec": [not os.get_inheritable(s.fileno()) for s in first],
        "second": len(second),
        "left": sorted(k for k in os.environ if k.startswith("LISTEN_")),
    }))
    """
)


def _child(kind: str, keep: bool, *assignments: str) -> dict[str, object]:
    out = forked.run(CHILD, kind, "keep" if keep else "unset", *assignments)
    result: dict[str, object] = json.loads(out)
    return result


def test_takes_the_passed_socket_and_unsets_the_variables() -> None:
    seen = _child("socket", False, "LISTEN_PID={pid}", "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
    assert seen["first"] == [[3, True, True, 1]]  # fd 3, IPv4, stream, listening
    assert seen["cloexec"] == [True]
    assert seen["second"] == 0  # the variables are gone: a second call finds nothing
    assert seen["left"] == []


def test_unset_environment_false_leaves_them() -> None:
    seen = _child("socket", True, "LISTEN_PID={pid}", "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
    assert seen["first"] == [[3, True, True, 1]]
    assert seen["left"] == []  # the second call, with the default, removed them
    assert seen["second"] == 1


def test_sockets_meant_for_another_process_are_left_alone() -> None:
    seen = _child("socket", False, "LISTEN_PID=1", "LISTEN_FDS=1")
    assert (seen["first"], seen["left"]) == ([], [])


def test_nothing_passed() -> None:
    assert _child("socket", False)["first"] == []


@pytest.mark.parametrize(
    ("kind", "assignments", "argument"),
    [
        ("socket", ("LISTEN_PID={pid}", "LISTEN_FDS=x"), "LISTEN_FDS"),
        ("socket", ("LISTEN_PID=me", "LISTEN_FDS=1"), "LISTEN_PID"),
        ("pipe", ("LISTEN_PID={pid}", "LISTEN_FDS=1"), "LISTEN_FDS"),
    ],
)
def test_bad_variables_are_refused(kind: str, assignments: tuple[str, ...], argument: str) -> None:
    seen = _child(kind, False, *assignments)
    assert seen["argument"] == argument
    assert argument in str(seen["error"])
