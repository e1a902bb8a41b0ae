"""Server-sent events: upstream bytes split into ``(event, data)`` pairs, and events framed.

The relay in ``proxy/streaming.py`` forwards events untouched; translated streams need them
parsed. Events may arrive split anywhere (even inside a UTF-8 character), so bytes are
buffered until an event's blank line.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The blank line that ends an event (LF, CRLF or CR line ends, mixed too).
EVENT_END = re.compile(rb"\r?\n\r?\n|\r\r")


class SseDecoder:
    """Feed bytes; get back the complete events as ``(event name or None, data text)``."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[str | None, str]]:
        buffer = self._buffer + data
        events: list[tuple[str | None, str]] = []
        start = 0
        for match in EVENT_END.finditer(buffer):
            event = _parse(buffer[start : match.start()])
            start = match.end()
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def finish(self) -> list[tuple[str | None, str]]:
        """The last event when the stream ended without its blank line."""
        rest, self._buffer = self._buffer, b""
        event = _parse(rest)
        return [event] if event is not None else []


def _parse(raw: bytes) -> tuple[str | None, str] | None:
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line or line.startswith(":"):
            continue  # comments keep connections alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if name is None and not data:
        return None
    return name, "\n".join(data)


def encode(data: Any, event: str | None = None) -> bytes:
    """One SSE event; named (Anthropic, Responses) or bare (chat)."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
