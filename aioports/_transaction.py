"""The deciding half of a registry transaction, shared by the async and the sync shell.

A transaction is: take the lock, read the file, :meth:`RegistryCore.begin` (decode only when
the bytes changed since this process last saw them, drop entries whose owner is provably
gone), let the caller change the entries, :meth:`RegistryCore.finish` (encode only when
something changed), write, release. The shells (``_registry.py`` with aiofiles for
``PortManager``; ``_registry_sync.py`` with plain ``os`` calls for the CLI, the sync facade and
the pytest fixtures) do the I/O; this module decides, and does none.

The write protocol, the same in both shells: the new document goes to a temp file in the same
folder, created exclusively (``O_EXCL | O_NOFOLLOW``, mode 0600, an unpredictable name) and
written synchronously (``O_DSYNC``: on disk when the write returns, like an fsync), then
renamed over the registry, then the folder is fsynced. A process killed at any instant
leaves the old or the new registry, never a torn one; its temp file is then stray, and the
next writer removes it under the lock. A file that does not decode is never overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from ._entries import Entries, decode, salvage
from ._errors import RegistryCorruptError
from ._files import READ_FLAGS, TEMP_FLAGS, is_temp_name, temp_path
from ._host import here
from ._models import ProcessIdentity
from ._records import record
from ._steps import Blocking, Steps

__all__ = (
    "MAX_REGISTRY_BYTES",
    "READ_FLAGS",
    "TEMP_FLAGS",
    "Diagnosis",
    "RegistryCore",
    "is_stray_temp",
)

#: the largest registry aioports reads: 65,535 entries of about 1 KiB each fit with room
MAX_REGISTRY_BYTES = 64 * 1024 * 1024
# Below this size a registry decodes in less time than a worker-thread hop (about 85 us).
_INLINE_DECODE_BYTES = 16 * 1024


@record
class Diagnosis:
    """What is wrong with a registry file, and what ``repair`` keeps of it.

    :ivar reason: what is wrong, in words
    :ivar kept: the valid entries (none when the document itself is unusable)
    :ivar dropped: the keys of the entries set aside (they stay in the backup file)
    :ivar foreign: the file is no aioports registry at all (a folder, a project's JSON
        file): moving it aside needs ``force``
    """

    reason: str
    kept: Entries
    dropped: tuple[str, ...]
    foreign: bool


def _is_foreign(data: bytes) -> bool:
    """JSON that is not a registry document: somebody else's file, not a damaged registry."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return not (isinstance(document, dict) and "version" in document and "leases" in document)


def _dead_owners(owners: set[ProcessIdentity]) -> set[ProcessIdentity]:
    from ._identity import dead_owners  # psutil: loaded only when an owner must be checked

    return dead_owners(owners)


def is_stray_temp(name: str, prefix: str) -> bool:
    """Whether ``name`` is a temp file of this registry (``.<name>.<pid>-<16 hex>.tmp``), not
    one of another registry in the same folder whose name merely starts the same way."""
    return is_temp_name(name, prefix) is not None


class RegistryCore:
    """What one registry file's transactions decide, and the bytes this process last saw."""

    __slots__ = ("_last", "path", "place")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.place = here()
        self._last: tuple[bytes, Entries] | None = None

    @property
    def hostname(self) -> str:
        return self.place.hostname

    @property
    def temp_prefix(self) -> str:
        return f".{self.path.name}."

    def temp_path(self) -> Path:
        """A fresh, unpredictable temp file name beside the registry."""
        return temp_path(self.path)

    def load(self, data: bytes | None) -> Steps[Entries]:
        """The entries stored in ``data`` (None: no file yet), decoded only if needed.

        :raises RegistryCorruptError: when ``data`` is not a registry this version reads.
        """
        if data is None:
            return Entries()
        # The bytes this process last read or wrote decode to what it kept: skip the work.
        known = None if self._last is None else self._last[1]
        if self._last is not None and self._last[0] == data:
            return self._last[1].copy()
        if len(data) < _INLINE_DECODE_BYTES:
            entries = decode(data, self.path, known)
        else:
            # Thousands of entries take milliseconds to parse: an async door uses a thread.
            entries = yield Blocking(decode, (data, self.path, known))
        self._last = (data, entries.copy())
        return entries

    def begin(self, data: bytes | None) -> Steps[tuple[Entries, Entries]]:
        """The stored entries and a working copy without the provably dead owners' entries."""
        stored = yield from self.load(data)
        working = stored.copy()
        owners = working.owners(self.place)
        if owners:
            dead = yield Blocking(_dead_owners, (owners,))
            if dead:
                working.drop_owned_by(dead, self.place)
        return stored, working

    def finish(self, stored: Entries, working: Entries) -> bytes | None:
        """The document to write, or None when nothing changed."""
        return None if working == stored else working.encode()

    def written(self, data: bytes, entries: Entries) -> None:
        """Remember what was just written, so the next read of the same bytes is free."""
        self._last = (data, entries.copy())

    def diagnose(self, data: bytes | None) -> Diagnosis | None:
        """What ``repair`` must do about ``data``; None for a registry this version can use."""
        if data is None:
            return None
        try:
            kept, problems = salvage(data, self.path)
        except RegistryCorruptError as exc:
            return Diagnosis(exc.reason, Entries(), (), foreign=_is_foreign(data))
        if not problems:
            return None
        shown = "; ".join(f"lease {key!r} {problem}" for key, problem in problems[:3])
        if len(problems) > 3:
            shown += f"; and {len(problems) - 3} more"
        return Diagnosis(shown, kept, tuple(key for key, _ in problems), foreign=False)

    def backup_path(self, taken: set[str]) -> Path:
        """Where an unusable registry is moved: ``registry.json.corrupt-<UTC time>``, with a
        counter when a name in ``taken`` (the folder's names) already has it."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.path.name}.corrupt-{stamp}"
        counter = 1
        while name in taken:
            counter += 1
            name = f"{self.path.name}.corrupt-{stamp}-{counter}"
        return self.path.with_name(name)
