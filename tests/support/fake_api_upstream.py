"""A fake upstream speaking all three provider APIs, written from the APIs' documentation
(not from the gateway's translators), on 127.0.0.1.

Usage::

    with FakeApiUpstream() as upstream:
        upstream.base_url                 # "http://127.0.0.1:PORT/v1"
        upstream.requests                 # [Recorded(path, headers, body)]

``POST /v1/chat/completions`` (OpenAI chat), ``POST /v1/responses`` (OpenAI Responses),
``POST /v1/messages`` (Anthropic Messages), each with ``stream``. What is answered depends on
the model name and the request, the same in every API:

- a model named ``fail-<status>`` answers that status with an error in the API's own shape
  (a 429 with ``retry-after: 7``);
- a model named ``drop-...`` (chat and Anthropic, streaming) sends the start and the text
  ``"partial "``, then drops the connection; ``cut-...`` ends the stream there cleanly
  (no end event: a truncated answer);
- a model named ``slow-...`` (chat, streaming) sends 50 words 0.1 s apart; ``closed_early``
  counts such streams the other side closed before their end;
- a request carrying a tool result answers ``"tool said: <result>"``;
- a request with tools (and a model name containing ``tool``) calls the first tool with
  ``{"city": "Paris"}`` (streamed in two argument pieces);
- a request asking for a JSON schema answers a JSON object filling that schema;
- otherwise the text ``"reply from <model>"``, streamed word by word.

Usage: 11 input tokens, one output token per word (or 7 for a tool call).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

INPUT_TOKENS = 11
TOOL_ARGS = {"city": "Paris"}
_TOOL_PIECES = ('{"city": ', '"Paris"}')


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Answer:
    """What to answer, whatever the API: text, or one tool call."""

    text: str | None = None
    tool: str | None = None

    @property
    def output_tokens(self) -> int:
        return 7 if self.tool else len((self.text or "").split())

    def words(self) -> list[str]:
        words = (self.text or "").split(" ")
        return [w + " " for w in words[:-1]] + words[-1:]


def _sample(schema: Any) -> Any:
    """A value that fits a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return "x"
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items"))]
    if kind == "integer":
        return 4
    if kind == "number":
        return 4.5
    if kind == "boolean":
        return True
    return "four"


def _decide(model: str, tool_result: str | None, tools: list[str], schema: Any) -> Answer:
    if tool_result is not None:
        return Answer(text=f"tool said: {tool_result}")
    if tools and "tool" in model:
        return Answer(tool=tools[0])
    if schema is not None:
        return Answer(text=json.dumps(_sample(schema)))
    return Answer(text=f"reply from {model}")


def _retry_after(status: int) -> dict[str, str] | None:
    return {"retry-after": "7"} if status == 429 else None


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class FakeApiUpstream:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._server: ThreadedServer | None = None
        self.port = 0
        self.closed_early = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def last(self, path: str) -> Recorded:
        return [r for r in self.requests if r.path == path][-1]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def start(self, timeout: float = 10.0) -> FakeApiUpstream:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
            ]
        )
        self._server = ThreadedServer(app, "fake-apis", lifespan="off").start(timeout)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeApiUpstream:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _take(self, request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        with self._lock:
            self._requests.append(Recorded(request.url.path, dict(request.headers), body))
        return dict(body)

    # -- OpenAI chat -------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        body = await self._take(request)
        model = str(body["model"])
        if model.startswith("fail-"):
            status = int(model[5:])
            error = {"message": f"fake chat upstream says {status}", "type": "fake", "code": None}
            return JSONResponse({"error": error}, status, _retry_after(status))
        results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt else None
        answer = _decide(model, results[-1] if results else None, tools, schema)
        usage = {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": answer.output_tokens,
            "total_tokens": INPUT_TOKENS + answer.output_tokens,
        }
        finish = "tool_calls" if answer.tool else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": answer.text}
            if answer.tool:
                message["tool_calls"] = [
                    {
                        "id": "call_fake1",
                        "type": "function",
                        "function": {"name": answer.tool, "arguments": json.dumps(TOOL_ARGS)},
                    }
                ]
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return _sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                }
            )

        if model.startswith("slow-"):
            return StreamingResponse(self._slow(chunk), media_type="text/event-stream")

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            if model.startswith(("drop-", "cut-")):
                yield chunk({"content": "partial "})
                if model.startswith("drop-"):
                    raise _Dropped
                return
            for word in answer.words() if answer.text is not None else []:
                yield chunk({"content": word})
            if answer.tool:
                call = {"index": 0, "id": "call_fake1", "type": "function"}
                yield chunk({"tool_calls": [{**call, "function": {"name": answer.tool}}]})
                for piece in _TOOL_PIECES:
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, finish)
            if include_usage:
                yield _sse({"id": "chatcmpl-fake", "choices": [], "model": model, "usage": usage})
            yield b"data: [DONE]\n\n"

        return _stream(events())

    async def _slow(self, chunk: Any) -> AsyncIterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            for _ in range(50):
                await asyncio.sleep(0.1)
                yield chunk({"content": "word "})
            yield chunk({}, "stop")
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            with self._lock:
                self.closed_early += 1
            raise

    # -- OpenAI Responses --------------------------------------------------------------------

    async def _responses(self, request: Request) -> Response:
        body = await self._take(request)
        model = str(body["model"])
        if model.startswith("fail-"):
            status = int(model[5:])
            error = {"message": f"fake responses upstream says {status}", "type": "fake"}
            return JSONResponse({"error": error}, status, _retry_after(status))
        items = body["input"] if isinstance(body["input"], list) else []
        results = [i["output"] for i in items if i.get("type") == "function_call_output"]
        tools = [t["name"] for t in body.get("tools") or []]
        fmt = (body.get("text") or {}).get("format") or {}
        schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
        answer = _decide(model, results[-1] if results else None, tools, schema)
        usage = {
            "input_tokens": INPUT_TOKENS,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": answer.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + answer.output_tokens,
        }
        if answer.tool:
            item: dict[str, Any] = {
                "type": "function_call",
                "id": "fc_fake1",
                "call_id": "call_fake1",
                "name": answer.tool,
                "arguments": json.dumps(TOOL_ARGS),
                "status": "completed",
            }
        else:
            item = {
                "type": "message",
                "id": "msg_fake1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
            }
        response: dict[str, Any] = {
            "id": "resp_fake1",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": model,
            "output": [item],
            "usage": usage,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
        if not body.get("stream"):
            return JSONResponse(response)
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        sequence = iter(range(1000))

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(sequence), **fields}, kind)

        def events() -> Iterator[bytes]:
            yield event("response.created", response=started)
            yield event("response.in_progress", response=started)
            if answer.tool:
                added = {**item, "arguments": "", "status": "in_progress"}
                yield event("response.output_item.added", output_index=0, item=added)
                for piece in _TOOL_PIECES:
                    yield event(
                        "response.function_call_arguments.delta",
                        item_id="fc_fake1",
                        output_index=0,
                        delta=piece,
                    )
                yield event(
                    "response.function_call_arguments.done",
                    item_id="fc_fake1",
                    output_index=0,
                    arguments=item["arguments"],
                )
            else:
                added = {**item, "content": [], "status": "in_progress"}
                yield event("response.output_item.added", output_index=0, item=added)
                part = {"type": "output_text", "text": "", "annotations": []}
                yield event(
                    "response.content_part.added",
                    item_id="msg_fake1",
                    output_index=0,
                    content_index=0,
                    part=part,
                )
                for word in answer.words():
                    yield event(
                        "response.output_text.delta",
                        item_id="msg_fake1",
                        output_index=0,
                        content_index=0,
                        delta=word,
                    )
                yield event(
                    "response.output_text.done",
                    item_id="msg_fake1",
                    output_index=0,
                    content_index=0,
                    text=answer.text,
                )
            yield event("response.output_item.done", output_index=0, item=item)
            yield event("response.completed", response=response)

        return _stream(events())

    # -- Anthropic Messages ------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        body = await self._take(request)
        model = str(body["model"])
        if model.startswith("fail-"):
            status = int(model[5:])
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            error = {"type": kind, "message": f"fake anthropic upstream says {status}"}
            return JSONResponse({"type": "error", "error": error}, status, _retry_after(status))
        results = [
            block["content"]
            for message in body["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
        tools = [t["name"] for t in body.get("tools") or []]
        fmt = (body.get("output_config") or {}).get("format") or {}
        schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
        answer = _decide(model, results[-1] if results else None, tools, schema)
        if answer.tool:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_fake1",
                "name": answer.tool,
                "input": TOOL_ARGS,
            }
        else:
            block = {"type": "text", "text": answer.text}
        stop = "tool_use" if answer.tool else "end_turn"
        message = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": answer.output_tokens},
        }
        if not body.get("stream"):
            return JSONResponse(message)

        def events() -> Iterator[bytes]:
            start = {
                **message,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1},
            }
            yield _sse({"type": "message_start", "message": start}, "message_start")
            yield _sse({"type": "ping"}, "ping")
            if model.startswith(("drop-", "cut-")):
                text = {"type": "text", "text": ""}
                opening = {"type": "content_block_start", "index": 0, "content_block": text}
                yield _sse(opening, "content_block_start")
                delta = {"type": "text_delta", "text": "partial "}
                yield _sse(
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                    "content_block_delta",
                )
                if model.startswith("drop-"):
                    raise _Dropped
                return
            opening = {**block, "input": {}} if answer.tool else {"type": "text", "text": ""}
            yield _sse(
                {"type": "content_block_start", "index": 0, "content_block": opening},
                "content_block_start",
            )
            if answer.tool:
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in _TOOL_PIECES]
            else:
                deltas = [{"type": "text_delta", "text": w} for w in answer.words()]
            for delta in deltas:
                yield _sse(
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                    "content_block_delta",
                )
            yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            yield _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": answer.output_tokens},
                },
                "message_delta",
            )
            yield _sse({"type": "message_stop"}, "message_stop")

        return _stream(events())


class _Dropped(Exception):
    """Ends a response without its last chunk: the connection closes mid-body."""


def _stream(events: Iterator[bytes]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return StreamingResponse(body(), media_type="text/event-stream")
