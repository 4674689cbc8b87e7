"""Defaults from the project: the app, the worktree and the default service of a named port,
so that ``aioports ensure`` in a checkout needs no flags.

From the starting folder (default: the current one) upward to the top of the git worktree
(:func:`aioports._manifest.upward`):

- **app**: the manifest's ``app``, else ``[project] name`` of the nearest ``pyproject.toml``
  that has one, else ``name`` of the nearest ``package.json`` that has one, else the folder
  name of the main git checkout (the same for every linked worktree of a repository; a bare
  repository's ``shop.git`` gives ``shop``), else the starting folder's name.
- **worktree**: the absolute path of the git worktree's top-level folder (symbolic links
  resolved): the main checkout and each ``git worktree add`` worktree are different keys, and
  switching branches inside one keeps its key. Outside git, the project folder.
- **branch**: for display only; None for a detached HEAD (``commit`` then has its id) and
  outside git.
- **root** (the project folder): the nearest folder holding a manifest, a ``pyproject.toml``
  or a ``package.json``, else the worktree's top, else the starting folder.

Everything is read from files, without the git binary (``_git.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import ConfigError, InvalidArgumentError, ManifestError
from ._git import Checkout, read_checkout
from ._manifest import (
    MANIFEST_NAME,
    PYPROJECT_NAME,
    Manifest,
    manifest_from,
    name_problem,
    read_toml,
    upward,
)
from ._records import record

__all__ = ("DEFAULT_SERVICE", "PACKAGE_JSON_NAME", "Project", "find_project")

PACKAGE_JSON_NAME = "package.json"
#: the service of a key when the manifest names none
DEFAULT_SERVICE = "default"
#: the largest package.json read
_MAX_PACKAGE_JSON_BYTES = 4 * 1024 * 1024


@record
class Project:
    """The defaults a project gives a named port.

    :ivar root: the project folder
    :ivar app: the app name
    :ivar worktree: the absolute path of the git worktree's top-level folder; outside git,
        of the project folder
    :ivar branch: the checked-out branch, or None (detached HEAD, outside git)
    :ivar manifest: the nearest manifest, or None
    :ivar app_source: where ``app`` came from: ``manifest``, ``pyproject``, ``package.json``,
        ``git`` (the main checkout's folder name) or ``folder`` (the starting folder's name)
    :ivar commit: the commit id of a detached HEAD, else None
    :ivar linked: True in a linked git worktree (``git worktree add``)
    """

    root: Path
    app: str
    worktree: str
    branch: str | None
    manifest: Manifest | None
    app_source: str
    commit: str | None = None
    linked: bool = False

    @property
    def service(self) -> str:
        """The default service: the manifest's first, else ``default``."""
        if self.manifest is not None and self.manifest.services:
            return self.manifest.services[0].name
        return DEFAULT_SERVICE


def _start(start: Path | None) -> Path:
    if start is None:
        try:
            return Path.cwd()
        except FileNotFoundError as exc:  # the folder was deleted under the process
            raise InvalidArgumentError(
                "start", None, "the current folder no longer exists; cd into the project"
            ) from exc
    folder = Path(start).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidArgumentError(
            "start", start, f"start must be an existing folder, got {str(start)!r}"
        )
    return folder


def _project_name(path: Path, document: dict[str, object]) -> str | None:
    """``[project] name`` of a pyproject.toml document, checked; None when it has none."""
    table = document.get("project")
    if not isinstance(table, dict) or "name" not in table:
        return None
    return _checked_name(path, "project.name", table["name"])


def _package_name(path: Path) -> str | None:
    """``name`` of a package.json, checked; None when it has none."""
    import orjson

    from ._files import read_small_file

    try:
        data = read_small_file(path, _MAX_PACKAGE_JSON_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(path, None, f"it is not JSON ({exc})") from exc
    if not isinstance(document, dict) or "name" not in document:
        return None
    return _checked_name(path, "name", document["name"])


def _checked_name(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ManifestError(path, key, f"expected text (the app's name), got {value!r}")
    problem = name_problem(value)
    if problem is not None:
        raise ManifestError(path, key, f"{problem}; an app name is text without control characters")
    return value


def _main_name(checkout: Checkout) -> str:
    name = checkout.main.name
    return name[: -len(".git")] if name.endswith(".git") and len(name) > 4 else name


def find_project(start: Path | None = None) -> Project:
    """The project ``start`` (default: the current folder) belongs to, and its defaults.

    :raises ManifestError: when the nearest manifest, or a project file an app name is read
        from, is unusable.
    :raises ConfigError: when such a file cannot be read at all (a FIFO, refused).
    :raises InvalidArgumentError: when ``start`` is not an existing folder.
    """
    origin = _start(start)
    manifest: Manifest | None = None
    pyproject_name: str | None = None
    package_jsons: list[Path] = []  # read only when the app name comes from one
    root: Path | None = None
    top: Path | None = None
    for folder in upward(origin):
        for name in (MANIFEST_NAME, PYPROJECT_NAME):
            path = folder / name
            if not os.path.lexists(path):
                continue
            root = root or folder
            wanted = manifest is None or (name == PYPROJECT_NAME and pyproject_name is None)
            document = read_toml(path) if wanted else None
            if document is None:
                continue
            if manifest is None:
                manifest = manifest_from(document, path)
            if name == PYPROJECT_NAME and pyproject_name is None:
                pyproject_name = _project_name(path, document)
        if os.path.lexists(folder / PACKAGE_JSON_NAME):
            root = root or folder
            package_jsons.append(folder / PACKAGE_JSON_NAME)
        if os.path.lexists(folder / ".git"):
            top = folder
    checkout = None if top is None else read_checkout(top)
    root = root or top or origin
    app, source = _app(manifest, pyproject_name, package_jsons, checkout, origin)
    return Project(
        root=root,
        app=app,
        worktree=str(root if checkout is None else checkout.top),
        branch=None if checkout is None else checkout.branch,
        manifest=manifest,
        app_source=source,
        commit=None if checkout is None else checkout.commit,
        linked=checkout is not None and checkout.linked,
    )


def _app(
    manifest: Manifest | None,
    pyproject_name: str | None,
    package_jsons: list[Path],
    checkout: Checkout | None,
    origin: Path,
) -> tuple[str, str]:
    """The app name and where it came from, in the documented precedence."""
    if manifest is not None and manifest.app is not None:
        return manifest.app, "manifest"
    if pyproject_name is not None:
        return pyproject_name, "pyproject"
    for path in package_jsons:
        package_name = _package_name(path)
        if package_name is not None:
            return package_name, "package.json"
    if checkout is not None:
        return _main_name(checkout), "git"
    return origin.name or str(origin), "folder"
