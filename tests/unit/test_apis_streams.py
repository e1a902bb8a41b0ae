"""Stream translators fed real-looking upstream streams, framed as SSE and split at awkward
byte boundaries (mid-event, mid-line, mid-UTF-8 character). Every emitted event is parsed
strictly with the SDK's type and the whole stream is accumulated by the SDK's own stream
state, so ordering mistakes fail as they would in a client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState

from localrouter.gateway.apis import sse
from localrouter.gateway.apis.errors import StreamFailed
from localrouter.gateway.apis.stream_anthropic import (
    AnthropicEventsFromChat,
    ChatChunksFromAnthropic,
)
from localrouter.gateway.apis.stream_responses import (
    ChatChunksFromResponses,
    ResponsesEventsFromChat,
)
from tests.unit import apis_support as sdk

SPLITS = [None, 1, 3, 7, 64]  # None: one event per read


def _chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-u",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "llama3.2",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
    }


USAGE = _chunk(None) | {"usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}


def _call(
    index: int, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index}
    if id:
        call["id"], call["type"] = id, "function"
    function = {k: v for k, v in (("name", name), ("arguments", args)) if v is not None}
    if function:
        call["function"] = function
    return call


CHAT_STREAMS: dict[str, list[dict[str, Any]]] = {
    "text with multi-byte characters": [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Grüße "}),
        _chunk({"content": "🌍 日本"}),
        _chunk({}, "stop"),
        USAGE,
    ],
    "text then two tool calls in pieces (OpenAI style)": [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"content": "Checking."}),
        _chunk({"tool_calls": [_call(0, "call_1", "ls", "")]}),
        _chunk({"tool_calls": [_call(0, args='{"pa')]}),
        _chunk({"tool_calls": [_call(0, args='th": "."}')]}),
        _chunk({"tool_calls": [_call(1, "call_2", "pwd", "")]}),
        _chunk({"tool_calls": [_call(1, args="{}")]}),
        _chunk({}, "tool_calls"),
        USAGE,
    ],
    "whole tool call in one chunk, finish 'stop' (Ollama style)": [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"tool_calls": [_call(0, "call_9", "grep", '{"q": "x"}')]}),
        _chunk({}, "stop"),
        USAGE,
    ],
    "cut at the length limit": [
        _chunk({"role": "assistant", "content": "Hel"}),
        _chunk({"content": "lo"}, "length"),
        USAGE,
    ],
}
# What each stream means: text, tool calls (id, name, arguments), chat finish reason.
EXPECTED = {
    "text with multi-byte characters": ("Grüße 🌍 日本", [], "stop"),
    "text then two tool calls in pieces (OpenAI style)": (
        "Checking.",
        [("call_1", "ls", '{"path": "."}'), ("call_2", "pwd", "{}")],
        "tool_calls",
    ),
    "whole tool call in one chunk, finish 'stop' (Ollama style)": (
        "",
        [("call_9", "grep", '{"q": "x"}')],
        "tool_calls",
    ),
    "cut at the length limit": ("Hello", [], "length"),
}
STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def _frame(events: list[tuple[str | None, Any]], done: bool) -> bytes:
    body = b"".join(sse.encode(data, name) for name, data in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


def _reads(data: bytes, size: int | None) -> Iterator[bytes]:
    if size is None:
        for part in data.split(b"\n\n"):
            if part:
                yield part + b"\n\n"
        return
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _decode(data: bytes, size: int | None) -> list[tuple[str | None, str]]:
    decoder = sse.SseDecoder()
    events = [event for read in _reads(data, size) for event in decoder.feed(read)]
    return events + decoder.finish()


def _chat_chunks_over_sse(
    chunks: list[dict[str, Any]], size: int | None
) -> Iterator[dict[str, Any]]:
    for name, text in _decode(_frame([(None, c) for c in chunks], done=True), size):
        assert name is None
        if text != "[DONE]":
            yield json.loads(text)


# ---- chat chunks -> Anthropic events


def _run_anthropic(chunks: list[dict[str, Any]], size: int | None) -> list[tuple[str, Any]]:
    translator = AnthropicEventsFromChat(message_id="msg_fixed")
    events = []
    for chunk in _chat_chunks_over_sse(chunks, size):
        events += translator.feed(chunk)
    return events + translator.finish()


def _check_anthropic_grammar(events: list[tuple[str, Any]]) -> None:
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    open_blocks: set[int] = set()
    seen: list[int] = []
    for name, data in events:
        if name == "content_block_start":
            assert data["index"] == len(seen), "blocks are numbered in order"
            seen.append(data["index"])
            open_blocks.add(data["index"])
        elif name == "content_block_delta":
            assert data["index"] in open_blocks
        elif name == "content_block_stop":
            open_blocks.remove(data["index"])
    assert not open_blocks, "every block is stopped before message_delta"


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("name", list(CHAT_STREAMS))
def test_chat_stream_as_anthropic_events(name: str, size: int | None) -> None:
    events = _run_anthropic(CHAT_STREAMS[name], size)
    _check_anthropic_grammar(events)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event_name, data in events:
        parsed = sdk.anthropic_event(
            event_name, json.loads(sse.encode(data, event_name).split(b"data: ", 1)[1])
        )
        if parsed is not None:
            snapshot = accumulate_event(
                event=parsed, current_snapshot=snapshot, json_bufs=json_bufs
            )
    assert snapshot is not None
    message = sdk.message(
        snapshot.model_dump(exclude_none=True, exclude={"content": {"__all__": {"parsed_output"}}})
    )
    text, calls, finish = EXPECTED[name]
    assert "".join(b.text for b in message.content if b.type == "text") == text
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == [
        (i, n, json.loads(a)) for i, n, a in calls
    ]
    assert message.stop_reason == STOP_REASONS[finish]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 4)
    assert message.id == "msg_fixed" and message.model == "llama3.2"


def test_anthropic_events_are_the_same_whatever_the_split() -> None:
    name = "text then two tool calls in pieces (OpenAI style)"
    whole = _run_anthropic(CHAT_STREAMS[name], None)
    for size in SPLITS[1:]:
        assert _run_anthropic(CHAT_STREAMS[name], size) == whole


def test_vllm_stop_sequence_and_failure_event() -> None:
    translator = AnthropicEventsFromChat()
    events = translator.feed(_chunk({"content": "a"}))
    events += translator.feed(_chunk({}, "stop", stop_reason="END"))
    delta = translator.finish()[-2][1]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    failing = AnthropicEventsFromChat()
    failing.feed(_chunk({"content": "a"}))
    name, data = failing.fail(503, "the upstream went away")[0]
    assert (name, data) == (
        "error",
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "the upstream went away"},
        },
    )
    assert failing.finish() == []


# ---- chat chunks -> Responses events

REQUEST = {
    "model": "localrouter/auto",
    "input": "hi",
    "tools": [{"type": "function", "name": "ls", "parameters": {"type": "object"}}],
}


def _run_responses(
    chunks: list[dict[str, Any]], size: int | None
) -> tuple[ResponsesEventsFromChat, list[tuple[str, Any]]]:
    translator = ResponsesEventsFromChat(REQUEST, response_id="resp_fixed")
    events = []
    for chunk in _chat_chunks_over_sse(chunks, size):
        events += translator.feed(chunk)
    return translator, events + translator.finish()


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("name", list(CHAT_STREAMS))
def test_chat_stream_as_responses_events(name: str, size: int | None) -> None:
    translator, events = _run_responses(CHAT_STREAMS[name], size)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert [n for n, _ in events][:2] == ["response.created", "response.in_progress"]
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event_name, data in events:
        state.handle_event(sdk.response_event(event_name, data))
    text, calls, finish = EXPECTED[name]
    final_name, final = events[-1]
    response = sdk.response(final["response"])
    if finish == "length":
        assert final_name == "response.incomplete"
        assert response.status == "incomplete"
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"
    else:
        assert final_name == "response.completed"
        assert response.status == "completed"
        completed = state._completed_response  # the SDK's own view of the finished stream
        assert completed is not None and completed.output_text == text
    assert response.output_text == text
    assert [
        (i.call_id, i.name, i.arguments) for i in response.output if i.type == "function_call"
    ] == calls
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 4)
    assert response.id == "resp_fixed" and response.model == "llama3.2"  # who answered
    # The translator's final object is what the store keeps: the same as the last event's.
    assert translator.response == final["response"]


def test_responses_failure_before_and_after_the_response_started() -> None:
    early = ResponsesEventsFromChat(REQUEST)
    name, data = early.fail(429, "slow down")[0]
    assert name == "error"
    sdk.response_event(name, data)
    assert (data["code"], data["message"], data["sequence_number"]) == (
        "rate_limit_exceeded",
        "slow down",
        0,
    )
    late = ResponsesEventsFromChat(REQUEST)
    events = late.feed(_chunk({"content": "par"}))
    name, data = late.fail(502, "upstream reset")[0]
    assert name == "response.failed"
    assert data["sequence_number"] == len(events)
    failed = sdk.response_event(name, data).response
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.error.message == "upstream reset"


# ---- Anthropic events -> chat chunks (an Anthropic provider answering a chat client)


def _anthropic_stream() -> list[tuple[str, dict[str, Any]]]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_up",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5},
        },
    }
    events: list[dict[str, Any]] = [
        start,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hmm"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig"},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Looking "},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "… ✓"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"path": '},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '"."}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        },
        {"type": "message_stop"},
    ]
    for data in events:  # the fixture is a valid Anthropic stream
        sdk.anthropic_event(data["type"], data)
    return [(data["type"], data) for data in events]


def _accumulate_chat(
    chunks: list[dict[str, Any]],
) -> tuple[str, list[tuple[str, str, str]], str | None, Any]:
    text, calls, finish, usage = "", {}, None, None
    for data in chunks:
        chunk = sdk.chunk(data)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", "", ""])
                if call.id:
                    entry[0] = call.id
                if call.function and call.function.name:
                    entry[1] = call.function.name
                if call.function and call.function.arguments:
                    entry[2] += call.function.arguments
            finish = choice.finish_reason or finish
    return text, [tuple(calls[i]) for i in sorted(calls)], finish, usage  # type: ignore[misc]


@pytest.mark.parametrize("size", SPLITS)
def test_anthropic_stream_as_chat_chunks(size: int | None) -> None:
    translator = ChatChunksFromAnthropic(include_usage=True)
    chunks = []
    for name, text in _decode(_frame(list(_anthropic_stream()), done=False), size):
        chunks += translator.feed(name, json.loads(text))
    text, calls, finish, usage = _accumulate_chat(chunks)
    assert text == "Looking … ✓"
    assert calls == [("toolu_1", "ls", '{"path": "."}')]
    assert finish == "tool_calls" and translator.done
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (30, 30, 60)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["model"] for c in chunks} == {"claude-x"}
    assert len({c["id"] for c in chunks}) == 1


def test_anthropic_stream_without_usage_chunk_and_error_event() -> None:
    translator = ChatChunksFromAnthropic(include_usage=False)
    chunks = [c for name, data in _anthropic_stream() for c in translator.feed(name, data)]
    assert all(c["choices"] for c in chunks)
    assert translator.usage["completion_tokens"] == 30
    broken = ChatChunksFromAnthropic()
    broken.feed(*_anthropic_stream()[0])
    with pytest.raises(StreamFailed) as caught:
        broken.feed(
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    assert (caught.value.type, caught.value.message) == ("overloaded_error", "Overloaded")


# ---- Responses events -> chat chunks (a Responses provider answering a chat client)


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("name", list(CHAT_STREAMS))
def test_responses_stream_round_trips_to_chat_chunks(name: str, size: int | None) -> None:
    _, events = _run_responses(CHAT_STREAMS[name], None)
    translator = ChatChunksFromResponses(include_usage=True)
    chunks = []
    for event_name, text in _decode(_frame(list(events), done=False), size):
        chunks += translator.feed(event_name, json.loads(text))
    got_text, calls, finish, usage = _accumulate_chat(chunks)
    text, expected_calls, expected_finish = EXPECTED[name]
    assert (got_text, calls, finish) == (text, expected_calls, expected_finish)
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 4)


def test_responses_stream_with_done_events_only_and_reasoning() -> None:
    """An upstream that skips the deltas (only ``.done``) and sends a reasoning item."""
    response = {
        "id": "resp_u",
        "object": "response",
        "created_at": 1,
        "model": "gpt-x",
        "status": "in_progress",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": response},
        {
            "type": "response.output_item.added",
            "sequence_number": 1,
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1", "summary": []},
        },
        {
            "type": "response.output_item.added",
            "sequence_number": 2,
            "output_index": 1,
            "item": {
                "type": "message",
                "id": "msg_1",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        },
        {
            "type": "response.output_text.done",
            "sequence_number": 3,
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "text": "Hi!",
            "logprobs": [],
        },
        {
            "type": "response.output_item.added",
            "sequence_number": 4,
            "output_index": 2,
            "item": {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "ls",
                "arguments": "",
                "status": "in_progress",
            },
        },
        {
            "type": "response.function_call_arguments.delta",
            "sequence_number": 5,
            "item_id": "fc_1",
            "output_index": 2,
            "delta": '{"a"',
        },
        {
            "type": "response.function_call_arguments.done",
            "sequence_number": 6,
            "item_id": "fc_1",
            "output_index": 2,
            "arguments": '{"a": 1}',
        },
        {
            "type": "response.completed",
            "sequence_number": 7,
            "response": {
                **response,
                "status": "completed",
                "usage": {
                    "input_tokens": 3,
                    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                    "output_tokens": 2,
                    "output_tokens_details": {"reasoning_tokens": 1},
                    "total_tokens": 5,
                },
            },
        },
    ]
    for data in events:
        sdk.response_event(data["type"], data)
    translator = ChatChunksFromResponses()
    chunks = [c for data in events for c in translator.feed(data["type"], data)]
    text, calls, finish, usage = _accumulate_chat(chunks)
    assert (text, calls, finish) == ("Hi!", [("call_1", "ls", '{"a": 1}')], "tool_calls")
    assert usage.completion_tokens_details.reasoning_tokens == 1


@pytest.mark.parametrize(
    "event",
    [
        {
            "type": "response.failed",
            "sequence_number": 3,
            "response": {"error": {"code": "server_error", "message": "boom"}},
        },
        {
            "type": "error",
            "sequence_number": 3,
            "code": "server_error",
            "message": "boom",
            "param": None,
        },
    ],
)
def test_responses_failures_raise(event: dict[str, Any]) -> None:
    with pytest.raises(StreamFailed) as caught:
        ChatChunksFromResponses().feed(event["type"], event)
    assert caught.value.message == "boom" and caught.value.code == "server_error"


def test_sse_decoder_handles_crlf_comments_and_multiline_data() -> None:
    decoder = sse.SseDecoder()
    raw = b': keep-alive\r\n\r\nevent: a\r\ndata: {"x":\r\ndata: 1}\r\n\r\ndata: tail'
    events = [e for i in range(len(raw)) for e in decoder.feed(raw[i : i + 1])]
    assert events == [("a", '{"x":\n1}')]
    assert decoder.finish() == [(None, "tail")]


@pytest.mark.parametrize(
    "translator", [AnthropicEventsFromChat(), ResponsesEventsFromChat(REQUEST)]
)
def test_an_upstream_error_chunk_raises_stream_failed(translator: Any) -> None:
    translator.feed(_chunk({"content": "par"}))
    with pytest.raises(StreamFailed) as caught:
        translator.feed(
            {"error": {"message": "model crashed", "type": "server_error", "code": None}}
        )
    assert (caught.value.message, caught.value.type) == ("model crashed", "server_error")


@pytest.mark.parametrize("size", [None, 5])
def test_anthropic_client_answered_by_a_responses_upstream_through_the_pivot(
    size: int | None,
) -> None:
    """Responses events -> chat chunks -> Anthropic events: two translators, one pivot."""
    name = "text then two tool calls in pieces (OpenAI style)"
    _, upstream = _run_responses(CHAT_STREAMS[name], None)
    to_chat = ChatChunksFromResponses()
    to_anthropic = AnthropicEventsFromChat()
    events = []
    for event_name, text in _decode(_frame(list(upstream), done=False), size):
        for chunk in to_chat.feed(event_name, json.loads(text)):
            events += to_anthropic.feed(chunk)
    events += to_anthropic.finish()
    _check_anthropic_grammar(events)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event_name, data in events:
        parsed = sdk.anthropic_event(event_name, data)
        if parsed is not None:
            snapshot = accumulate_event(
                event=parsed, current_snapshot=snapshot, json_bufs=json_bufs
            )
    assert snapshot is not None
    assert [b.type for b in snapshot.content] == ["text", "tool_use", "tool_use"]
    assert snapshot.content[1].input == {"path": "."}  # type: ignore[union-attr]
    assert snapshot.stop_reason == "tool_use"
    assert (snapshot.usage.input_tokens, snapshot.usage.output_tokens) == (11, 4)
