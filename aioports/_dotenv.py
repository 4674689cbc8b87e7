"""What ``aioports env`` prints, and how ``aioports env --write FILE`` updates a ``.env`` file.

:func:`render` gives the ports as ``PORT=8000`` lines (``dotenv``), ``export PORT=8000`` lines
(``shell``, for ``eval "$(aioports env --format shell)"``) or one JSON object (``json``).

:func:`write_block` keeps the ports in a fenced block of the file::

    # >>> aioports >>>
    PORT=8000
    API_PORT=8001
    # <<< aioports <<<

and never changes a byte outside it: a byte-order mark, CRLF line ends (the block uses the
file's), a last line without a newline, other lines and comments stay exactly as they were.
A new block goes at the end (after a line end when the last line has none, so the two do not
run together). A ``NAME=`` or ``export NAME=`` line outside the block for a name the block
sets gets a warning, never an edit: it is the user's, and most loaders let the last one win.

The write is safe like every file aioports writes (``_files.replace_file``): the old content is
read without following a link, a symbolic link, a folder, a FIFO or a device at the path is
refused, and the new content goes to an exclusively created temp file beside it that replaces
the file in one rename. The file keeps its permissions; a new one gets 0600 (a ``.env`` often
holds secrets next to the ports). Unchanged content is not rewritten.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from ._errors import EnvFileError, InvalidArgumentError, InvalidPortError
from ._files import read_file, replace_file
from ._models import validate_port
from ._records import record

__all__ = ("BLOCK_END", "BLOCK_START", "FORMATS", "Format", "render", "write_block")

Format = Literal["dotenv", "shell", "json"]
FORMATS: tuple[Format, ...] = ("dotenv", "shell", "json")
BLOCK_START = "# >>> aioports >>>"
BLOCK_END = "# <<< aioports <<<"
#: the mode of a new file
NEW_FILE_MODE = 0o600
#: the largest file updated: a .env is a few lines
MAX_ENV_FILE_BYTES = 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# An assignment as dotenv loaders and shells read it: optional export, a name, then "=".
_ASSIGNMENT = re.compile(rb"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")


def _checked(values: Mapping[str, int]) -> dict[str, int]:
    """``values`` as a dict, every name a shell variable name and every value a port."""
    if not isinstance(values, Mapping):
        raise InvalidArgumentError(
            "values", values, f"values must map variable names to ports, got {values!r}"
        )
    checked = {}
    for name, port in values.items():
        if not isinstance(name, str) or not _SHELL_NAME.match(name):
            raise InvalidArgumentError(
                "values", name, f"{name!r} is not a shell variable name (ASCII letters, digits "
                "and _, not starting with a digit)",
            )  # fmt: skip
        try:
            checked[name] = validate_port(port)
        except InvalidPortError as exc:
            raise InvalidArgumentError("values", port, f"{name}: {exc}") from exc
    return checked


def _lines(values: dict[str, int], prefix: str = "") -> list[str]:
    return [f"{prefix}{name}={port}" for name, port in values.items()]


def render(values: Mapping[str, int], format: Format = "dotenv") -> str:
    """The ports as text: ``PORT=8000`` lines, ``export PORT=8000`` lines, or one JSON object
    (``{"PORT": 8000}``) on one line; each format ends with a newline (none for no values,
    but ``{}`` in JSON).

    :raises InvalidArgumentError: for an unknown format, a name that is not a shell variable
        name, or a value that is not a port.
    """
    checked = _checked(values)
    if format == "json":
        import orjson

        return orjson.dumps(checked).decode() + "\n"
    if format not in FORMATS:
        raise InvalidArgumentError(
            "format", format, f"format must be one of {', '.join(FORMATS)}, got {format!r}"
        )
    prefix = "export " if format == "shell" else ""
    return "".join(line + "\n" for line in _lines(checked, prefix))


def _read(path: Path) -> tuple[bytes, int] | None:
    """The file's bytes and permissions, or None when there is none; a link is not followed."""
    try:
        return read_file(path, MAX_ENV_FILE_BYTES, follow_links=False)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise EnvFileError(path, f"the folder {path.parent} does not exist") from None
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EnvFileError(path, "it is a symbolic link; give the file it points to") from exc
        if exc.errno == errno.EINVAL:
            reason = "it is not a regular file (a FIFO, a socket or a device)"
        elif exc.errno in (errno.EISDIR, errno.EFBIG):
            reason = str(exc.strerror)
        else:
            reason = f"cannot read it: {exc.strerror or exc}"
        raise EnvFileError(path, reason) from exc


def _bare(line: bytes) -> bytes:
    return line.rstrip(b"\r\n").strip()


def _ending(line: bytes) -> bytes:
    return line[len(line.rstrip(b"\r\n")) :]


def _block(path: Path, lines: list[bytes]) -> tuple[int, int] | None:
    """The first and last line of the aioports block, or None when there is none."""
    starts = [i for i, line in enumerate(lines) if _bare(line) == BLOCK_START.encode()]
    ends = [i for i, line in enumerate(lines) if _bare(line) == BLOCK_END.encode()]
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise EnvFileError(
            path,
            f"its aioports block is broken (it needs one {BLOCK_START!r} line and, after it, "
            f"one {BLOCK_END!r} line); fix or remove those lines",
        )
    return starts[0], ends[0]


def _newline(lines: list[bytes]) -> bytes:
    """The file's line end: that of its first line that has one, else ``\\n``."""
    return next((end for end in map(_ending, lines) if end), b"\n")


def _warnings(path: Path, lines: list[bytes], block: range, names: dict[str, int]) -> list[str]:
    warnings = []
    for number, line in enumerate(lines):
        match = None if number in block else _ASSIGNMENT.match(line)
        if match is None:
            continue
        name = match.group(1).decode()
        if name in names:
            where = "after" if number > block.start else "before"
            warnings.append(
                f"{path}:{number + 1}: {name} is also set outside the aioports block, {where} "
                f"it; it was left as it is (most loaders let the last one win): remove it "
                "there to use aioports' port"
            )
    return warnings


@record
class BlockWritten:
    """What :func:`write_block` did.

    :ivar changed: False when the file already held exactly this block
    :ivar warnings: one per line outside the block that sets a name the block sets too
    """

    changed: bool
    warnings: list[str]


def write_block(path: Path, values: Mapping[str, int]) -> BlockWritten:
    """Create ``path`` or update its aioports block with ``values`` (see the module docstring).

    :raises InvalidArgumentError: for a name that is not a shell variable name or a value
        that is not a port.
    :raises EnvFileError: when the file cannot be read or written; it is unchanged then.
    """
    checked = _checked(values)
    path = Path(path)
    found = _read(path)
    old, mode = found if found is not None else (b"", NEW_FILE_MODE)
    bom = _BOM if old.startswith(_BOM) else b""
    lines = old[len(bom) :].splitlines(keepends=True)
    span = _block(path, lines)
    newline = _newline(lines if span is None else lines[span[0] : span[0] + 1] + lines)
    body = [BLOCK_START, *_lines(checked), BLOCK_END]
    block = [line.encode() + newline for line in body]
    if span is None:
        if lines and not _ending(lines[-1]):
            lines[-1] += newline  # appended: the last line must end before the block starts
        start = len(lines)
        lines += block
    else:
        start, end = span
        if not _ending(lines[end]):  # the block ended the file without a newline: so it stays
            block[-1] = block[-1].rstrip(b"\r\n")
        lines[start : end + 1] = block
    warnings = _warnings(path, lines, range(start, start + len(block)), checked)
    new = bom + b"".join(lines)
    if new == old and found is not None:
        return BlockWritten(False, warnings)
    try:
        replace_file(path, new, mode)
    except OSError as exc:
        raise EnvFileError(path, f"cannot write it: {exc.strerror or exc}") from exc
    return BlockWritten(True, warnings)
