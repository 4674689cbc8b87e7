"""Recording new allocations: validating what goes into the registry, then one transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import orjson

from ._errors import InvalidMetadataError
from ._identity import ProcessIdentity, process_identity
from ._models import Allocation, PortRange, RangeLike
from ._probe import BindProber
from ._registry import Registry
from ._search import find_free_ports

__all__ = ("allocate_ports", "json_object", "role_names")


async def allocate_ports(
    registry: Registry,
    prober: BindProber,
    default_range: PortRange,
    range: RangeLike | None,
    metadata: Mapping[str, Any] | None,
    owner_pid: int | None,
    *,
    roles: Sequence[str] | None,
    claim: Callable[[int], bool] | None = None,
) -> list[Allocation]:
    """Find and record one port (``roles`` None) or one per role, in one transaction.

    Every argument is checked before the registry is touched.
    """
    span = default_range if range is None else PortRange.coerce(range)
    stored_metadata = json_object(metadata)
    owner: ProcessIdentity | None = None
    if owner_pid is not None:
        if isinstance(owner_pid, bool) or not isinstance(owner_pid, int) or owner_pid < 1:
            raise ValueError(f"owner_pid must be a positive PID, got {owner_pid!r}")
        owner = await anyio.to_thread.run_sync(process_identity, owner_pid)
    count = 1 if roles is None else len(roles)
    if count > len(span):
        raise ValueError(f"{count} ports cannot fit in range {span}, which has {len(span)}")
    async with registry.transaction() as leases:
        ports = await find_free_ports(prober, span, count, leases, claim=claim)
        now = datetime.now(UTC)
        group = None if roles is None else uuid.uuid4().hex[:12]
        allocations = []
        for index, port in enumerate(ports):
            allocation = Allocation(
                port=port,
                allocated_at=now,
                metadata=stored_metadata,
                pid=os.getpid(),
                hostname=registry.hostname,
                owner_pid=owner_pid,
                owner_create_time=None if owner is None else owner.create_time,
                owner_token=None if owner is None else owner.token,
                group=group,
                role=None if roles is None else roles[index],
            )
            leases.add(allocation)
            allocations.append(allocation)
    return allocations


def role_names(count: int, roles: Sequence[str] | None) -> list[str]:
    """The role of each port of a group: ``roles`` checked, or ``port1`` ... ``portN``.

    :raises ValueError: when ``roles`` do not match ``count`` or repeat a name.
    """
    if roles is None:
        return [f"port{i}" for i in range(1, count + 1)]
    names = list(roles)
    if len(names) != count:
        raise ValueError(f"{count} ports need {count} roles, got {len(names)}: {_listed(names)}")
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError(f"roles must be non-empty text, got {_listed(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"roles must be distinct, got {_listed(names)}")
    return names


def _listed(names: Sequence[object]) -> str:
    return ", ".join(repr(n) if not isinstance(n, str) or not n.strip() else n for n in names)


def json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A detached, JSON-native copy of ``metadata``.

    :raises InvalidMetadataError: for anything but a mapping that orjson can write.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"expected a mapping, got {type(metadata).__name__}")
    try:
        copy: dict[str, Any] = orjson.loads(orjson.dumps(dict(metadata)))
    except TypeError as exc:
        raise InvalidMetadataError(f"not JSON-serialisable ({exc})") from exc
    return copy
