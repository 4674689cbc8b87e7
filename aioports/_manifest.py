"""The project manifest: the services a project runs, the environment variable each one's port
goes in, and optionally the app name and the range.

It lives in ``.aioports.toml`` (keys at the top level) or in ``pyproject.toml`` under
``[tool.aioports]``; when a folder has both, ``.aioports.toml`` wins and the other is not read
for it::

    app = "shop"              # optional
    range = "4000-4999"       # optional
    [services]                # [tool.aioports.services] in pyproject.toml
    web = { env = "PORT", preferred = 8000 }
    api = { env = "API_PORT" }
    worker = {}               # env defaults to WORKER_PORT

Services keep the file's order (the first one is the default service). Everything is checked
when the file is read: a problem is a :class:`~aioports.ManifestError` naming the file, the
dotted key and what is allowed, never a surprise later.

:func:`find_manifest` looks in the starting folder, then upward, and stops at the top of the
git worktree (the folder holding ``.git``): a checkout never picks up a manifest from the
folder it happens to sit in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._errors import ConfigError, InvalidRangeError, ManifestError
from ._files import read_small_file
from ._models import PortRange
from ._records import Record, record

__all__ = (
    "MANIFEST_NAME",
    "PYPROJECT_NAME",
    "Manifest",
    "Service",
    "default_env",
    "find_manifest",
    "manifest_from",
    "name_problem",
    "read_manifest",
    "read_toml",
    "upward",
)

MANIFEST_NAME = ".aioports.toml"
PYPROJECT_NAME = "pyproject.toml"
#: the largest manifest or pyproject.toml read: far more than any project writes
MAX_MANIFEST_BYTES = 1024 * 1024

_TOP_KEYS = ("app", "range", "services")
_SERVICE_KEYS = ("env", "preferred")
# ASCII only: a shell takes nothing else in a variable name.
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


@record
class Service(Record):
    """One service of a manifest.

    :ivar name: its name (the key's service part)
    :ivar env: the environment variable its port goes in (``aioports env``)
    :ivar preferred: the port it gets when that is free, else None
    """

    name: str
    env: str
    preferred: int | None = None


@record
class Manifest:
    """A project manifest, checked.

    :ivar path: the file it was read from (``.aioports.toml`` or ``pyproject.toml``)
    :ivar app: the app name it sets, or None
    :ivar range: the range it sets, or None
    :ivar services: its services, in the file's order
    """

    path: Path
    app: str | None
    range: PortRange | None
    services: tuple[Service, ...]

    def service(self, name: str) -> Service | None:
        """The service called ``name``, or None."""
        return next((service for service in self.services if service.name == name), None)


def default_env(name: str) -> str:
    """The environment variable a service's port goes in when the manifest names none:
    ``<NAME>_PORT``, upper-cased, every character but an ASCII letter or digit made ``_``
    (``api`` -> ``API_PORT``, ``web-ui`` -> ``WEB_UI_PORT``)."""
    return _NOT_ALNUM.sub("_", name).upper() + "_PORT"


def name_problem(text: str) -> str | None:
    """What makes ``text`` unusable as an app or service name, or None: it is empty (or only
    spaces), or has control characters (a terminal would act on them)."""
    if not text.strip():
        return "it is empty"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        return "it has control characters"
    return None


def _key(*parts: str) -> str:
    """A dotted TOML key, quoting the parts that are not bare keys."""
    shown = []
    for part in parts:
        if _BARE_KEY.match(part):
            shown.append(part)
        else:
            escaped = part.encode("unicode_escape").decode("ascii").replace('"', '\\"')
            shown.append(f'"{escaped}"')
    return ".".join(shown)


# bool first: it is an int too.
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "text"),
          (list, "an array"), (dict, "a table"))  # fmt: skip


def _kind(value: object) -> str:
    """How a TOML value's type is named in messages."""
    return next((name for kind, name in _KINDS if isinstance(value, kind)), "a date or time")


def read_toml(path: Path) -> dict[str, Any] | None:
    """The TOML document in ``path``, or None when there is no such file.

    :raises ManifestError: when it is not UTF-8 TOML.
    :raises ConfigError: when it cannot be read (not a regular file, too large, refused).
    """
    try:
        data = read_small_file(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(path, None, "it is not UTF-8 text (TOML files are)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, None, f"it is not TOML ({exc})") from exc


def manifest_from(document: Mapping[str, Any], path: Path) -> Manifest | None:
    """The manifest in a TOML document read from ``path``: the whole document for
    ``.aioports.toml``, its ``[tool.aioports]`` table for ``pyproject.toml`` (None when it has
    none).

    :raises ManifestError: for anything the manifest may not hold.
    """
    if path.name == PYPROJECT_NAME:
        tool = document.get("tool")
        if not isinstance(tool, dict) or "aioports" not in tool:
            return None
        table = tool["aioports"]
        prefix: tuple[str, ...] = ("tool", "aioports")
        if not isinstance(table, dict):
            raise ManifestError(
                path, _key(*prefix), f"expected a table ([tool.aioports]), got {_kind(table)}"
            )
    else:
        table, prefix = dict(document), ()
    return _Checker(path, prefix).manifest(table)


class _Checker:
    """Checks one manifest table, naming keys as the file spells them."""

    __slots__ = ("path", "prefix")

    def __init__(self, path: Path, prefix: tuple[str, ...]) -> None:
        self.path, self.prefix = path, prefix

    def fail(self, parts: tuple[str, ...], reason: str) -> ManifestError:
        return ManifestError(self.path, _key(*self.prefix, *parts), reason)

    def unknown(self, table: Mapping[str, Any], allowed: tuple[str, ...], *parts: str) -> None:
        for name in table:
            if name not in allowed:
                hint = (
                    "; in .aioports.toml the keys go at the top level, without [tool.aioports]"
                    if not self.prefix and name == "tool"
                    else ""
                )
                raise self.fail(
                    (*parts, name), f"unknown key (allowed: {', '.join(allowed)}){hint}"
                )

    def manifest(self, table: dict[str, Any]) -> Manifest:
        self.unknown(table, _TOP_KEYS)
        return Manifest(
            path=self.path,
            app=self.app(table.get("app")),
            range=self.range(table.get("range")),
            services=self.services(table.get("services", {})),
        )

    def app(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(("app",), f"expected text (the app's name), got {_kind(value)}")
        problem = name_problem(value)
        if problem is not None:
            raise self.fail(("app",), f"{problem}; an app name is text without control characters")
        return value

    def range(self, value: object) -> PortRange | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(("range",), f'expected text like "4000-4999", got {_kind(value)}')
        try:
            return PortRange.parse(value)
        except InvalidRangeError as exc:
            raise self.fail(("range",), f'{exc.reason}; expected text like "4000-4999" with '
                                        "1 <= START <= END <= 65535") from exc  # fmt: skip

    def services(self, table: object) -> tuple[Service, ...]:
        if not isinstance(table, dict):
            raise self.fail(
                ("services",),
                f'expected a table of services (web = {{ env = "PORT" }}), got {_kind(table)}',
            )
        services = tuple(self.service(name, spec) for name, spec in table.items())
        self.distinct(services)
        return services

    def service(self, name: str, spec: object) -> Service:
        where = ("services", name)
        problem = name_problem(name)
        if problem is not None:
            raise self.fail(where, f"a bad service name: {problem}")
        if not isinstance(spec, dict):
            raise self.fail(
                where,
                f'expected a table like {{ env = "PORT", preferred = 8000 }} (or {{}} for the '
                f"defaults), got {_kind(spec)}",
            )
        self.unknown(spec, _SERVICE_KEYS, *where)
        env = spec.get("env")
        if env is None:
            env = default_env(name)
            if not _SHELL_NAME.match(env):
                raise self.fail(
                    where,
                    f"its default environment variable {env} is not a shell variable name "
                    '(it starts with a digit); give one: env = "NAME"',
                )
        elif not isinstance(env, str):
            raise self.fail((*where, "env"), f"expected text, got {_kind(env)}")
        elif not _SHELL_NAME.match(env):
            raise self.fail(
                (*where, "env"),
                f"{env!r} is not a shell variable name (ASCII letters, digits and _, not "
                "starting with a digit)",
            )
        preferred = spec.get("preferred")
        if preferred is not None and (
            isinstance(preferred, bool)
            or not isinstance(preferred, int)
            or not 1 <= preferred <= 65535
        ):
            raise self.fail(
                (*where, "preferred"), f"expected a port from 1 to 65535, got {preferred!r}"
            )
        return Service(name=name, env=env, preferred=preferred)

    def distinct(self, services: tuple[Service, ...]) -> None:
        """Two services may share neither an environment variable nor a preferred port."""
        envs: dict[str, str] = {}
        ports: dict[int, str] = {}
        for service in services:
            other = envs.setdefault(service.env, service.name)
            if other != service.name:
                raise self.fail(
                    ("services", service.name),
                    f"its environment variable {service.env} is also that of service {other!r}; "
                    "each service needs its own",
                )
            if service.preferred is None:
                continue
            other = ports.setdefault(service.preferred, service.name)
            if other != service.name:
                raise self.fail(
                    ("services", service.name, "preferred"),
                    f"port {service.preferred} is also the preferred port of service {other!r}; "
                    "each service needs its own",
                )


def read_manifest(path: Path) -> Manifest | None:
    """The manifest in the file ``path`` (``.aioports.toml``, or a ``pyproject.toml`` with
    ``[tool.aioports]``); None when the file is missing or is a ``pyproject.toml`` without it.

    :raises ManifestError: when the file or its manifest is unusable.
    :raises ConfigError: when the file cannot be read.
    """
    document = read_toml(path)
    return None if document is None else manifest_from(document, path)


def upward(start: Path) -> Iterator[Path]:
    """``start`` and its parents, up to the top of the git worktree holding it (the first
    folder with a ``.git`` entry), else up to the file-system root."""
    folder = start
    while True:
        yield folder
        if os.path.lexists(folder / ".git") or folder.parent == folder:
            return
        folder = folder.parent


def find_manifest(start: Path | None = None) -> Manifest | None:
    """The nearest manifest: in ``start`` (default: the current folder), else upward (see
    :func:`upward`). In each folder ``.aioports.toml`` comes first, then a ``pyproject.toml``
    with ``[tool.aioports]``.

    :raises ManifestError: when the nearest manifest is unusable (an unusable
        ``pyproject.toml`` on the way too: whether it holds a manifest cannot be told).
    """
    for folder in upward(Path.cwd() if start is None else start.absolute()):
        for name in (MANIFEST_NAME, PYPROJECT_NAME):
            manifest = read_manifest(folder / name)
            if manifest is not None:
                return manifest
    return None
