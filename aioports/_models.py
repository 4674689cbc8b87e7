"""The records aioports returns: frozen and slotted (``_records.py``), each with a
``to_dict()`` for JSON derived from its fields."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from ._errors import InvalidPortError, InvalidRangeError
from ._records import Record, field, record, to_json

__all__ = (
    "Allocation",
    "AllocationGroup",
    "CleanupResult",
    "Explanation",
    "ExplanationStatus",
    "KillOutcome",
    "KillResult",
    "Occupier",
    "PortKey",
    "PortRange",
    "PortStatus",
    "ProcessIdentity",
    "PruneReason",
    "PruneResult",
    "Pruned",
    "ProbeResult",
    "RangeLike",
    "Reason",
    "ReasonCode",
    "RepairResult",
    "Reservation",
    "ScanResult",
    "validate_port",
)

MIN_PORT = 1
MAX_PORT = 65535

# ASCII digits only, as for ports: \d would also take other scripts' digits.
_RANGE_TEXT = re.compile(r"^\s*([0-9]+)\s*(?:-|:|\.\.)\s*([0-9]+)\s*$")


def validate_port(value: object) -> int:
    """Return ``value`` if it is a usable TCP port number.

    :raises InvalidPortError: for anything but an ``int`` (``bool`` excluded) in 1-65535.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPortError(value)
    if not MIN_PORT <= value <= MAX_PORT:
        raise InvalidPortError(value)
    return value


@record
class PortRange(Record):
    """An inclusive range of ports, validated on construction.

    :ivar start: the first port of the range
    :ivar end: the last port of the range (inclusive)
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise InvalidRangeError(
                    (self.start, self.end), f"bounds must be integers, got {bound!r}"
                )
            if not MIN_PORT <= bound <= MAX_PORT:
                raise InvalidRangeError(f"{self.start}-{self.end}", f"{bound} is outside 1-65535")
        if self.start > self.end:
            raise InvalidRangeError(f"{self.start}-{self.end}", "the start is greater than the end")

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """Read ``"4000-4999"`` (also ``4000:4999`` and ``4000..4999``).

        :raises InvalidRangeError: when the text is not of that form or the range is invalid.
        """
        if not isinstance(text, str):
            raise InvalidRangeError(text, "expected text like '4000-4999'")
        match = _RANGE_TEXT.match(text)
        if match is None:
            raise InvalidRangeError(text, "expected text like '4000-4999'")
        bounds = match.group(1, 2)
        if any(len(bound.lstrip("0")) > 5 for bound in bounds):  # int() of 4,300 digits fails
            raise InvalidRangeError(text, "a bound is outside 1-65535")
        return cls(int(bounds[0]), int(bounds[1]))

    @classmethod
    def coerce(cls, value: RangeLike) -> PortRange:
        """Accept a :class:`PortRange`, a ``(start, end)`` pair, a ``{"start", "end"}`` mapping
        or ``"start-end"`` text.

        :raises InvalidRangeError: for anything else, or an invalid range.
        """
        if isinstance(value, PortRange):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            if set(value) != {"start", "end"}:
                raise InvalidRangeError(
                    dict(value), "a range mapping needs exactly the keys 'start' and 'end'"
                )
            return cls(value["start"], value["end"])
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise InvalidRangeError(value, "a range pair needs exactly two items")
            return cls(value[0], value[1])
        raise InvalidRangeError(
            value, "expected a PortRange, a (start, end) pair, a mapping or 'start-end' text"
        )

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.end + 1))

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port <= self.end

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


RangeLike = PortRange | tuple[int, int] | Mapping[str, int] | str


class PortStatus(enum.StrEnum):
    """What a bind probe found."""

    #: a server could bind the port right now
    FREE = "free"
    #: a socket on this host holds the port (``EADDRINUSE``)
    IN_USE = "in_use"
    #: the OS refuses this user the port (``EACCES``: a privileged port)
    DENIED = "denied"


@record
class ProbeResult(Record):
    """A snapshot of whether a server could start on a port; it can change a moment later.

    :ivar port: the port probed
    :ivar status: ``free``, ``in_use`` (a socket holds it) or ``denied`` (privileged port)
    """

    _json_keys: ClassVar[tuple[str, ...]] = ("port", "in_use", "status")

    port: int
    status: PortStatus

    @property
    def in_use(self) -> bool:
        """True when a typical server could not start on the port now (``status`` says why)."""
        return self.status is not PortStatus.FREE


@record
class Allocation(Record):
    """One entry of the shared registry.

    :ivar port: the allocated port
    :ivar allocated_at: when it was allocated (UTC)
    :ivar metadata: what the caller attached (app, service, ...)
    :ivar pid: the process that allocated it
    :ivar hostname: the host that process ran on
    :ivar owner_pid: the process whose death releases the port, or None to keep it until released
    :ivar owner_create_time: that process's start time, so a recycled PID does not keep the port
    :ivar owner_token: that process's clock-independent start (Linux: boot id and start in
        ticks since boot), so a stepped system clock does not release a live owner's port
    :ivar group: the id of the group allocated together with it, if any
    :ivar role: its role within that group, if any
    :ivar app: the application of a named port (:meth:`PortManager.ensure`), else None
    :ivar worktree: the worktree of a named port: the absolute path of its top-level folder
    :ivar service: the service of a named port; ``(app, worktree, service)`` is its key
    :ivar owner_pidns: the owner's PID namespace (Linux: ``pid:[4026531836]``), so a process
        in another namespace (a container) never reclaims it on the evidence of a PID that
        means nothing outside that namespace
    """

    port: int
    allocated_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    pid: int = 0
    hostname: str = ""
    owner_pid: int | None = None
    owner_create_time: float | None = None
    owner_token: str | None = None
    group: str | None = None
    role: str | None = None
    app: str | None = None
    worktree: str | None = None
    service: str | None = None
    owner_pidns: str | None = None

    @property
    def key(self) -> PortKey | None:
        """The key of a named port, None for a one-shot allocation."""
        if self.app is None or self.worktree is None or self.service is None:
            return None
        return PortKey(self.app, self.worktree, self.service)

    def matches(
        self, *, app: str | None = None, worktree: str | None = None, service: str | None = None
    ) -> bool:
        """Whether it belongs to ``app``, ``worktree`` and ``service`` (None: any).

        A named port matches on its key; a one-shot allocation on the ``app``, ``worktree``
        and ``service`` it carries in its metadata, as ``allocate --app`` stores them.
        """
        wanted = (app, worktree, service)
        return all(
            want is None or have == want for have, want in zip(self.parts, wanted, strict=True)
        )

    @property
    def parts(self) -> tuple[object, object, object]:
        """Its ``(app, worktree, service)``: the key of a named port, else what its metadata
        says (any JSON value, or None)."""
        if self.key is not None:
            return (self.app, self.worktree, self.service)
        metadata = self.metadata
        return (metadata.get("app"), metadata.get("worktree"), metadata.get("service"))


@record
class PortKey(Record):
    """What names a port that stays the same across restarts.

    :ivar app: the application (``shop``)
    :ivar worktree: the absolute path of the git worktree (or project folder) it runs from
    :ivar service: the service within the app (``web``)
    """

    app: str
    worktree: str
    service: str

    def __str__(self) -> str:
        return f"{self.app}/{self.service}"


@record
class AllocationGroup(Record):
    """Ports allocated together in one registry update, one per role.

    :ivar group_id: the id that releases them all at once
    :ivar allocations: the entries, in role order
    """

    _json_keys: ClassVar[tuple[str, ...]] = ("group_id", "ports", "allocations")

    group_id: str
    allocations: tuple[Allocation, ...]

    @property
    def ports(self) -> dict[str, int]:
        """Role name to port."""
        return {a.role or str(a.port): a.port for a in self.allocations}


@record
class CleanupResult(Record):
    """What ``cleanup()`` did.

    :ivar released: how many allocations were removed
    """

    _json_keys: ClassVar[tuple[str, ...]] = ("cleaned", "released")

    released: int

    @property
    def cleaned(self) -> bool:
        """Always True: a cleanup that returns has emptied the registry."""
        return True


class PruneReason(enum.StrEnum):
    """Why ``prune()`` found an entry stale.

    :cvar OWNER_GONE: its owner process has exited (or its PID now names another process)
    :cvar WORKTREE_GONE: a named port whose worktree folder no longer exists, and nothing
        listens on the port
    """

    OWNER_GONE = "owner_gone"
    WORKTREE_GONE = "worktree_gone"


@record
class Pruned(Record):
    """One stale entry that ``prune()`` removed (or, in a dry run, would remove).

    :ivar allocation: the entry
    :ivar reason: why it is stale
    """

    allocation: Allocation
    reason: PruneReason


@record
class PruneResult(Record):
    """What ``prune()`` found.

    :ivar pruned: the stale entries, by port
    :ivar dry_run: True when nothing was removed
    """

    pruned: tuple[Pruned, ...]
    dry_run: bool = False


@record
class RepairResult(Record):
    """What ``repair()`` did.

    :ivar repaired: True when an unusable registry was moved aside and replaced by what was
        left of it (its valid entries, or nothing)
    :ivar backup_path: where the unusable file went, if it was moved
    :ivar reason: what was wrong with it, if anything
    :ivar kept: how many entries the new registry kept
    :ivar dropped: the keys of the entries set aside (they are in the backup file)
    """

    repaired: bool
    backup_path: str | None = None
    reason: str | None = None
    kept: int = 0
    dropped: tuple[str, ...] = ()


@record
class Occupier(Record):
    """A process (or a socket with no visible process) that holds a port.

    :ivar pid: the holder's PID, or None when the OS does not show it (another user's process,
        or a socket left in TIME_WAIT that no process owns)
    :ivar process_name: the holder's name, when known
    :ivar port: the port held
    :ivar cmdline: the holder's command line, when readable
    :ivar username: the holder's user name, when known
    :ivar uid: the holder's user id, when known
    :ivar create_time: the holder's start time (seconds since the epoch), when known
    :ivar addresses: the local addresses the port is bound on (``127.0.0.1``, ``::``, ...)
    :ivar status: the socket state (``LISTEN``, ``ESTABLISHED``, ``TIME_WAIT``, ``NONE`` ...)
    :ivar parent_pids: the holder's ancestors, nearest first, as far as they can be seen (so
        a server started by a shell or a runner can be told apart from a stranger)
    :ivar start_token: the holder's clock-independent start (Linux: boot id and start in
        ticks since boot), when known; a kill checks it so that a recycled PID is never
        signalled. Not part of :meth:`to_dict`.
    """

    pid: int | None
    process_name: str | None
    port: int
    cmdline: tuple[str, ...] = ()
    username: str | None = None
    uid: int | None = None
    create_time: float | None = None
    addresses: tuple[str, ...] = ()
    status: str = "LISTEN"
    parent_pids: tuple[int, ...] = ()
    start_token: str | None = field(default=None, json=False)


class KillOutcome(enum.StrEnum):
    """What ``kill_occupier()`` came to, decided where it happened.

    :cvar NO_HOLDER: nothing held the port, or only a socket no process owns (a TIME_WAIT
        leftover)
    :cvar EXITED_FIRST: processes held it, but every one exited before it could be
        signalled (the port may still be busy a moment: ``port_free`` says)
    :cvar KILLED: every holder was signalled and has exited (a zombie counts: it holds no
        sockets)
    :cvar SURVIVED: signalled, but some holder was still alive when the timeout ran out;
        nothing more is sent (``force`` or ``escalate`` would have sent SIGKILL)
    """

    NO_HOLDER = "no_holder"
    EXITED_FIRST = "exited_first"
    KILLED = "killed"
    SURVIVED = "survived"


@record
class KillResult(Record):
    """What ``kill_occupier()`` did.

    :ivar outcome: what it came to, set where it happened: the one field to branch on, the
        others give detail (keyword-only; ``no_holder`` for a result built without it)
    :ivar killed: True when every process that held the port was signalled and has exited
        (a zombie counts as exited: it holds no sockets)
    :ivar port: the port
    :ivar pid: the (first) process signalled, or the one that exited before it could be
    :ivar process_name: its name
    :ivar pids: every process signalled (a forked server has several holders)
    :ivar signal: the last signal sent (``SIGTERM``, ``SIGKILL``), or None if none was sent
    :ivar escalated: True when SIGKILL followed a SIGTERM that was ignored
    :ivar port_free: whether a server could bind the port when the call returned
    :ivar message: what happened, in a sentence
    :ivar occupiers: who held the port when the call started
    """

    killed: bool
    port: int
    pid: int | None = None
    process_name: str | None = None
    pids: tuple[int, ...] = ()
    signal: str | None = None
    escalated: bool = False
    port_free: bool = False
    message: str = ""
    occupiers: tuple[Occupier, ...] = ()
    outcome: KillOutcome = field(default=KillOutcome.NO_HOLDER, kw_only=True)


@record
class Reservation(Record):
    """What ``reserve()`` recorded.

    :ivar port: the port, now held by a registry entry
    :ivar was_occupied: True when a process held it when ``reserve()`` looked
    :ivar killed: True when that process was killed to free it
    :ivar occupier: who held it, if anyone
    :ivar allocation: the registry entry recorded
    """

    port: int
    was_occupied: bool
    killed: bool
    occupier: Occupier | None
    allocation: Allocation


@record
class ScanResult(Record):
    """What ``scan()`` found: a snapshot of a whole range, port by port as ``probe()`` sees it.

    :ivar range: the range scanned
    :ivar in_use: a result for every port a server could not start on (``in_use`` or
        ``denied``), by port
    :ivar free: how many ports of the range were free
    :ivar elapsed: how long the scan took, in seconds
    :ivar occupiers: with ``with_occupiers=True``, the holders of each in-use port from one
        snapshot of the socket table (a port may have none: a bound socket that does not
        listen, or a holder in another network namespace); None when not asked for
    """

    range: PortRange
    in_use: tuple[ProbeResult, ...]
    free: int
    elapsed: float = 0.0
    occupiers: Mapping[int, tuple[Occupier, ...]] | None = None

    def holders(self, port: int) -> tuple[Occupier, ...]:
        """The occupiers found for ``port`` (empty when none were found or asked for)."""
        if self.occupiers is None:
            return ()
        return self.occupiers.get(port, ())

    def to_dict(self) -> dict[str, Any]:
        # Deliberately not the fields: each in-use port carries its holders (when asked for).
        data = {name: to_json(getattr(self, name)) for name in ("range", "in_use", "free")}
        if self.occupiers is not None:
            for entry in data["in_use"]:
                entry["occupiers"] = to_json(self.holders(entry["port"]))
        return data | {"elapsed": self.elapsed}


class ReasonCode(enum.StrEnum):
    """What stands between a server and a port (:class:`Reason`)."""

    #: a live registry entry promises the port to a server (facts: ``allocation``,
    #: ``owner_pid``, ``owner_alive``, ``age_seconds``, ``app``, ``worktree``, ``service``)
    ALLOCATED = "allocated"
    #: a process holds it (facts: ``pid``, ``name``, ``user``, ``uid``, ``addresses``,
    #: ``state``); one reason per holder, a pre-fork server's workers too
    HELD = "held"
    #: only closed connections linger (facts: ``state``, ``addresses``): a server that sets
    #: ``SO_REUSEADDR`` can bind it, one that does not cannot yet
    TIME_WAIT = "time_wait"
    #: this user may not bind it (facts: ``unprivileged_port_start``)
    PRIVILEGED = "privileged"
    #: browsers refuse to connect to it (``ERR_UNSAFE_PORT``)
    BROWSER_UNSAFE = "browser_unsafe"
    #: it is in the kernel's ``ip_local_reserved_ports``
    RESERVED = "reserved"
    #: it is inside the kernel's ephemeral range, where outgoing connections take ports
    EPHEMERAL = "ephemeral"
    #: nothing has it and it is outside the default range, so ``allocate`` never hands it
    #: out (facts: ``range``)
    OUTSIDE_RANGE = "outside_range"


@record
class Reason(Record):
    """One thing that stands between a server and a port, with its facts.

    :ivar code: what it is
    :ivar message: it in one sentence
    :ivar facts: its details as JSON values by name (:class:`ReasonCode` lists them);
        ``to_dict()`` puts them beside ``code``
    """

    code: ReasonCode
    message: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, **to_json(self.facts), "message": self.message}


class ExplanationStatus(enum.StrEnum):
    """The verdict of :meth:`PortManager.explain`, the strongest reason first."""

    #: a server could start on the port now, and no registry entry promises it
    FREE = "free"
    #: a socket holds it
    IN_USE = "in_use"
    #: a server could bind it now, but a live registry entry promises it to another server
    ALLOCATED = "allocated"
    #: this user may not bind it (a privileged port)
    DENIED = "denied"


@record
class Explanation(Record):
    """Everything that stands between a server and a port (a snapshot, like a probe).

    :ivar port: the port
    :ivar status: the verdict
    :ivar reasons: each thing found, the ones that block first; empty for a port with
        nothing against it
    :ivar message: the verdict in one sentence
    """

    _json_keys: ClassVar[tuple[str, ...]] = ("port", "status", "reasons", "message")

    port: int
    status: ExplanationStatus
    reasons: tuple[Reason, ...]
    message: str

    def reason(self, code: ReasonCode) -> Reason | None:
        """The first reason with ``code``, or None."""
        return next((r for r in self.reasons if r.code is code), None)


@record
class ProcessIdentity:
    """Who a PID was when it was looked up (or recorded).

    :ivar pid: the process id
    :ivar create_time: its wall-clock start, seconds since the epoch
    :ivar token: its clock-independent start (``linux:<boot id>:<start ticks>``), or None
        where the OS has none
    """

    pid: int
    create_time: float
    token: str | None
