"""A small OpenAI-compatible upstream on 127.0.0.1 that can fail on demand.

Usage (in-process, with recording and failure control)::

    with FakeUpstream() as upstream:            # uvicorn in a background thread, free port
        upstream.base_url                        # "http://127.0.0.1:PORT/v1"
        upstream.fail("gpt-x", "500")            # per model; see BEHAVIOURS
        upstream.fail("gpt-y", "stream_drop", after_chunks=2)
        upstream.reset()                         # forget behaviours and recorded requests
        upstream.requests                        # list[Recorded]: method, path, headers, body
        upstream.requests_for("gpt-x")           # recorded requests naming that model

Endpoints: ``POST /v1/chat/completions`` (with ``stream``; honours
``stream_options.include_usage``), ``POST /v1/completions`` (also streaming),
``POST /v1/embeddings``, ``GET /v1/models``. Answers are deterministic: the content is
``"reply from <model>"`` (``reply`` option overrides), usage counts words.

Behaviours (``fail(model, kind, **options)``):

- ``"500"`` / ``"503"`` / ``"429"`` / ``"400"`` / ``"401"``: that status with an
  OpenAI-shaped error; ``message`` overrides its text, where ``{auth}`` becomes the
  Authorization header received (to test that the gateway never echoes keys); ``code``
  overrides its code (``None``: no code). A 429 carries ``retry-after`` (``retry_after``,
  default 7).
- ``"context_length"``: 400 with ``code: context_length_exceeded``.
- ``"truncate"``: a non-streaming answer whose ``content-length`` announces the whole JSON
  body, half of it sent, then the connection dropped.
- ``"stream_end_early"``: streams ``after_chunks`` chunks (default 2) and ends the stream
  cleanly, without a ``finish_reason`` or ``[DONE]``.
- ``"drip"``: a non-streaming answer sent one byte every ``interval`` seconds (default 2).
- ``"timeout"``: waits ``delay`` seconds (default 30) before answering; set the provider's
  ``timeout_secs`` below it.
- ``"stream_drop"``: streams ``after_chunks`` chunks (0 = none, after the headers) and then
  drops the connection.
- ``"no_stream_options"``: 400 naming ``stream_options`` when the body has it (an older
  server), normal answers otherwise.
- ``"slow_stream"``: streams ``chunks`` chunks ``interval`` seconds apart (to test client
  disconnects; ``cancelled`` counts streams the gateway closed before the end).
- ``"hold"``: holds the request (no response byte) until the gateway closes the connection,
  or ``delay`` seconds (default 30) pass and it answers normally. ``held`` counts requests
  that arrived and are held, ``held_closed`` those whose connection the gateway closed while
  held (to test that a client disconnect cancels the upstream request).

Every answer carries upstream headers that clients read: ``x-request-id: req-fake-<n>``
(``n`` counts requests), ``openai-processing-ms`` and ``x-ratelimit-remaining-requests``.

:class:`RawFaultUpstream` is the same idea below HTTP libraries, for faults uvicorn cannot
make: a reset right after reading the request, a body delimited by the connection's close
and cut short.

Thread-safe: behaviours and records are guarded by a lock; the server runs on its own loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.raw_http import RawSocketServer, read_request
from tests.support.threaded_server import ThreadedServer

BEHAVIOURS = (
    "500",
    "503",
    "429",
    "400",
    "401",
    "context_length",
    "truncate",
    "stream_end_early",
    "drip",
    "timeout",
    "stream_drop",
    "slow_stream",
    "no_stream_options",
    "hold",
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


@dataclass
class _Behaviour:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


class _Dropped(Exception):
    """Raised inside a streaming body: uvicorn then closes the connection mid-response."""


class FakeUpstream:
    def __init__(self, *, record: bool = True) -> None:
        self._record = record
        self._lock = threading.Lock()
        self._behaviours: dict[str, _Behaviour] = {}
        self._requests: list[Recorded] = []
        self.cancelled = 0  # slow streams closed by the other side before their end
        self.completed_streams = 0
        self.held = 0  # "hold" requests that arrived
        self.held_closed = 0  # ... and whose connection the other side closed while held
        self._server: ThreadedServer | None = None
        self.port = 0

    # -- control -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail(self, model: str, kind: str, **options: Any) -> None:
        if kind not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {kind!r}; one of {BEHAVIOURS}")
        with self._lock:
            self._behaviours[model] = _Behaviour(kind, options)

    def heal(self, model: str) -> None:
        with self._lock:
            self._behaviours.pop(model, None)

    def reset(self) -> None:
        with self._lock:
            self._behaviours.clear()
            self._requests.clear()
            self.cancelled = 0
            self.completed_streams = 0
            self.held = 0
            self.held_closed = 0

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[Recorded]:
        return [r for r in self.requests if r.model == model]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeUpstream:
        self._server = ThreadedServer(
            self._app(),
            "fake-upstream",
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="off",
        ).start(timeout)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the server --------------------------------------------------------------------------

    def _app(self) -> Any:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        counter = itertools.count(1)

        async def with_headers(scope: Any, receive: Any, send: Any) -> None:
            number = next(counter)

            async def send_with_headers(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", b"req-fake-%d" % number),
                        (b"openai-processing-ms", b"7"),
                        (b"x-ratelimit-remaining-requests", b"99"),
                    ]
                await send(message)

            await app(scope, receive, send_with_headers)

        return with_headers

    async def _take(self, request: Request) -> tuple[dict[str, Any], _Behaviour | None]:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            if self._record:
                self._requests.append(
                    Recorded(request.method, request.url.path, dict(request.headers), body)
                )
            model = body.get("model") if isinstance(body, dict) else None
            behaviour = self._behaviours.get(model) if isinstance(model, str) else None
        return (body if isinstance(body, dict) else {}), behaviour

    async def _failure(
        self, request: Request, body: dict[str, Any], behaviour: _Behaviour | None
    ) -> Response | None:
        if behaviour is None:
            return None
        kind = behaviour.kind
        if kind.isdigit():
            options = behaviour.options
            message = str(options.get("message", f"fake upstream answers {kind}"))
            message = message.replace("{auth}", request.headers.get("authorization", ""))
            answer = _error(int(kind), message, options.get("code", f"fake_{kind}"))
            if kind == "429":
                answer.headers["retry-after"] = str(options.get("retry_after", 7))
            return answer
        if kind == "context_length":
            return _error(
                400,
                "This model's maximum context length is 8 tokens. However, your messages "
                "resulted in 9000 tokens.",
                "context_length_exceeded",
            )
        if kind == "timeout":
            await asyncio.sleep(float(behaviour.options.get("delay", 30)))
        if kind == "hold" and await self._hold(request, float(behaviour.options.get("delay", 30))):
            return Response(status_code=499)  # nobody is there to read it
        if kind == "no_stream_options" and "stream_options" in body:
            return _error(
                400,
                "Unrecognized request argument supplied: stream_options",
                "invalid_request_error",
            )
        return None

    async def _hold(self, request: Request, delay: float) -> bool:
        """Wait for the other side to close the connection (True) or ``delay`` (False)."""
        with self._lock:
            self.held += 1
        try:
            async with asyncio.timeout(delay):
                # The body is read: the server's next message is the disconnect.
                while (await request.receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            return False
        with self._lock:
            self.held_closed += 1
        return True

    async def _chat(self, request: Request) -> Response:
        body, behaviour = await self._take(request)
        failure = await self._failure(request, body, behaviour)
        if failure is not None:
            return failure
        model = str(body.get("model"))
        text = str((behaviour.options if behaviour else {}).get("reply", f"reply from {model}"))
        usage = _usage(body.get("messages"), text)
        if body.get("stream"):
            return self._stream(body, behaviour, model, text, usage, chat=True)
        answer = JSONResponse(chat_completion(model, text, usage))
        kind = behaviour.kind if behaviour else None
        if kind == "truncate":
            return _Truncated(answer.body)
        if kind == "drip":
            interval = float((behaviour.options if behaviour else {}).get("interval", 2))
            return StreamingResponse(_drip(answer.body, interval), media_type="application/json")
        return answer

    async def _completions(self, request: Request) -> Response:
        body, behaviour = await self._take(request)
        failure = await self._failure(request, body, behaviour)
        if failure is not None:
            return failure
        model = str(body.get("model"))
        text = f"completion from {model}"
        usage = _usage(body.get("prompt"), text)
        if body.get("stream"):
            return self._stream(body, behaviour, model, text, usage, chat=False)
        return JSONResponse(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": usage,
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        body, behaviour = await self._take(request)
        failure = await self._failure(request, body, behaviour)
        if failure is not None:
            return failure
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        return JSONResponse(
            {
                "object": "list",
                "model": body.get("model"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, float(i)]}
                    for i in range(len(items))
                ],
                "usage": {"prompt_tokens": len(items), "total_tokens": len(items)},
            }
        )

    async def _models(self, request: Request) -> Response:
        with self._lock:
            if self._record:
                self._requests.append(
                    Recorded("GET", request.url.path, dict(request.headers), None)
                )
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}],
            }
        )

    def _stream(
        self,
        body: dict[str, Any],
        behaviour: _Behaviour | None,
        model: str,
        text: str,
        usage: dict[str, int],
        *,
        chat: bool,
    ) -> StreamingResponse:
        options = behaviour.options if behaviour else {}
        kind = behaviour.kind if behaviour else None
        words = text.split(" ")
        if kind == "slow_stream":
            words = [f"w{i}" for i in range(int(options.get("chunks", 100)))]
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        drop_after = int(options.get("after_chunks", 1)) if kind == "stream_drop" else None
        end_after = int(options.get("after_chunks", 2)) if kind == "stream_end_early" else None
        interval = float(options.get("interval", 0.05)) if kind == "slow_stream" else 0.0

        def chunk(piece: str | None, finish: str | None) -> bytes:
            if chat:
                delta = {} if piece is None else {"content": piece}
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
                obj = "chat.completion.chunk"
            else:
                choice = {"index": 0, "text": piece or "", "finish_reason": finish}
                obj = "text_completion"
            data = {
                "id": "chunk-fake",
                "object": obj,
                "created": 0,
                "model": model,
                "choices": [choice],
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            finished = False
            try:
                if drop_after == 0:
                    raise _Dropped("dropped before the first chunk")
                for index, word in enumerate(words):
                    if drop_after is not None and index >= drop_after:
                        raise _Dropped("dropped mid-stream")
                    if end_after is not None and index >= end_after:
                        return  # a clean end of the stream, before the answer's end
                    yield chunk(word if index == 0 else " " + word, None)
                    if interval:
                        await asyncio.sleep(interval)
                yield chunk(None, "stop")
                if include_usage:
                    data = {
                        "id": "chunk-fake",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                    yield b"data: " + json.dumps(data).encode() + b"\n\n"
                yield b"data: [DONE]\n\n"
                finished = True
            finally:
                with self._lock:
                    if finished:
                        self.completed_streams += 1
                    elif kind == "slow_stream":
                        self.cancelled += 1

        return StreamingResponse(events(), media_type="text/event-stream")


def chat_completion(model: str, text: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


class _Truncated(Response):
    """Announces the whole body, sends half of it, then drops the connection."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body, media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise _Dropped("dropped mid-body")


async def _drip(body: bytes, interval: float) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        yield body[index : index + 1]
        await asyncio.sleep(interval)


def _error(status: int, message: str, code: str | None) -> JSONResponse:
    kind = (
        "rate_limit_error"
        if status == 429
        else ("invalid_request_error" if status < 500 else "server_error")
    )
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code, "param": None}},
        status_code=status,
    )


def _usage(source: Any, text: str) -> dict[str, int]:
    if isinstance(source, list):
        words = sum(
            len(str(m.get("content", "") if isinstance(m, dict) else m).split()) for m in source
        )
    else:
        words = len(str(source or "").split())
    completion = len(text.split())
    return {
        "prompt_tokens": words,
        "completion_tokens": completion,
        "total_tokens": words + completion,
    }


RAW_BEHAVIOURS = ("reset", "close_delimited")


class RawFaultUpstream(RawSocketServer):
    """A plain-socket upstream for faults below HTTP libraries (one thread per connection).

    ``fail(model, "reset")``: reads the whole request, then closes with a TCP reset (the
    request may have been acted on; an answer never comes). ``fail(model,
    "close_delimited")``: answers 200 with neither ``content-length`` nor chunked framing
    (the body ends with the connection) and closes after half of the JSON. Other models get
    a normal chat completion (content-length framing, keep-alive). ``requests_for(model)``
    lists the JSON bodies received; ``connections`` counts accepted connections.
    """

    def __init__(self) -> None:
        super().__init__()
        self._behaviours: dict[str, str] = {}
        self._bodies: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail(self, model: str, kind: str) -> None:
        if kind not in RAW_BEHAVIOURS:
            raise ValueError(f"unknown behaviour {kind!r}; one of {RAW_BEHAVIOURS}")
        with self._lock:
            self._behaviours[model] = kind

    def reset(self) -> None:
        with self._lock:
            self._behaviours.clear()
            self._bodies.clear()

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for body in self._bodies if body.get("model") == model]

    def __enter__(self) -> RawFaultUpstream:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def handle(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                request = read_request(conn, buffer)
                if request is None:
                    return
                raw, buffer = request
                body = json.loads(raw) if raw else {}
                model = str(body.get("model"))
                with self._lock:
                    self._bodies.append(body)
                    kind = self._behaviours.get(model)
                answer = json.dumps(
                    chat_completion(model, f"reply from {model}", _usage(body.get("messages"), "x"))
                ).encode()
                if kind == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if kind == "close_delimited":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"connection: close\r\n\r\n" + answer[: len(answer) // 2]
                    )
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
        except OSError:
            return
        finally:
            conn.close()


class SpawnedUpstream:
    """The fake upstream in its own process (no recording, no behaviours): for load runs,
    where sharing the test process's GIL with the load generator would skew the numbers.

    ``with SpawnedUpstream() as base_url: ...``
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        repo = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_upstream"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError("the fake upstream process did not start")
        return line.split()[-1]

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def main() -> None:
    """``python -m tests.support.fake_upstream``: serve in the foreground (for load runs in a
    separate process); prints ``listening on http://127.0.0.1:PORT/v1``, stops on SIGTERM."""
    import signal

    upstream = FakeUpstream(record=False).start()
    print(f"listening on {upstream.base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    upstream.stop()


if __name__ == "__main__":
    main()
