"""pytest fixtures that hand out ports through the shared registry.

Installed as a ``pytest11`` entry point, so the fixtures exist wherever aioports is installed:

- ``aioports_port``: a port leased for the test;
- ``aioports_socket``: a socket already bound to a leased port, not yet listening;
- ``aioports_port_factory``: call it for as many ports as the test needs;
- ``aioports_session_port_factory``: the same for session-scoped fixtures (a server started
  once for the whole run), its leases released when the session ends.

Every port is an owner-bound lease in the registry every process of the user shares, so
pytest-xdist workers, and separate pytest runs (in other git worktrees, say), never get the
same port; all are released at teardown, and a worker that crashes gives its ports back.
The range is the ini option ``aioports_range`` (``20000-20999``), else what every other door
uses (``$AIOPORTS_RANGE``, the range saved by ``aioports set-range``, 3000-3999); the registry
is ``$AIOPORTS_REGISTRY``, else the user's state folder. A port costs one registry update
through the sync door (about a millisecond), not an event loop.

pytest imports this module; ``import aioports`` never does.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from ._lease import Lease
from ._models import PortRange, RangeLike
from ._sync import SyncPortManager

__all__ = (
    "PortFactory",
    "aioports_port",
    "aioports_port_factory",
    "aioports_session_port_factory",
    "aioports_socket",
    "pytest_addoption",
)

RANGE_INI = "aioports_range"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        RANGE_INI,
        "port range of the aioports fixtures, e.g. 20000-20999 "
        "(default: $AIOPORTS_RANGE, else the saved range, else 3000-3999)",
        default="",
    )


class PortFactory:
    """Leases ports for one test; every lease ends when the test's teardown closes the stack.

    :param stack: closed at teardown
    :param range: the default range; None defers to ``$AIOPORTS_RANGE``
    :param metadata: recorded with every allocation (the test id, the xdist worker)
    """

    __slots__ = ("_manager", "_metadata", "_range", "_stack")

    def __init__(
        self,
        stack: contextlib.ExitStack,
        range: PortRange | None,
        metadata: Mapping[str, Any],
    ) -> None:
        self._stack = stack
        self._range = range
        self._metadata = dict(metadata)
        self._manager = SyncPortManager()

    def __call__(
        self, range: RangeLike | None = None, metadata: Mapping[str, Any] | None = None
    ) -> int:
        """Lease one more port for this test.

        :raises NoFreePortError: when the range has no free port.
        """
        return self.lease(range, metadata).port

    def lease(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        hold: bool = False,
        host: str = "127.0.0.1",
    ) -> Lease:
        """Lease one more port, with its socket bound when ``hold`` is set.

        :raises NoFreePortError: when the range has no free port.
        """
        # In an async test this blocks the loop for a registry update, as a fixture may.
        lease = self._manager.acquire_lease(
            self._range if range is None else range,
            {**self._metadata, **(metadata or {})},
            hold=hold,
            host=host,
        )
        self._stack.callback(lease.release_blocking)
        return lease


def _factory(config: pytest.Config, owner: str) -> Iterator[PortFactory]:
    text = str(config.getini(RANGE_INI)).strip()
    span = PortRange.parse(text) if text else None
    metadata = {"pytest": owner}
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        metadata["xdist_worker"] = worker
    with contextlib.ExitStack() as stack:
        yield PortFactory(stack, span, metadata)


@pytest.fixture
def aioports_port_factory(request: pytest.FixtureRequest) -> Iterator[PortFactory]:
    """A :class:`PortFactory`: ``aioports_port_factory()`` leases another port, released
    when the test ends."""
    yield from _factory(request.config, request.node.nodeid)


@pytest.fixture(scope="session")
def aioports_session_port_factory(request: pytest.FixtureRequest) -> Iterator[PortFactory]:
    """A :class:`PortFactory` for session-scoped fixtures: its leases last until the test
    session ends (a server started once for the whole run)."""
    yield from _factory(request.config, "session")


@pytest.fixture
def aioports_port(aioports_port_factory: PortFactory) -> int:
    """A port leased for this test: allocated in the shared registry, released at teardown."""
    return aioports_port_factory()


@pytest.fixture
def aioports_socket(aioports_port_factory: PortFactory) -> socket.socket:
    """A TCP socket bound to a leased port on 127.0.0.1, not yet listening: hand it to the
    server under test (``asyncio.start_server(sock=...)``); the port is
    ``aioports_socket.getsockname()[1]``. Its ``listen()`` sets ``SO_REUSEADDR`` first, so the
    TIME_WAIT leftovers of the test's connections do not take the port out of the range."""
    sock = aioports_port_factory.lease(hold=True).socket
    assert sock is not None
    return sock
