"""A lean HTTP/1.1 transport for httpx, used for plain-``http://`` upstreams.

Why: on the gateway's hot path the default transport (httpcore + h11 + anyio) was most of
the CPU a proxied request costs, and its pool bookkeeping grows with the square of the open
connections (measured: at concurrency 64 a third of the requests per second). Local upstreams
(Ollama, vLLM, llama.cpp, LM Studio) are where that overhead shows, so ``http://`` goes
through this transport: asyncio streams, the httptools parser (C, the one uvicorn uses) and
one keep-alive pool. ``https://`` keeps httpx's standard transport (TLS, proxies). Requests,
responses, timeouts and exceptions are httpx's own.

Semantics kept from httpx: ``Limits`` (``max_connections`` open at once, waiting up to the
``pool`` timeout for a free one, then ``httpx.PoolTimeout``; ``max_keepalive_connections``
idle; ``keepalive_expiry``), the ``timeout`` extension (connect / read / write / pool),
streamed bodies, chunked, content-length and close-delimited framing, ``Connection: close``,
closing a response early closes its connection (the upstream sees the cancel).

A request is never sent twice: a pooled connection is checked before the request is
written (the server closed it, sent something unasked, or it expired: another one is
taken); once the first byte is written, a failure is the caller's to handle (a POST may
have reached the upstream).
"""

from __future__ import annotations

import asyncio
import select
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

_READ_SIZE = 65536


class _Parsed:
    """httptools callbacks: collects the status line, headers and body pieces."""

    __slots__ = ("body", "complete", "headers", "headers_done", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.body: list[bytes] = []
        self.status = 0
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # Asked now: once the message is done the parser resets and always answers False.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()


class _Connection:
    __slots__ = ("closed", "fd", "idle_since", "key", "pool", "reader", "writer")

    def __init__(
        self,
        pool: FastHTTPTransport,
        key: tuple[str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.pool = pool
        self.key = key
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.closed = False
        sock = writer.get_extra_info("socket")
        self.fd: int = sock.fileno() if sock is not None else -1

    def usable(self, now: float, expiry: float | None) -> bool:
        """Safe to write a request on: open, not expired, and nothing arrived while idle (an
        idle socket that polls readable was closed by the server or sent bytes unasked; the
        kernel knows before the event loop has run)."""
        if self.writer.is_closing() or self.reader.at_eof():
            return False
        if expiry is not None and now - self.idle_since >= expiry:
            return False
        return self.fd < 0 or not _readable(self.fd)

    def close(self) -> None:
        """Close once; the pool counts the connection as gone and wakes a waiter."""
        if self.closed:
            return
        self.closed = True
        if not self.writer.is_closing():
            self.writer.close()
        self.pool._closed_one()


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _ResponseStream(httpx.AsyncByteStream):
    """The body, read from the socket as the caller iterates."""

    def __init__(
        self,
        transport: FastHTTPTransport,
        key: tuple[str, int],
        conn: _Connection,
        parser: httptools.HttpResponseParser,
        parsed: _Parsed,
        read_timeout: float | None,
        until_eof: bool,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._parser = parser
        self._parsed = parsed
        self._read_timeout = read_timeout
        self._until_eof = until_eof

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parsed = self._parsed
        try:
            while True:
                if parsed.body:
                    pieces, parsed.body = parsed.body, []
                    for piece in pieces:
                        yield piece
                if parsed.complete or self._conn is None:
                    break
                data = await _read(self._conn, self._read_timeout)
                if not data:
                    if self._until_eof:
                        break  # a close-delimited body ends with the connection
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                _feed(self._parser, data)
        finally:
            self._finish()

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._parsed.complete and not self._parsed.body and self._parsed.keep_alive:
            self._transport._release(self._key, conn)
        else:
            conn.close()  # unread rest or no keep-alive: the connection cannot be reused

    async def aclose(self) -> None:
        self._finish()


async def _read(conn: _Connection, timeout: float | None) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            return await conn.reader.read(_READ_SIZE)
    except TimeoutError:
        conn.close()
        raise httpx.ReadTimeout("timed out waiting for the upstream") from None
    except OSError as exc:
        conn.close()
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


def _feed(parser: httptools.HttpResponseParser, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:  # pragma: no cover - upstreams do not upgrade
        raise httpx.RemoteProtocolError("unexpected protocol upgrade") from None
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"invalid HTTP response: {exc}") from None


DEFAULT_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128)


class FastHTTPTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self._max_open = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._idle_count = 0
        self._open = 0  # connections open or being opened, idle ones included
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def open_connections(self) -> int:
        return self._open

    # -- the pool ----------------------------------------------------------------------------

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # most recently used first: the warmest connection
            self._idle_count -= 1
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, int], conn: _Connection) -> None:
        if conn.closed:
            return
        if self._max_idle is not None and self._idle_count >= self._max_idle:
            conn.close()
            return
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        conn.idle_since = now = time.monotonic()
        idle.append(conn)
        self._idle_count += 1
        if self._expiry is not None:
            while idle and idle[0].idle_since <= now - self._expiry:  # the cold end
                self._idle_count -= 1
                idle.popleft().close()
        self._wake()

    def _evict_idle(self) -> bool:
        """Close one idle connection (the oldest of another origin first) to make room."""
        oldest: deque[_Connection] | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest[0].idle_since):
                oldest = idle
        if oldest is None:
            return False
        self._idle_count -= 1
        oldest.popleft().close()
        return True

    def _closed_one(self) -> None:
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _acquire(
        self, key: tuple[str, int], timeouts: dict[str, Any]
    ) -> tuple[_Connection, bool]:
        """A connection for ``key`` (and whether it was pooled), within ``max_connections``:
        waits up to the pool timeout for one to be released or closed."""
        deadline: float | None = None
        while True:
            conn = self._take(key)
            if conn is not None:
                return conn, True
            if self._max_open is None or self._open < self._max_open or self._evict_idle():
                self._open += 1
                try:
                    return await self._connect(key, timeouts.get("connect")), False
                except BaseException:
                    self._closed_one()
                    raise
            if deadline is None:
                pool_timeout = timeouts.get("pool")
                deadline = float("inf") if pool_timeout is None else time.monotonic() + pool_timeout
            await self._wait(deadline)

    async def _wait(self, deadline: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(None if remaining == float("inf") else remaining):
                await waiter
        except TimeoutError:
            self._leave(waiter)
            raise httpx.PoolTimeout(
                f"no free upstream connection within the pool timeout "
                f"(max_connections={self._max_open})"
            ) from None
        except BaseException:
            self._leave(waiter)
            raise

    def _leave(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            self._wake()  # woken just as we gave up: the turn goes to the next waiter
        elif waiter in self._waiters:
            self._waiters.remove(waiter)

    async def _connect(self, key: tuple[str, int], timeout: float | None) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(key[0], key[1], limit=_READ_SIZE)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {key[0]}:{key[1]}") from None
        except OSError as exc:
            raise httpx.ConnectError(
                f"cannot connect to {key[0]}:{key[1]}: {exc.strerror or exc}"
            ) from exc
        return _Connection(self, key, reader, writer)

    # -- one exchange ------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol("FastHTTPTransport only speaks plain http://")
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        key = (url.host, url.port or 80)
        body = await request.aread()
        head = [request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        payload = b"".join(head) + body

        conn, _ = await self._acquire(key, timeouts)
        try:
            return await self._exchange(key, conn, payload, timeouts, request)
        except BaseException:
            conn.close()
            raise

    async def _exchange(
        self,
        key: tuple[str, int],
        conn: _Connection,
        payload: bytes,
        timeouts: dict[str, Any],
        request: httpx.Request,
    ) -> httpx.Response:
        # From here on the request may reach the upstream: no error below is retried.
        try:
            conn.writer.write(payload)
            if conn.writer.transport.get_write_buffer_size() > 0:
                async with asyncio.timeout(timeouts.get("write")):
                    await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
        parsed = _Parsed()
        parser = parsed.parser = httptools.HttpResponseParser(parsed)
        read_timeout = timeouts.get("read")
        first = True
        while not parsed.headers_done:
            data = await _read(conn, read_timeout)
            if not data:
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response"
                    if first
                    else "server disconnected in the middle of the response headers"
                )
            first = False
            _feed(parser, data)
        parsed.status = parser.get_status_code()
        names = {name.lower() for name, _ in parsed.headers}
        until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        stream = _ResponseStream(self, key, conn, parser, parsed, read_timeout, until_eof)
        return httpx.Response(
            parsed.status,
            headers=parsed.headers,
            stream=stream,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
        self._idle_count = 0
