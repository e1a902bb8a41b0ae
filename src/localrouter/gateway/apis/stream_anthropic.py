"""Streams between the chat pivot and Anthropic Messages, one upstream event at a time.

:class:`AnthropicEventsFromChat`: chat chunks in, Anthropic events out (an Anthropic client
answered by a chat provider). :class:`ChatChunksFromAnthropic`: Anthropic events in, chat
chunks out (a provider with ``api: anthropic``). Events are ``(name, data)`` pairs; frame them
with ``sse.encode(data, name)``.

Chat streams report usage at the end only, so ``message_start`` carries zero input tokens
and ``message_delta`` the real counts (the SDKs take both from there). Reasoning deltas are
dropped, like thinking blocks in requests (see ``anthropic_messages``).
"""

from __future__ import annotations

import json
from typing import Any

from localrouter.gateway.apis.anthropic_messages import (
    FINISH_REASONS,
    STOP_REASONS,
    chat_usage,
    usage_from_chat,
)
from localrouter.gateway.apis.chunks import (
    ChunkBuilder,
    ToolCallCollector,
    chunk_choice,
    delta_text,
    raise_if_error,
)
from localrouter.gateway.apis.common import Json, new_id
from localrouter.gateway.apis.errors import StreamFailed, anthropic_error

Event = tuple[str, Json]


class AnthropicEventsFromChat:
    """Chat chunks -> Anthropic stream events."""

    def __init__(self, *, model: str | None = None, message_id: str | None = None) -> None:
        self.model = model
        self.message_id = message_id or new_id("msg_")
        self.started = False
        self.finished = False
        self._index = -1  # the current block's index
        self._open: str | None = None  # "text" or "tool", the block still open
        self._tools = ToolCallCollector()
        self._tool_blocks: dict[int, int] = {}  # chat tool index -> block index
        self._finish: str | None = None
        self._stop_sequence: str | None = None
        self._has_tool_calls = False
        self.usage: Json = {"input_tokens": 0, "output_tokens": 0}

    def feed(self, chunk: Json) -> list[Event]:
        """Events for one upstream chunk; an error chunk raises :class:`StreamFailed` (then
        call :meth:`fail`)."""
        raise_if_error(chunk)
        events: list[Event] = []
        if not self.started:
            events += self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = usage_from_chat(chunk["usage"])
        choice = chunk_choice(chunk)
        delta = choice.get("delta") or {}
        text = delta_text(delta)
        if text:
            if self._open != "text":
                events += self._new_block({"type": "text", "text": ""}, "text")
            events.append(_delta(self._index, {"type": "text_delta", "text": text}))
        for call_delta in delta.get("tool_calls") or []:
            events += self._tool_delta(call_delta)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
            if isinstance(choice.get("stop_reason"), str):
                self._stop_sequence = choice["stop_reason"]
        return events

    def finish(self) -> list[Event]:
        """The closing events, when the upstream stream ended normally."""
        if self.finished:
            return []
        events = [] if self.started else self._start({})
        # A call whose name never came still gets its block, so no arguments are lost.
        for index, call in sorted(self._tools.calls.items()):
            if index not in self._tool_blocks:
                events += self._open_tool(index, call)
        events += self._close()
        stop_reason = STOP_REASONS.get(self._finish or "stop", "end_turn")
        if stop_reason == "end_turn" and self._has_tool_calls:
            stop_reason = "tool_use"
        stop_sequence = None
        if stop_reason == "end_turn" and self._stop_sequence is not None:
            stop_reason, stop_sequence = "stop_sequence", self._stop_sequence
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": dict(self.usage),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        self.finished = True
        return events

    def fail(self, status: int, message: str) -> list[Event]:
        """An ``error`` event ending the stream (after the first event no fallback is
        possible: the client already holds part of an answer)."""
        self.finished = True
        return [("error", anthropic_error(status, message)[1])]

    def _start(self, chunk: Json) -> list[Event]:
        self.started = True
        model = self.model or chunk.get("model") or ""
        message: Json = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            ("ping", {"type": "ping"}),
        ]

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _new_block(self, block: Json, kind: str) -> list[Event]:
        events = self._close()
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        events.append(("content_block_start", start))
        return events

    def _open_tool(self, index: int, call: Json) -> list[Event]:
        self._has_tool_calls = True
        block: Json = {
            "type": "tool_use",
            "id": call["id"] or new_id("toolu_"),
            "name": call["name"] or "",
            "input": {},
        }
        events = self._new_block(block, "tool")
        self._tool_blocks[index] = self._index
        if call["arguments"]:  # arrived before the name
            events.append(_delta(self._index, _json_delta(call["arguments"])))
        return events

    def _tool_delta(self, call_delta: Any) -> list[Event]:
        index, call, piece = self._tools.add(call_delta)
        if index not in self._tool_blocks:
            return self._open_tool(index, call) if call["name"] else []
        if not piece:
            return []
        # Deltas for an earlier call after a later one started (rare interleaving) go to that
        # call's block; the SDKs accumulate by block index.
        return [_delta(self._tool_blocks[index], _json_delta(piece))]


def _delta(index: int, delta: Json) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _json_delta(piece: str) -> Json:
    return {"type": "input_json_delta", "partial_json": piece}


class ChatChunksFromAnthropic:
    """Anthropic stream events -> chat chunks. An ``error`` event raises :class:`StreamFailed`."""

    def __init__(self, *, include_usage: bool = True, chunk_id: str | None = None) -> None:
        self.include_usage = include_usage
        self._chunks = ChunkBuilder(chunk_id or new_id("chatcmpl-"), "")
        self._anthropic_usage: Json = {}
        self._tool_index: dict[int, int] = {}  # block index -> chat tool index
        self.finish_reason: str | None = None
        self.done = False

    @property
    def usage(self) -> Json:
        return chat_usage(self._anthropic_usage)

    def feed(self, name: str | None, data: Json) -> list[Json]:
        kind = data.get("type") or name
        if kind == "message_start":
            message = data.get("message") or {}
            self._chunks.model = message.get("model") or ""
            self._anthropic_usage.update(message.get("usage") or {})
            return [self._chunks.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            usage = data.get("usage") or {}
            self._anthropic_usage.update({k: v for k, v in usage.items() if v is not None})
            stop = (data.get("delta") or {}).get("stop_reason")
            self.finish_reason = FINISH_REASONS.get(stop or "", "stop")
            return [self._chunks.chunk({}, self.finish_reason)]
        if kind == "message_stop":
            self.done = True
            return [self._chunks.usage_chunk(self.usage)] if self.include_usage else []
        if kind == "error":
            error = data.get("error") or {}
            raise StreamFailed(
                str(error.get("message") or "the upstream stream failed"),
                str(error.get("type") or "api_error"),
            )
        return []  # ping, content_block_stop, and what chat has no place for

    def _block_start(self, data: Json) -> list[Json]:
        block = data.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self._chunks.chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        tool_index = len(self._tool_index)
        self._tool_index[int(data.get("index", 0))] = tool_index
        initial = block.get("input")
        # Tool input normally streams as deltas; a non-empty initial input is sent whole.
        arguments = json.dumps(initial) if initial else ""
        return [
            self._chunks.tool_start(
                tool_index, block.get("id") or "", block.get("name") or "", arguments
            )
        ]

    def _block_delta(self, data: Json) -> list[Json]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._chunks.chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta":
            tool_index = self._tool_index.get(int(data.get("index", 0)))
            if tool_index is not None and delta.get("partial_json"):
                return [self._chunks.tool_arguments(tool_index, delta["partial_json"])]
        return []
