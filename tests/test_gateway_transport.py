"""The lean HTTP/1.1 transport of plain-http upstreams, against raw sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from localrouter.gateway.proxy.transport import FastHTTPTransport
from tests.support.polling import wait_for
from tests.support.raw_http import RawSocketServer, read_request
from tests.support.threaded_server import free_port

# request number -> raw answer; None: close silently; RESET: close with a TCP reset
Reply = Callable[[int], bytes | None]
RESET = b"<reset>"


class RawServer(RawSocketServer):
    """Reads one request head (+ content-length body) at a time and writes ``reply(n)``;
    ``close_after`` closes the connection after each answer. Counts connections, requests,
    the connections it closed, and the most requests it was working on at once."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        super().__init__()
        self.reply = reply
        self.close_after = close_after
        self.closed = 0
        self.requests = 0
        self.busy = 0
        self.peak_busy = 0
        self.start()

    def handle(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        finally:
            conn.close()
            with self._lock:
                self.closed += 1

    def _exchange(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            request = read_request(conn, buffer)
            if request is None:
                return
            buffer = request[1]
            with self._lock:
                self.requests += 1
                number = self.requests
                self.busy += 1
                self.peak_busy = max(self.peak_busy, self.busy)
            try:
                answer = self.reply(number)
            finally:
                with self._lock:
                    self.busy -= 1
            if answer is None:
                return
            if answer == RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            conn.sendall(answer)
            if self.close_after:
                return


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


def test_pooled_connection_closed_by_the_server_is_replaced_before_writing(
    server_factory: Callable[..., RawServer],
) -> None:
    # The server drops the connection after each answer without saying so. Once it has, the
    # next request must not be written on it: a new connection carries it, sent once.
    server = server_factory(lambda n: ok(b"answer %d" % n), close_after=True)

    async def run() -> list[bytes]:
        answers = []
        async with httpx.AsyncClient(transport=FastHTTPTransport(), timeout=5) as client:
            for n in range(1, 4):
                answer = await client.post(f"http://127.0.0.1:{server.port}/v1/x", content=b"{}")
                answers.append(answer.content)
                await asyncio.to_thread(wait_for, lambda n=n: server.closed == n, 5)
        return answers

    assert asyncio.run(run()) == [b"answer 1", b"answer 2", b"answer 3"]
    assert (server.connections, server.requests) == (3, 3)


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


@pytest.mark.parametrize(
    ("answer", "error"), [(None, httpx.RemoteProtocolError), (RESET, httpx.ReadError)]
)
def test_a_request_is_never_sent_twice(
    server_factory: Callable[..., RawServer], answer: bytes | None, error: type[Exception]
) -> None:
    # Request 2 arrives on the kept-alive connection, which the server then closes (or
    # resets) without an answer. It may have been acted on: it is not sent again.
    server = server_factory(lambda n: answer if n == 2 else ok(b"answer %d" % n))
    with pytest.raises(error):
        fetch(server.port, 2)
    assert (server.connections, server.requests) == (1, 2)


def gather(
    port: int, count: int, limits: httpx.Limits, pool: float | None = 5.0
) -> tuple[list[httpx.Response | BaseException], FastHTTPTransport]:
    """``count`` concurrent requests through one transport with ``limits``."""
    transport = FastHTTPTransport(limits=limits)

    async def run() -> list[httpx.Response | BaseException]:
        timeout = httpx.Timeout(5.0, pool=pool)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            url = f"http://127.0.0.1:{port}/v1/x"
            return await asyncio.gather(
                *(client.post(url, content=b"{}") for _ in range(count)), return_exceptions=True
            )

    return asyncio.run(run()), transport


def test_max_connections_is_honoured(server_factory: Callable[..., RawServer]) -> None:
    release = threading.Event()

    def reply(n: int) -> bytes:
        release.wait(5)
        return ok(b"answer")

    server = server_factory(reply)
    threading.Timer(0.3, release.set).start()  # lets 2 requests wait at the server a while
    answers, _ = gather(server.port, 6, httpx.Limits(max_connections=2))
    assert [getattr(a, "status_code", a) for a in answers] == [200] * 6
    assert server.connections == 2 and server.peak_busy == 2


def test_waiting_for_a_connection_ends_at_the_pool_timeout(
    server_factory: Callable[..., RawServer],
) -> None:
    release = threading.Event()
    server = server_factory(lambda n: (release.wait(5), ok())[1])
    threading.Timer(1.0, release.set).start()
    answers, transport = gather(server.port, 3, httpx.Limits(max_connections=1), pool=0.2)
    assert sum(isinstance(a, httpx.Response) for a in answers) == 1
    assert sum(isinstance(a, httpx.PoolTimeout) for a in answers) == 2
    assert server.requests == 1  # the ones that timed out were never sent
    assert transport.open_connections <= 1


def test_keep_alive_limit_closes_the_surplus(server_factory: Callable[..., RawServer]) -> None:
    release = threading.Event()
    server = server_factory(lambda n: (release.wait(5), ok())[1])
    transport = FastHTTPTransport(
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=1)
    )

    async def run() -> list[int]:
        client = httpx.AsyncClient(transport=transport, timeout=5)
        url = f"http://127.0.0.1:{server.port}/"
        threading.Timer(0.3, release.set).start()
        answers = await asyncio.gather(*(client.post(url, content=b"") for _ in range(3)))
        assert transport.open_connections == 1
        await asyncio.to_thread(wait_for, lambda: server.closed == 2, 5)  # one kept alive
        answers.append(await client.post(url, content=b""))  # ... and used again
        await client.aclose()
        return [a.status_code for a in answers]

    assert asyncio.run(run()) == [200] * 4
    assert server.connections == 3


def test_an_idle_connection_elsewhere_makes_room(server_factory: Callable[..., RawServer]) -> None:
    first = server_factory(lambda n: ok(b"first"))
    second = server_factory(lambda n: ok(b"second"))
    transport = FastHTTPTransport(limits=httpx.Limits(max_connections=1))

    async def run() -> list[bytes]:
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, pool=1)) as c:
            answers = []
            for port in (first.port, second.port, first.port):
                answers.append((await c.post(f"http://127.0.0.1:{port}/", content=b"")).content)
            return answers

    assert asyncio.run(run()) == [b"first", b"second", b"first"]
    assert (first.connections, second.connections) == (2, 1)


@pytest.mark.parametrize(("expiry", "connections"), [(0.0, 3), (30.0, 1)])
def test_keepalive_expiry(
    server_factory: Callable[..., RawServer], expiry: float, connections: int
) -> None:
    server = server_factory(lambda n: ok())
    transport = FastHTTPTransport(limits=httpx.Limits(keepalive_expiry=expiry))

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            for _ in range(3):
                await client.post(f"http://127.0.0.1:{server.port}/", content=b"")

    asyncio.run(run())
    assert (server.connections, server.requests) == (connections, 3)
