"""A uvicorn server that records its address in HOME (see discovery) while it serves."""

from __future__ import annotations

import socket
from pathlib import Path

import uvicorn

from localrouter.cli.discovery import forget_gateway, record_gateway


class RecordedServer(uvicorn.Server):
    """Records this gateway's address in HOME once it listens and removes the record when it
    shuts down cleanly (here, not after run(): uvicorn re-raises SIGTERM once stopped)."""

    def __init__(self, config: uvicorn.Config, home: Path, url: str) -> None:
        super().__init__(config)
        self.home, self.url = home, url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            record_gateway(self.home, self.url)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        forget_gateway(self.home)
        await super().shutdown(sockets)
