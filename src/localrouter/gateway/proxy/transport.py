"""A lean HTTP/1.1 transport for httpx, used for plain-``http://`` upstreams.

Why: on the gateway's hot path the default transport (httpcore + h11 + anyio) was most of
the CPU a proxied request costs, and its pool bookkeeping grows with the square of the open
connections. Local upstreams (Ollama, vLLM, llama.cpp, LM Studio) are where that overhead
shows, so ``http://`` goes through this transport: asyncio streams, the httptools parser
(C, the one uvicorn uses) and a keep-alive pool per origin. ``https://`` keeps httpx's
standard transport (TLS, proxies). The client is still an ``httpx.AsyncClient``: requests,
responses, timeouts and exceptions are httpx's own.

Semantics kept: ``timeout`` extensions (connect / read / write), streamed response bodies,
chunked and content-length framing, keep-alive reuse (``Connection: close`` honoured),
closing a response early closes its connection (the upstream sees the cancel). A request
sent on a reused connection that the server had already closed (the keep-alive race) is
retried once on a fresh connection, before any response byte arrived.
"""

from __future__ import annotations

import asyncio
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
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, expiry: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < expiry
        )

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


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


class FastHTTPTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_idle_per_origin: int = 128, keepalive_expiry: float = 30.0) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._expiry = keepalive_expiry

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()  # most recently used first: the warmest connection
            if conn.usable(self._expiry):
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(key, deque())
        if len(idle) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

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
        return _Connection(reader, writer)

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

        conn = self._take(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect(key, timeouts.get("connect"))
            try:
                return await self._exchange(key, conn, payload, timeouts)
            except _StaleConnection:
                conn.close()
                if not reused:
                    raise httpx.RemoteProtocolError(
                        "server disconnected without sending a response"
                    ) from None
                conn, reused = None, False  # retry once on a fresh connection
            except BaseException:
                conn.close()
                raise

    async def _exchange(
        self, key: tuple[str, int], conn: _Connection, payload: bytes, timeouts: dict[str, Any]
    ) -> httpx.Response:
        try:
            conn.writer.write(payload)
            if conn.writer.transport.get_write_buffer_size() > 0:
                async with asyncio.timeout(timeouts.get("write")):
                    await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request") from None
        except OSError as exc:
            raise _StaleConnection from exc
        parsed = _Parsed()
        parser = parsed.parser = httptools.HttpResponseParser(parsed)
        read_timeout = timeouts.get("read")
        first = True
        while not parsed.headers_done:
            try:
                data = await _read(conn, read_timeout)
            except httpx.ReadError as exc:
                if first:
                    raise _StaleConnection from exc
                raise
            if not data:
                if first:
                    raise _StaleConnection
                raise httpx.RemoteProtocolError("server disconnected in the middle of headers")
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
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


class _StaleConnection(Exception):
    """The connection was closed before any response byte: safe to retry elsewhere."""
