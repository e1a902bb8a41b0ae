"""SSE pass-through for ``stream: true``.

Upstream bytes go to the client event by event as they arrive (never the whole answer
buffered). Along the way the relay notes the ``usage`` of the final usage chunk, for the
access log. The gateway asks upstreams for that chunk (``stream_options.include_usage``)
when the client did not set ``stream_options``; in that case the usage-only chunk
(``"choices": []``) is dropped again so the client sees exactly what it asked for.

A failure after the first chunk cannot fall back any more (the client already has part of an
answer): the stream ends with an OpenAI-style error event, ``data: {"error": {...}}``, then
``data: [DONE]``. So does a stream the upstream ended (a closing connection, or cleanly)
before it was complete: without ``[DONE]``, a ``finish_reason`` or a final event of the
Responses / Anthropic APIs, the relay knows the answer was cut short (:attr:`complete`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from localrouter.gateway.apis.sse import EVENT_END, encode

# An event that ends an answer: a choice's finish_reason set (a string, not null), or the
# last event of a Responses / Anthropic Messages stream.
_FINAL = re.compile(
    rb'"finish_reason"\s*:\s*"'
    rb'|"type"\s*:\s*"(response\.completed|response\.incomplete|response\.failed|message_stop)"'
)
DONE_EVENT = b"data: [DONE]\n\n"


def error_event(message: str, code: str = "upstream_error", kind: str = "upstream_error") -> bytes:
    return encode({"error": {"message": message, "type": kind, "code": code}})


def _whole_data(event: bytes) -> bool:
    """Whether every ``data:`` line of ``event`` is complete JSON."""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            try:
                json.loads(line[5:])
            except ValueError:
                return False
    return True


class SseRelay:
    """Splits upstream bytes into whole SSE events; notes usage; optionally strips the
    usage-only chunk the gateway asked for."""

    def __init__(self, *, strip_usage_chunk: bool) -> None:
        self._strip = strip_usage_chunk
        self._buffer = b""
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.saw_done = False
        self.saw_final = False  # a finish_reason or a final event went by

    @property
    def complete(self) -> bool:
        """Whether the stream so far ends an answer (else it was cut short)."""
        return self.saw_done or self.saw_final

    def feed(self, data: bytes) -> bytes:
        """Bytes to send now: the complete events in ``data`` plus what was buffered."""
        buffer = self._buffer + data if self._buffer else data
        end = 0
        out: list[bytes] = []
        for match in EVENT_END.finditer(buffer):
            event = buffer[end : match.end()]
            end = match.end()
            if self._keep(event):
                out.append(event)
        self._buffer = buffer[end:]
        return b"".join(out)

    def finish(self) -> bytes:
        """What is left when the upstream closed (an event without its blank line)."""
        rest, self._buffer = self._buffer, b""
        if not rest.strip():
            return b""
        # The last event without its blank line: a sloppy server's end, or an event cut short
        # by a closing connection. It completes the answer only when its data is whole.
        final = self.saw_final
        keep = self._keep(rest)
        if self.saw_final and not final and not _whole_data(rest):
            self.saw_final = False
        return rest if keep else b""

    def _keep(self, event: bytes) -> bool:
        if b"[DONE]" in event:
            self.saw_done = True
            return True
        if not self.saw_final and _FINAL.search(event):
            self.saw_final = True
        if b'"usage"' not in event:
            return True
        for line in event.splitlines():
            if not line.startswith(b"data:"):
                continue
            try:
                chunk = json.loads(line[5:])
            except ValueError:
                return True
            if not isinstance(chunk, dict):
                return True
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self.usage = usage
                if self._strip and not chunk.get("choices"):
                    return False
        return True
