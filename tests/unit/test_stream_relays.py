"""The stream relays of the pipeline (gateway/proxy/streams.py), fed upstream bytes."""

from __future__ import annotations

import json

from localrouter.gateway.apis.sse import SseDecoder, encode
from localrouter.gateway.proxy.streams import NativeRelay, TranslatedRelay


def chat_stream(words: list[str], usage: bool = True) -> bytes:
    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return encode({"id": "c1", "model": "m", "choices": [choice]})

    out = chunk({"role": "assistant", "content": ""})
    out += b"".join(chunk({"content": word}) for word in words)
    out += chunk({}, "stop")
    if usage:
        out += encode(
            {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
        )
    return out + b"data: [DONE]\n\n"


def events(data: bytes) -> list[tuple[str | None, dict[str, object]]]:
    return [(name, json.loads(text)) for name, text in SseDecoder().feed(data)]


def test_bytes_split_anywhere_give_the_same_events() -> None:
    upstream = chat_stream(["héllo ", "wörld"])
    whole = TranslatedRelay("openai-chat", "anthropic", {}, include_usage=True)
    at_once = whole.feed(upstream) + whole.finish()
    split = TranslatedRelay("openai-chat", "anthropic", {}, include_usage=True)
    pieces = b"".join(split.feed(upstream[i : i + 1]) for i in range(len(upstream)))
    pieces += split.finish()
    strip_ids = [
        (name, {k: v for k, v in data.items() if k != "message"}) for name, data in events(pieces)
    ]
    assert strip_ids == [
        (name, {k: v for k, v in data.items() if k != "message"}) for name, data in events(at_once)
    ]
    text = "".join(
        str(data["delta"]["text"])  # type: ignore[index]
        for name, data in events(pieces)
        if name == "content_block_delta"
    )
    assert text == "héllo wörld"
    assert split.usage == {"prompt_tokens": 5, "completion_tokens": 2}
    assert [name for name, _ in events(pieces)][-2:] == ["message_delta", "message_stop"]


def test_chat_client_without_usage_request_gets_no_usage_chunk() -> None:
    relay = TranslatedRelay("openai-chat", "openai-chat", {}, include_usage=False)
    out = relay.feed(chat_stream(["a"])) + relay.finish()
    assert b'"usage"' not in out and out.endswith(b"data: [DONE]\n\n")
    assert relay.usage == {"prompt_tokens": 5, "completion_tokens": 2}  # still logged


def test_native_relay_passes_bytes_and_reads_usage() -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 7, "output_tokens": 1}}}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 4},
    }
    upstream = (
        encode(start, "message_start")
        + encode(delta, "message_delta")
        + encode({"type": "message_stop"}, "message_stop")
    )
    relay = NativeRelay("anthropic")
    assert relay.feed(upstream[:10]) + relay.feed(upstream[10:]) == upstream
    assert relay.finish() == b"" and relay.error is None
    assert relay.usage == {"input_tokens": 7, "output_tokens": 4}


def test_native_relay_without_the_end_event_ends_with_an_error() -> None:
    relay = NativeRelay("openai-responses")
    relay.feed(encode({"type": "response.created", "sequence_number": 0}, "response.created"))
    tail = relay.finish()
    assert tail.startswith(b"event: error\n") and relay.error is not None
