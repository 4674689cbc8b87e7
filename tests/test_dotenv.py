"""``aioports env`` output and ``.env`` block writes: every byte outside the block is kept,
byte for byte (CRLF, a byte-order mark, no final newline, bytes that are not UTF-8); lines
outside it are warned about, never edited; the write refuses links, folders and FIFOs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from aioports import EnvFileError, InvalidArgumentError
from aioports._dotenv import render, write_block

PORTS = {"PORT": 8000, "API_PORT": 8001}
BLOCK = b"# >>> aioports >>>\nPORT=8000\nAPI_PORT=8001\n# <<< aioports <<<\n"


def test_render_formats() -> None:
    assert render(PORTS) == "PORT=8000\nAPI_PORT=8001\n"
    assert render(PORTS, "shell") == "export PORT=8000\nexport API_PORT=8001\n"
    text = render(PORTS, "json")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert orjson.loads(text) == PORTS
    assert list(orjson.loads(text)) == ["PORT", "API_PORT"]  # the order given
    assert render({}) == ""
    assert render({}, "json") == "{}\n"


@pytest.mark.parametrize(
    ("values", "format", "words"),
    [
        (PORTS, "yaml", "format must be one of dotenv, shell, json"),
        ({"MY-PORT": 1}, "dotenv", "not a shell variable name"),
        ({"1PORT": 1}, "shell", "not a shell variable name"),
        ({"": 1}, "dotenv", "not a shell variable name"),
        ({"PORT": 70000}, "dotenv", "PORT: invalid port 70000"),
        ({"PORT": True}, "json", "PORT: invalid port True"),
        ({"PORT": "8000"}, "dotenv", "invalid port '8000'"),
        ([("PORT", 1)], "dotenv", "must map variable names to ports"),
    ],
)
def test_render_refuses_bad_input(values: object, format: str, words: str) -> None:
    with pytest.raises(InvalidArgumentError, match=words):
        render(values, format)  # type: ignore[arg-type]


def test_a_new_file_is_the_block_alone_and_private(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    old = os.umask(0)
    try:
        assert write_block(path, PORTS).warnings == []
    finally:
        os.umask(old)
    assert path.read_bytes() == BLOCK
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temp file left


# (original file, what it becomes); the block is BLOCK with the file's line ends
CASES = [
    (b"", BLOCK),
    (b"SECRET=x\n", b"SECRET=x\n" + BLOCK),
    (b"SECRET=x", b"SECRET=x\n" + BLOCK),  # no final newline: one is added before the block
    (b"A=1\r\nB=2\r\n", b"A=1\r\nB=2\r\n" + BLOCK.replace(b"\n", b"\r\n")),
    (b"\xef\xbb\xbfA=1\n", b"\xef\xbb\xbfA=1\n" + BLOCK),
    (b"# notes\n\n\nA= spaced  \t\n", b"# notes\n\n\nA= spaced  \t\n" + BLOCK),
    (b"BIN=\xff\xfe\x00\n", b"BIN=\xff\xfe\x00\n" + BLOCK),  # not UTF-8: kept as bytes
    # An existing block is replaced in place; what is around it stays.
    (b"A=1\n# >>> aioports >>>\nPORT=1\n# <<< aioports <<<\nB=2",
     b"A=1\n" + BLOCK + b"B=2"),
    (b"A=1\r\n# >>> aioports >>>\r\nPORT=1\r\nOLD=2\r\n# <<< aioports <<<\r\nB=2\r\n",
     b"A=1\r\n" + BLOCK.replace(b"\n", b"\r\n") + b"B=2\r\n"),
    (b"\xef\xbb\xbf# >>> aioports >>>\n# <<< aioports <<<", b"\xef\xbb\xbf" + BLOCK[:-1]),
    (b"A=1\n  # >>> aioports >>>  \nX=1\n# <<< aioports <<<\t\n", b"A=1\n" + BLOCK),
]  # fmt: skip


@pytest.mark.parametrize(("original", "expected"), CASES)
def test_every_byte_outside_the_block_is_kept(
    tmp_path: Path, original: bytes, expected: bytes
) -> None:
    path = tmp_path / ".env"
    path.write_bytes(original)
    write_block(path, PORTS)
    assert path.read_bytes() == expected
    write_block(path, PORTS)  # again: nothing changes
    assert path.read_bytes() == expected


def test_updating_the_block_twice_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    before, after = b"# mine\r\nDB=postgres://x\r\n", b"\r\nLAST=1"
    path.write_bytes(before + b"# >>> aioports >>>\r\n# <<< aioports <<<\r\n" + after)
    write_block(path, {"PORT": 3000})
    write_block(path, {"PORT": 3001, "WORKER_PORT": 3002})
    data = path.read_bytes()
    assert data.startswith(before)
    assert data.endswith(after)
    assert data[len(before) : -len(after)] == (
        b"# >>> aioports >>>\r\nPORT=3001\r\nWORKER_PORT=3002\r\n# <<< aioports <<<\r\n"
    )


def test_the_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\n")
    path.chmod(0o640)
    write_block(path, PORTS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write_block(path, PORTS)
    inode = path.stat().st_ino
    write_block(path, PORTS)
    assert path.stat().st_ino == inode  # a rewrite would have renamed a new file in
    write_block(path, {"PORT": 9})
    assert path.stat().st_ino != inode


def test_lines_outside_the_block_are_warned_about_not_edited(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    original = b"PORT=3000\nexport API_PORT = 1\n  OTHER=2\n#PORT=4\nPORTS=5\n"
    path.write_bytes(original)
    warnings = write_block(path, PORTS).warnings
    assert path.read_bytes() == original + BLOCK
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}:1: PORT is also set outside the aioports block, before")
    assert warnings[1].startswith(f"{path}:2: API_PORT is also set")
    path.write_bytes(BLOCK + b"PORT=1\n")
    (after,) = write_block(path, PORTS).warnings
    assert f"{path}:5: PORT" in after
    assert "after it" in after


def test_a_link_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    target = tmp_path / "real.env"
    target.write_bytes(b"A=1\n")
    link = tmp_path / ".env"
    link.symlink_to(target)
    with pytest.raises(EnvFileError, match="symbolic link") as caught:
        write_block(link, PORTS)
    assert caught.value.path == link
    assert target.read_bytes() == b"A=1\n"
    assert link.is_symlink()
    dangling = tmp_path / "dangling.env"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(EnvFileError, match="symbolic link"):
        write_block(dangling, PORTS)
    assert not (tmp_path / "nowhere").exists()


def test_folders_fifos_and_missing_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.env").mkdir()
    with pytest.raises(EnvFileError, match="it is a folder"):
        write_block(tmp_path / "dir.env", PORTS)
    os.mkfifo(tmp_path / "fifo.env")  # must not hang
    with pytest.raises(EnvFileError, match="not a regular file"):
        write_block(tmp_path / "fifo.env", PORTS)
    with pytest.raises(EnvFileError, match="does not exist"):
        write_block(tmp_path / "missing" / ".env", PORTS)
    assert not (tmp_path / "missing").exists()


def test_a_broken_block_is_refused(tmp_path: Path) -> None:
    for text in (b"# >>> aioports >>>\nPORT=1\n", b"# <<< aioports <<<\n# >>> aioports >>>\n",
                 BLOCK + BLOCK):  # fmt: skip
        path = tmp_path / ".env"
        path.write_bytes(text)
        with pytest.raises(EnvFileError, match="block is broken"):
            write_block(path, PORTS)
        assert path.read_bytes() == text


def test_bad_values_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\n")
    with pytest.raises(InvalidArgumentError):
        write_block(path, {"PORT": 0})
    assert path.read_bytes() == b"A=1\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only folders")
def test_a_refused_write_is_an_env_file_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / ".env").write_bytes(b"A=1\n")
    folder.chmod(0o500)
    try:
        with pytest.raises(EnvFileError, match="cannot write it"):
            write_block(folder / ".env", PORTS)
    finally:
        folder.chmod(0o700)
    assert (folder / ".env").read_bytes() == b"A=1\n"


def test_a_too_large_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(EnvFileError, match="over"):
        write_block(path, PORTS)
