"""Graceful shutdown: in-flight requests get ``server.shutdown_grace_secs`` to finish.

The server (``localrouter serve``) calls :meth:`Drain.begin` when SIGTERM or Ctrl+C stops it,
after it stopped accepting connections. Until then nothing is bounded. Each request's waits
run inside :meth:`Drain.scope`: an :func:`asyncio.timeout` with no deadline, which ``begin``
moves to "now + grace" for every scope open and every one opened later. A wait still running
at the deadline ends with :class:`ShuttingDown`, and the request answers with an
OpenAI-shaped error (a 503, or an error event and ``[DONE]`` in a stream) and is logged like
any other: the server then finds no request left and shuts down the access log last.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from localrouter.gateway.errors import ApiError


class ShuttingDown(Exception):
    """The shutdown grace period ended before this request did."""


SHUTDOWN_MESSAGE = "the gateway shut down before the answer was complete"


def shutdown_error() -> ApiError:
    return ApiError(503, SHUTDOWN_MESSAGE, "gateway_shutting_down")


class Drain:
    """The requests' shared shutdown deadline (loop time); none while serving."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self._scopes: set[asyncio.Timeout] = set()

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    @property
    def expired(self) -> bool:
        return self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline

    def begin(self, grace: float) -> None:
        """Shutdown started: every wait of every request ends ``grace`` seconds from now."""
        self.deadline = asyncio.get_running_loop().time() + grace
        for scope in self._scopes:
            if not scope.expired():
                scope.reschedule(self.deadline)

    def scope(self) -> _Scope:
        """``async with drain.scope():`` raises :class:`ShuttingDown` at the deadline."""
        return _Scope(self)


class _Scope:
    __slots__ = ("_drain", "_timeout")

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._timeout = asyncio.timeout_at(drain.deadline)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        self._drain._scopes.add(self._timeout)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._drain._scopes.discard(self._timeout)
        try:
            await self._timeout.__aexit__(kind, exc, tb)
        except TimeoutError:
            if self._timeout.expired():
                raise ShuttingDown from None
            raise
