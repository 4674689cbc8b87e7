"""The shared file helpers: small reads that refuse what is no regular file, and the safe,
atomic replacement every file aioports writes outside the registry goes through."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from processes import exited_pid

from aioports._files import is_temp_name, read_file, read_small_file, replace_file, temp_path


def test_read_small_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert read_small_file(path, 3) == b"abc"
    with pytest.raises(OSError, match="over 2 bytes") as caught:
        read_small_file(path, 2)
    assert caught.value.errno == errno.EFBIG
    with pytest.raises(FileNotFoundError):
        read_small_file(tmp_path / "missing", 10)


def test_read_small_file_refuses_what_is_no_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would hang a blocking open
    with pytest.raises(OSError, match="not a regular file"):
        read_small_file(fifo, 10)
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        read_small_file(tmp_path, 10)


def test_read_file_can_refuse_links(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"x")
    target.chmod(0o640)
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_file(link, 10) == (b"x", 0o640)
    with pytest.raises(OSError, match="Too many levels") as caught:
        read_file(link, 10, follow_links=False)
    assert caught.value.errno == errno.ELOOP


def test_temp_names_are_unpredictable_and_recognised(tmp_path: Path) -> None:
    target = tmp_path / "settings.toml"
    first, second = temp_path(target), temp_path(target)
    assert first != second
    assert first.parent == tmp_path
    assert is_temp_name(first.name, ".settings.toml.") == (os.getpid(), first.name[-20:-4])
    for other in (".settings.toml.x-0123456789abcdef.tmp", ".settings.toml.1-xyz.tmp",
                  ".settings.toml.1-0123456789ABCDEF.tmp", "settings.toml.tmp"):  # fmt: skip
        assert is_temp_name(other, ".settings.toml.") is None


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_replace_file_sets_the_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "out"
    old = os.umask(0o077 if mode == 0o644 else 0)
    try:
        replace_file(path, b"one", mode)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"one"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    replace_file(path, b"two", mode)
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp file left


def test_replace_file_sweeps_dead_writers_only(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    dead = tmp_path / f".{path.name}.{exited_pid()}-0123456789abcdef.tmp"
    live = tmp_path / f".{path.name}.{os.getppid()}-fedcba9876543210.tmp"
    for temp in (dead, live):
        temp.write_bytes(b"partial")
    replace_file(path, b"X=1\n", 0o600)
    assert not dead.exists()
    assert live.exists()


def test_a_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "out").mkdir()  # a folder in the file's place: the rename fails
    with pytest.raises(IsADirectoryError):
        replace_file(folder / "out", b"x", 0o600)
    assert [p.name for p in folder.iterdir()] == ["out"]
