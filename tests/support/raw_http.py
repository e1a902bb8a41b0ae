"""Reading HTTP/1.1 requests off a raw socket, for fake servers below HTTP libraries."""

from __future__ import annotations

import socket


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
