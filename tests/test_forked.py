"""The forked children of tests/forked.py behave as ``python -c`` children do, in what the
tests that use them rely on: a failure in a child must fail its test."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import forked
import psutil
import pytest


@pytest.mark.parametrize(
    ("code", "status", "said"),
    [
        ("print('out'); import sys; print('err', file=sys.stderr)", 0, ("out\n", "err\n")),
        ("import sys; sys.exit(3)", 3, ("", "")),
        ("raise SystemExit('bye')", 1, ("", "bye\n")),
        ("import os; os._exit(5)", 5, ("", "")),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM, ("", "")),
    ],
    ids=["output", "exit", "exit-message", "os-exit", "signal"],
)
def test_exit_status_and_streams_as_python_c_gives_them(
    code: str, status: int, said: tuple[str, str]
) -> None:
    child = forked.start(code)
    assert child.communicate(timeout=30) == said
    assert child.returncode == status


def test_an_exception_is_a_traceback_and_status_1() -> None:
    child = forked.start("def f():\n    raise ValueError('no')\nf()")
    out, err = child.communicate(timeout=30)
    assert (child.returncode, out) == (1, "")
    assert err.startswith('Traceback (most recent call last):\n  File "<string>", line 3')
    assert err.endswith("ValueError: no\n")
    assert "forked.py" not in err  # the zygote's own frames are not the child's
    with pytest.raises(AssertionError, match="ValueError: no"):
        forked.run("raise ValueError('no')")


def test_arguments_environment_folder_and_stdin_are_the_childs_own(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "print(sys.argv, os.getcwd(), os.environ.get('ONLY'), 'HOME' in os.environ)\n"
        "print(sys.stdin.readline().strip())"
    )
    child = forked.start(code, "a", "b c", env={"ONLY": "1"}, cwd=tmp_path, stdin=forked.PIPE)
    assert child.stdin is not None
    child.stdin.write("typed\n")
    child.stdin.flush()
    out, _ = child.communicate(timeout=30)
    assert out == f"['-c', 'a', 'b c'] {tmp_path} 1 False\ntyped\n"


def test_a_child_is_a_process_of_its_own_that_a_signal_ends() -> None:
    child = forked.start("import time; print('up', flush=True); time.sleep(600)")
    assert child.stdout is not None
    assert child.stdout.readline() == "up\n"
    assert child.pid not in (os.getpid(), os.getppid())
    # The zygote's child, not ours (where it forks: elsewhere a python -c child of ours).
    assert (psutil.Process(child.pid).ppid() != os.getpid()) is forked.FORKS
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    child.send_signal(signal.SIGKILL)  # once it has exited, nothing is signalled
    child.stdout.close()
    assert child.stderr is not None
    child.stderr.close()


def test_children_run_at_the_same_time() -> None:
    first = forked.start("input(); print('first')", stdin=forked.PIPE)
    second = forked.start("print('second')")
    assert second.communicate(timeout=30) == ("second\n", "")
    assert first.poll() is None  # still waiting for its line
    assert first.stdin is not None
    first.stdin.write("go\n")
    first.stdin.flush()
    assert first.communicate(timeout=30) == ("first\n", "")
    assert (first.returncode, second.returncode) == (0, 0)


def test_a_script_runs_as_python_script_runs_it(tmp_path: Path) -> None:
    (tmp_path / "sibling.py").write_text("WHERE = 'next to the script'\n")
    script = tmp_path / "main.py"
    code = (
        "import sys, sibling\n"
        "print(sys.argv, __file__ == sys.argv[0], sys.path[0], sibling.WHERE)\n"
        "raise SystemExit(4)"
    )
    script.write_text(code)
    child = forked.start(code, "x", script=script, cwd="/")
    out, err = child.communicate(timeout=30)
    assert (child.returncode, err) == (4, "")
    assert out == f"[{str(script)!r}, 'x'] True {tmp_path} next to the script\n"


def test_python_c_has_the_working_folder_first_on_sys_path(tmp_path: Path) -> None:
    (tmp_path / "here.py").write_text("NAME = 'here'\n")
    child = forked.start("import sys, here; print(repr(sys.path[0]), here.NAME)", cwd=tmp_path)
    assert child.communicate(timeout=30) == ("'' here\n", "")
    assert child.returncode == 0
