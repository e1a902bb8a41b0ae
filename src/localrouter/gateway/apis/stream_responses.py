"""Streams between the chat pivot and the OpenAI Responses API, one upstream event at a time.

:class:`ResponsesEventsFromChat`: chat chunks in, Responses events out (a Responses client
answered by a chat provider); its ``response`` is the final ``Response`` object, to store.
:class:`ChatChunksFromResponses`: Responses events in, chat chunks out (a provider with
``api: openai-responses``). Events are ``(name, data)`` pairs, each Responses event with its
``sequence_number``; frame them with ``sse.encode(data, name)``.
"""

from __future__ import annotations

import copy
from typing import Any

from localrouter.gateway.apis.chunks import (
    ChunkBuilder,
    ToolCallCollector,
    chunk_choice,
    delta_text,
    raise_if_error,
)
from localrouter.gateway.apis.common import Json, new_id
from localrouter.gateway.apis.errors import StreamFailed
from localrouter.gateway.apis.openai_responses import (
    chat_usage,
    finish,
    finish_reason,
    function_call_item,
    message_item,
    output_text,
    response_skeleton,
)

Event = tuple[str, Json]

# Responses error codes a failed response may carry (the SDK's ResponseError.code).
_FAILED_CODES = {429: "rate_limit_exceeded"}


class ResponsesEventsFromChat:
    """Chat chunks -> Responses stream events."""

    def __init__(
        self, request: Json, *, model: str | None = None, response_id: str | None = None
    ) -> None:
        self.response = response_skeleton(request, response_id=response_id, model=model)
        self._model_given = model is not None
        self._sequence = 0
        self.started = False
        self.finished = False
        self._text: Json | None = None  # the open message item
        self._tools = ToolCallCollector()
        self._tool_items: dict[int, Json] = {}  # chat tool index -> function_call item
        self._indexes: dict[str, int] = {}  # item id -> output index
        self._finish: str | None = None
        self._usage: Any = None

    def feed(self, chunk: Json) -> list[Event]:
        """Events for one upstream chunk; an error chunk raises :class:`StreamFailed` (then
        call :meth:`fail`)."""
        raise_if_error(chunk)
        events: list[Event] = []
        if not self.started:
            if not self._model_given and chunk.get("model"):
                self.response["model"] = chunk["model"]
            events += self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choice = chunk_choice(chunk)
        delta = choice.get("delta") or {}
        text = delta_text(delta)
        if text:
            events += self._text_delta(text)
        for call_delta in delta.get("tool_calls") or []:
            events += self._tool_delta(call_delta)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return events

    def finish(self) -> list[Event]:
        """The closing events, when the upstream stream ended normally."""
        if self.finished:
            return []
        events = [] if self.started else self._start()
        events += self._close_text()
        for index, call in sorted(self._tools.calls.items()):
            if index not in self._tool_items:
                events += self._open_tool(index, call)
        for item in self._tool_items.values():
            events += self._close_tool(item)
        finish(self.response, self._finish, self._usage)
        self.finished = True
        kind = (
            "response.incomplete"
            if self.response["status"] == "incomplete"
            else "response.completed"
        )
        events.append(self._event(kind, response=copy.deepcopy(self.response)))
        return events

    def fail(self, status: int, message: str) -> list[Event]:
        """The events ending a failed stream: ``response.failed`` once the response was
        announced, else a bare ``error`` event."""
        self.finished = True
        code = _FAILED_CODES.get(status, "server_error")
        if not self.started:
            return [self._event("error", code=code, message=message, param=None)]
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": message}
        return [self._event("response.failed", response=copy.deepcopy(self.response))]

    def _event(self, kind: str, **fields: Any) -> Event:
        data: Json = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return kind, data

    def _start(self) -> list[Event]:
        self.started = True
        snapshot = copy.deepcopy(self.response)
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=copy.deepcopy(snapshot)),
        ]

    def _add_item(self, item: Json) -> Event:
        self._indexes[item["id"]] = len(self.response["output"])
        self.response["output"].append(item)
        return self._event(
            "response.output_item.added", output_index=self._at(item), item=copy.deepcopy(item)
        )

    def _at(self, item: Json) -> int:
        return self._indexes[item["id"]]

    def _text_delta(self, text: str) -> list[Event]:
        events: list[Event] = []
        if self._text is None:
            self._text = message_item(new_id("msg_"), [], "in_progress")
            events.append(self._add_item(self._text))
            self._text["content"].append(output_text(""))
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=self._text["id"],
                    output_index=self._at(self._text),
                    content_index=0,
                    part=output_text(""),
                )
            )
        self._text["content"][0]["text"] += text
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self._text["id"],
                output_index=self._at(self._text),
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _close_text(self) -> list[Event]:
        item, self._text = self._text, None
        if item is None:
            return []
        part = item["content"][0]
        where = {"item_id": item["id"], "output_index": self._at(item), "content_index": 0}
        item["status"] = "completed"
        return [
            self._event("response.output_text.done", **where, text=part["text"], logprobs=[]),
            self._event("response.content_part.done", **where, part=copy.deepcopy(part)),
            self._event(
                "response.output_item.done", output_index=self._at(item), item=copy.deepcopy(item)
            ),
        ]

    def _open_tool(self, index: int, call: Json) -> list[Event]:
        events = self._close_text()
        item = function_call_item(
            new_id("fc_"), call["id"] or new_id("call_"), call["name"] or "", "", "in_progress"
        )
        self._tool_items[index] = item
        events.append(self._add_item(item))
        if call["arguments"]:  # arrived before the name
            events += self._arguments(item, call["arguments"])
        return events

    def _arguments(self, item: Json, piece: str) -> list[Event]:
        item["arguments"] += piece
        return [
            self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._at(item),
                delta=piece,
            )
        ]

    def _tool_delta(self, call_delta: Any) -> list[Event]:
        index, call, piece = self._tools.add(call_delta)
        item = self._tool_items.get(index)
        if item is None:
            return self._open_tool(index, call) if call["name"] else []
        return self._arguments(item, piece) if piece else []

    def _close_tool(self, item: Json) -> list[Event]:
        item["status"] = "completed"
        return [
            self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=self._at(item),
                arguments=item["arguments"],
            ),
            self._event(
                "response.output_item.done", output_index=self._at(item), item=copy.deepcopy(item)
            ),
        ]


class ChatChunksFromResponses:
    """Responses stream events -> chat chunks. ``response.failed`` and ``error`` raise
    :class:`StreamFailed`."""

    def __init__(self, *, include_usage: bool = True, chunk_id: str | None = None) -> None:
        self.include_usage = include_usage
        self._chunks = ChunkBuilder(chunk_id or new_id("chatcmpl-"), "")
        self._tool_index: dict[str, int] = {}  # item id -> chat tool index
        self._sent: dict[str, str] = {}  # item id -> text or arguments sent so far
        self.usage: Json = chat_usage(None)
        self.finish_reason: str | None = None
        self.done = False

    def feed(self, name: str | None, data: Json) -> list[Json]:
        kind = data.get("type") or name
        if kind == "response.created":
            self._chunks.model = (data.get("response") or {}).get("model") or ""
            return [self._chunks.chunk({"role": "assistant", "content": ""})]
        if kind == "response.output_item.added":
            return self._item_added(data.get("item") or {})
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return self._text(data, data.get("delta"), "content" if "text" in kind else "refusal")
        if kind == "response.output_text.done":
            return self._catch_up(data, data.get("text"), "content")
        if kind == "response.function_call_arguments.delta":
            return self._arguments(data, data.get("delta"))
        if kind == "response.function_call_arguments.done":
            return self._catch_up(data, data.get("arguments"), "arguments")
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(data.get("response") or {})
        if kind == "response.failed":
            error = (data.get("response") or {}).get("error") or {}
            raise StreamFailed(
                str(error.get("message") or "the upstream response failed"),
                "api_error",
                error.get("code"),
            )
        if kind == "error":
            raise StreamFailed(
                str(data.get("message") or "the upstream stream failed"),
                "api_error",
                data.get("code"),
            )
        return []

    def _item_added(self, item: Json) -> list[Json]:
        if item.get("type") != "function_call":
            return []
        tool_index = len(self._tool_index)
        item_id = str(item.get("id") or item.get("call_id"))
        self._tool_index[item_id] = tool_index
        arguments = item.get("arguments") or ""
        self._sent[item_id] = arguments
        return [
            self._chunks.tool_start(
                tool_index, item.get("call_id") or "", item.get("name") or "", arguments
            )
        ]

    def _text(self, data: Json, piece: Any, field: str) -> list[Json]:
        if not isinstance(piece, str) or not piece:
            return []
        item_id = str(data.get("item_id"))
        self._sent[item_id] = self._sent.get(item_id, "") + piece
        return [self._chunks.chunk({field: piece})]

    def _arguments(self, data: Json, piece: Any) -> list[Json]:
        item_id = str(data.get("item_id"))
        tool_index = self._tool_index.get(item_id)
        if tool_index is None or not isinstance(piece, str) or not piece:
            return []
        self._sent[item_id] = self._sent.get(item_id, "") + piece
        return [self._chunks.tool_arguments(tool_index, piece)]

    def _catch_up(self, data: Json, full: Any, field: str) -> list[Json]:
        """A ``.done`` event's full value, minus what the deltas already sent (upstreams that
        skip the deltas still get through whole)."""
        item_id = str(data.get("item_id"))
        sent = self._sent.get(item_id, "")
        if not isinstance(full, str) or not full.startswith(sent) or full == sent:
            return []
        rest = full[len(sent) :]
        if field == "arguments":
            return self._arguments(data, rest)
        return self._text(data, rest, field)

    def _finish(self, response: Json) -> list[Json]:
        self.done = True
        has_calls = bool(self._tool_index)
        self.finish_reason = finish_reason(response, has_calls)
        self.usage = chat_usage(response.get("usage"))
        chunks = [self._chunks.chunk({}, self.finish_reason)]
        if self.include_usage:
            chunks.append(self._chunks.usage_chunk(self.usage))
        return chunks
