"""The lean HTTP/1.1 transport of plain-http upstreams, against raw sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from localrouter.gateway.proxy.transport import FastHTTPTransport
from tests.support.fake_upstream import free_port

Reply = Callable[[int], bytes | None]  # request number -> raw answer (None: close silently)


class RawServer:
    """Reads one request head (+ content-length body) at a time and writes ``reply(n)``;
    ``close_after`` closes the connection after each answer. Counts connections."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.connections = 0
        self.requests = 0
        self.port = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                self.requests += 1
                answer = self.reply(self.requests)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close_after:
                    return

    def close(self) -> None:
        self._sock.close()


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
def server_factory() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(reply: Reply, **kwargs: bool) -> RawServer:
        servers.append(RawServer(reply, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def fetch(port: int, count: int = 1, timeout: float = 5.0) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = FastHTTPTransport()
        answers = []
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            for _ in range(count):
                answer = await client.post(f"http://127.0.0.1:{port}/v1/x", content=b"{}")
                answers.append(answer)
        return answers

    return asyncio.run(run())


def test_keep_alive_reuses_one_connection(server_factory: Callable[..., RawServer]) -> None:
    server = server_factory(lambda n: ok(b"answer %d" % n))
    answers = fetch(server.port, 5)
    assert [a.content for a in answers] == [b"answer %d" % n for n in range(1, 6)]
    assert server.connections == 1


def test_connection_close_is_honoured(server_factory: Callable[..., RawServer]) -> None:
    server = server_factory(lambda n: ok(extra=b"connection: close\r\n"), close_after=True)
    assert [a.status_code for a in fetch(server.port, 3)] == [200, 200, 200]
    assert server.connections == 3


def test_dropped_keep_alive_connections_are_replaced(
    server_factory: Callable[..., RawServer],
) -> None:
    # The server drops the connection after each answer without saying so: every request
    # must still get through (on a new connection, resent if it met the closed one).
    server = server_factory(lambda n: ok(), close_after=True)
    assert [a.content for a in fetch(server.port, 3)] == [b"hello"] * 3
    assert server.connections == 3


def test_chunked_and_close_delimited_bodies(server_factory: Callable[..., RawServer]) -> None:
    chunked = server_factory(
        lambda n: (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
    )
    assert fetch(chunked.port)[0].content == b"hello world"
    until_close = server_factory(
        lambda n: b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close_after=True
    )
    assert fetch(until_close.port)[0].content == b"until the end"


def test_truncated_body_is_an_error(server_factory: Callable[..., RawServer]) -> None:
    server = server_factory(
        lambda n: b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort", close_after=True
    )
    with pytest.raises(httpx.RemoteProtocolError):
        fetch(server.port)


def test_no_answer_on_fresh_connection_is_an_error(
    server_factory: Callable[..., RawServer],
) -> None:
    server = server_factory(lambda n: None)
    with pytest.raises(httpx.RemoteProtocolError):
        fetch(server.port)
    assert server.connections == 1  # a fresh connection is not retried


def test_timeouts_and_connect_errors(server_factory: Callable[..., RawServer]) -> None:
    silent = threading.Event()
    server = server_factory(lambda n: (silent.wait(5), ok())[1])
    with pytest.raises(httpx.ReadTimeout):
        fetch(server.port, timeout=0.3)
    silent.set()
    with pytest.raises(httpx.ConnectError):
        fetch(free_port())


def test_only_plain_http() -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=FastHTTPTransport()) as client:
            await client.get("https://127.0.0.1:1/")

    with pytest.raises(httpx.UnsupportedProtocol):
        asyncio.run(run())


def test_reused_connection_closed_unanswered_is_resent_once(
    server_factory: Callable[..., RawServer],
) -> None:
    # Request 2 arrives on the kept-alive connection, which the server then closes without
    # an answer (the keep-alive race): it is resent on a fresh connection and answered.
    server = server_factory(lambda n: None if n == 2 else ok(b"answer %d" % n))
    answers = fetch(server.port, 2)
    assert [a.content for a in answers] == [b"answer 1", b"answer 3"]
    assert (server.connections, server.requests) == (2, 3)
