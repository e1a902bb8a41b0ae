"""The SSE relay knows whether a stream ended an answer ([DONE], a finish_reason, or a final
Responses / Anthropic event) or was cut short, however the bytes were split."""

from __future__ import annotations

import json

import pytest

from localrouter.gateway.proxy.streaming import SseRelay


def event(data: object, name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(data).encode() + b"\n\n"


def chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    return event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


DONE = b"data: [DONE]\n\n"

STREAMS = [
    ("done", chunk("a") + chunk(None, "stop") + DONE, True),
    ("finish without done", chunk("a") + chunk(None, "length"), True),
    ("done without finish", chunk("a") + DONE, True),
    ("no space after colon", b'data: {"choices":[{"finish_reason":"stop"}]}\n\n', True),
    ("cut after content", chunk("a") + chunk("b"), False),
    ("cut mid-event", chunk("a") + chunk(None, "stop")[:20], False),
    ("final event without its blank line", chunk("a") + chunk(None, "stop")[:-2], True),
    ("final event cut mid-json", chunk("a") + chunk(None, "stop")[:-5], False),
    ("done without its blank line", chunk(None, None) + b"data: [DONE]", True),
    ("only nulls", chunk("a") + chunk("finish_reason")[:-2], False),
    ("empty", b"", False),
    (
        "responses api",
        event({"type": "response.output_text.delta", "delta": "a"}, "response.output_text.delta")
        + event({"type": "response.completed"}, "response.completed"),
        True,
    ),
    (
        "responses api cut",
        event({"type": "response.output_text.delta", "delta": "a"}, "response.output_text.delta"),
        False,
    ),
    ("anthropic", event({"type": "message_stop"}, "message_stop"), True),
]


@pytest.mark.parametrize(("name", "stream", "complete"), STREAMS, ids=[s[0] for s in STREAMS])
@pytest.mark.parametrize("size", [1, 5, 64, 1 << 20])
def test_complete_or_cut_short(name: str, stream: bytes, complete: bool, size: int) -> None:
    relay = SseRelay(strip_usage_chunk=False)
    out = b"".join(relay.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    out += relay.finish()
    assert relay.complete is complete
    assert out == stream  # relayed unchanged either way
