"""Reading HTTP/1.1 requests off a raw socket, for fake servers below HTTP libraries."""

from __future__ import annotations

import socket
import threading


def read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """The next request's body (``content-length`` framing) and what was read past it, given
    the bytes already buffered; None when the peer closed first."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < length:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    return buffer[:length], buffer[length:]


class RawSocketServer:
    """Listens on 127.0.0.1 and hands each accepted connection to :meth:`handle` in a thread
    of its own; counts ``connections``. ``start()`` begins accepting, ``close()`` stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = int(self._sock.getsockname()[1])

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> None:
        threading.Thread(target=self._serve, name=type(self).__name__, daemon=True).start()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
