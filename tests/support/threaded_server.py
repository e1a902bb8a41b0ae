"""An ASGI app served by uvicorn on 127.0.0.1 in a background thread (the fake upstreams,
an in-process gateway)."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import uvicorn

from tests.support.polling import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """``start()`` returns once uvicorn listens on :attr:`port`; ``stop()`` waits for it."""

    def __init__(self, app: Any, name: str, **config: Any) -> None:
        self.port = free_port()
        options: dict[str, Any] = {"log_level": "critical", **config}
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, **options)
        )
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        with contextlib.suppress(AssertionError):  # said below, in the server's words
            wait_for(lambda: self._server.started or not self._thread.is_alive(), timeout)
        if not self._server.started:
            raise RuntimeError(f"{self._thread.name} did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
