"""A uvicorn server that records its address in HOME (see discovery) while it serves, and
shuts down gracefully: in-flight requests get the configured grace period, then end with
an error of their own, and the access log is closed after the last of them."""

from __future__ import annotations

import asyncio
import math
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from localrouter.cli.discovery import forget_gateway, record_gateway

# uvicorn cancels what still runs this long after the grace period; our requests end
# themselves at the grace period, so this only catches a client that stopped reading.
_BACKSTOP_SECS = 5

BeginShutdown = Callable[[float | None], float]


class RecordedServer(uvicorn.Server):
    """Records this gateway's address in HOME once it listens and removes the record when it
    shuts down cleanly (here, not after run(): uvicorn re-raises SIGTERM once stopped).

    ``begin_shutdown(grace)`` is called as shutdown starts (before uvicorn stops accepting)
    with None (the configured grace period), and with 0 on a second Ctrl+C; it tells the app
    and returns the grace period in seconds."""

    def __init__(
        self, config: uvicorn.Config, home: Path, url: str, begin_shutdown: BeginShutdown
    ) -> None:
        super().__init__(config)
        self.home, self.url = home, url
        self._begin_shutdown = begin_shutdown
        self._loop: asyncio.AbstractEventLoop | None = None  # set once shutdown began

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            record_gateway(self.home, self.url)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and sig == signal.SIGINT:
            # A second Ctrl+C: end the grace period now. uvicorn's own "force exit" would
            # drop the requests in flight unanswered and unlogged.
            self._loop.call_soon_threadsafe(self._begin_shutdown, 0.0)
            return
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        forget_gateway(self.home)
        # Read at each shutdown: the grace period may have been changed while serving.
        grace = self._begin_shutdown(None)
        self._loop = asyncio.get_running_loop()
        self.config.timeout_graceful_shutdown = math.ceil(grace + _BACKSTOP_SECS)
        # uvicorn stops accepting, waits for the requests, then runs the app's lifespan
        # shutdown (which drains the access log).
        await super().shutdown(sockets)
        if not self.force_exit:
            # A clean stop exits 0: uvicorn would re-raise SIGTERM/SIGINT once run() returns.
            self._captured_signals.clear()
