"""Relaying an upstream's stream to the client, natively or translated (``apis/``).

Every relay has the same face for the pipeline: ``feed(bytes) -> bytes`` (what to send the
client now), ``finish() -> bytes`` (the upstream ended normally), ``fail(message) -> bytes``
(the upstream failed after the first bytes: the stream ends with an error in the client's
API), ``usage`` (the token counts seen, for the access log) and ``response`` (a Responses
client's final ``Response`` object, to store).

- Native chat: :class:`~localrouter.gateway.proxy.streaming.SseRelay` (bytes untouched).
- Native Responses or Anthropic: :class:`NativeRelay`, bytes untouched, events that carry
  usage parsed on the side.
- Translated: :class:`TranslatedRelay`, upstream events -> chat chunks (the pivot) -> the
  client's events.

An upstream stream that stops before its API's end event (``message_stop``,
``response.completed``, a chat ``finish_reason`` or ``[DONE]``) was cut: the Responses and
Anthropic relays then end the client's stream with an error, not with a normal ending that
would present a partial answer as whole.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from localrouter.gateway.apis.common import Api, Json
from localrouter.gateway.apis.errors import StreamFailed, anthropic_error
from localrouter.gateway.apis.sse import SseDecoder, encode
from localrouter.gateway.apis.stream_anthropic import (
    AnthropicEventsFromChat,
    ChatChunksFromAnthropic,
)
from localrouter.gateway.apis.stream_responses import (
    ChatChunksFromResponses,
    ResponsesEventsFromChat,
)
from localrouter.gateway.proxy.streaming import DONE_EVENT, SseRelay, error_event


class Relay(Protocol):
    usage: dict[str, Any] | None
    error: str | None  # an error the upstream reported inside the stream
    source: str  # who sends the stream, as error messages name it ("upstream provider/model")

    @property
    def response(self) -> Json | None: ...

    def feed(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def fail(self, message: str, status: int = 502) -> bytes:
        """The end of a stream that failed: ``status`` 502 for the upstream, 503 when the
        gateway is shutting down."""
        ...


class ChatRelay(SseRelay):
    """Native chat: the pass-through relay, ending a failed or cut-short stream OpenAI-style."""

    response: Json | None = None
    error: str | None = None
    source = "the upstream"

    def finish(self) -> bytes:
        out = super().finish()
        if self.complete:
            return out
        # Ended (cleanly or by a closing connection) before the answer did.
        self.error = f"{self.source} ended the stream before the answer was complete"
        return out + self.fail(self.error)

    def fail(self, message: str, status: int = 502) -> bytes:
        if status == 503:
            return error_event(message, "gateway_shutting_down", "service_unavailable") + DONE_EVENT
        return error_event(message) + DONE_EVENT


_NATIVE_KEYS = ('"usage"', "message_stop", "response.", '"error"')
_NATIVE_ENDS = frozenset(
    {"message_stop", "error", "response.completed", "response.incomplete", "response.failed"}
)


class NativeRelay:
    """A Responses or Anthropic stream passed through untouched; usage (and a Responses
    stream's final response) read from the events that carry them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._decoder = SseDecoder()
        self.usage: dict[str, Any] | None = None
        self.response: Json | None = None
        self.error: str | None = None
        self.source = "the upstream"
        self._events = 0
        self._ended = False  # the upstream's end event arrived

    def feed(self, data: bytes) -> bytes:
        for _, text in self._decoder.feed(data):
            self._note(text)
        return data

    def finish(self) -> bytes:
        for _, text in self._decoder.finish():
            self._note(text)
        if self._ended:
            return b""
        self.error = f"{self.source} ended the stream before the answer was complete"
        return self.fail(self.error)

    def _note(self, text: str) -> None:
        self._events += 1
        # Only the events that matter are parsed (the rest pass as bytes).
        if not any(key in text for key in _NATIVE_KEYS):
            return
        try:
            event = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind in _NATIVE_ENDS:
            self._ended = True
        if kind in ("error", "response.failed"):
            error = event.get("error") or (event.get("response") or {}).get("error") or event
            message = error.get("message") if isinstance(error, dict) else None
            self.error = f"upstream stream error: {message or 'no message'}"
        if kind in ("response.completed", "response.incomplete") and isinstance(
            event.get("response"), dict
        ):
            self.response = event["response"]
            self.usage = self.response.get("usage")
        elif kind == "message_start":
            usage = (event.get("message") or {}).get("usage")
            if isinstance(usage, dict):
                self.usage = {**(self.usage or {}), **usage}
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            known = {k: v for k, v in event["usage"].items() if v is not None}
            self.usage = {**(self.usage or {}), **known}

    def fail(self, message: str, status: int = 502) -> bytes:
        if self.api == "anthropic":
            return encode(anthropic_error(status, message)[1], "error")
        data = {
            "type": "error",
            "sequence_number": self._events,
            "code": "server_error",
            "message": message,
            "param": None,
        }
        return encode(data, "error")


class _ChatEncoder:
    """Chat chunks (the pivot) -> a chat client's stream."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.response: Json | None = None

    def feed(self, chunk: Json) -> list[tuple[str | None, Json]]:
        if not self.include_usage and not chunk.get("choices") and "usage" in chunk:
            return []
        return [(None, chunk)]

    def finish(self) -> list[tuple[str | None, Json]]:
        return []

    def fail(self, status: int, message: str) -> list[tuple[str | None, Json]]:
        return [(None, {"error": {"message": message, "type": "upstream_error", "code": None}})]


class TranslatedRelay:
    """Upstream events of ``upstream`` API -> chat chunks -> the client's events."""

    def __init__(self, upstream: Api, client: Api, request: Json, include_usage: bool) -> None:
        self._decoder = SseDecoder()
        self._upstream = upstream
        self._from: ChatChunksFromAnthropic | ChatChunksFromResponses | None = None
        if upstream == "anthropic":
            self._from = ChatChunksFromAnthropic(include_usage=True)
        elif upstream == "openai-responses":
            self._from = ChatChunksFromResponses(include_usage=True)
        self._client = client
        self._to: AnthropicEventsFromChat | ResponsesEventsFromChat | _ChatEncoder
        if client == "anthropic":
            self._to = AnthropicEventsFromChat()
        elif client == "openai-responses":
            self._to = ResponsesEventsFromChat(request)
        else:
            self._to = _ChatEncoder(include_usage)
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None  # the upstream's in-stream error, when it sent one
        self.source = "the upstream"
        self._failed = False
        self._chat_ended = False

    @property
    def response(self) -> Json | None:
        if isinstance(self._to, ResponsesEventsFromChat) and self._to.finished:
            return self._to.response
        return None

    @property
    def _upstream_ended(self) -> bool:
        return self._from.done if self._from is not None else self._chat_ended

    def _chunks(self, name: str | None, text: str) -> list[Json]:
        if self._from is None:  # a chat upstream: its chunks are the pivot
            if text.strip() == "[DONE]":
                self._chat_ended = True
                return []
            chunk = json.loads(text)
            if not isinstance(chunk, dict):
                return []
            if any(
                c.get("finish_reason") for c in chunk.get("choices") or [] if isinstance(c, dict)
            ):
                self._chat_ended = True
            return [chunk]
        data = json.loads(text) if text else {}
        return self._from.feed(name, data) if isinstance(data, dict) else []

    def _convert(self, events: list[tuple[str | None, str]]) -> bytes:
        out: list[bytes] = []
        try:
            for name, text in events:
                try:
                    chunks = self._chunks(name, text)
                except ValueError:
                    continue  # not JSON: nothing a client could use
                for chunk in chunks:
                    if isinstance(chunk.get("usage"), dict):
                        self.usage = chunk["usage"]
                    out += [encode(data, kind) for kind, data in self._to.feed(chunk)]
        except StreamFailed as exc:
            self.error = f"upstream stream error: {exc.message}"
            out.append(self._fail(502, exc.message))
        return b"".join(out)

    def feed(self, data: bytes) -> bytes:
        if self._failed:
            return b""
        return self._convert(self._decoder.feed(data))

    def finish(self) -> bytes:
        if self._failed:
            return b""
        out = self._convert(self._decoder.finish())
        if self._failed:
            return out
        if not self._upstream_ended:
            self.error = f"{self.source} ended the stream before the answer was complete"
            return out + self._fail(502, self.error)
        tail = b"".join(encode(data, kind) for kind, data in self._to.finish())
        if self._client == "openai-chat":
            tail += DONE_EVENT
        return out + tail

    def fail(self, message: str, status: int = 502) -> bytes:
        if self._failed:
            return b""
        return self._fail(status, message)

    def _fail(self, status: int, message: str) -> bytes:
        self._failed = True
        out = b"".join(encode(data, kind) for kind, data in self._to.fail(status, message))
        if self._client == "openai-chat":
            out += DONE_EVENT
        return out
