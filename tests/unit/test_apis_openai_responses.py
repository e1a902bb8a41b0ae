"""OpenAI Responses <-> chat pivot: requests and responses both ways, outputs parsed with the
openai SDK's own types."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from localrouter.gateway.apis import openai_responses as orr
from localrouter.gateway.errors import ApiError
from tests.unit import apis_support as sdk

PNG_URL = "data:image/png;base64,iVBORw0KGgo="
FUNCTION_TOOL = {"type": "function", "name": "f", "parameters": {"type": "object"}}


# (name, Responses request fields, expected chat request fields besides model)
CLIENT_REQUESTS = [
    ("string input", {"input": "hi"}, {"messages": [{"role": "user", "content": "hi"}]}),
    (
        "instructions, parts, an image, developer role",
        {
            "instructions": "be brief",
            "input": [
                {"role": "developer", "content": "house rules"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is"},
                        {"type": "input_text", "text": "this"},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "and this"},
                        {"type": "input_image", "image_url": PNG_URL, "detail": "high"},
                    ],
                },
            ],
        },
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "system", "content": "house rules"},
                {"role": "user", "content": "what is\nthis"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "and this"},
                        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}},
                    ],
                },
            ]
        },
    ),
    (
        "function call round trip; reasoning items dropped",
        {
            "input": [
                {"role": "user", "content": "weather?"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "w",
                    "arguments": '{"c":"P"}',
                },
                {"type": "function_call", "call_id": "call_2", "name": "t", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {
                    "type": "function_call_output",
                    "call_id": "call_2",
                    "output": [{"type": "input_text", "text": "noon"}],
                },
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "w", "arguments": '{"c":"P"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "t", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            ]
        },
    ),
    (
        "tools, tool_choice, json_schema, limits, reasoning, metadata kept out, stream",
        {
            "input": "hi",
            "tools": [
                {
                    "type": "function",
                    "name": "w",
                    "description": "weather",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": True,
                }
            ],
            "tool_choice": {"type": "function", "name": "w"},
            "parallel_tool_calls": False,
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "Out",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "low",
            },
            "max_output_tokens": 64,
            "temperature": 0.1,
            "top_p": 0.8,
            "reasoning": {"effort": "high", "summary": "auto"},
            "metadata": {"k": "v"},
            "user": "u-1",
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "stream": True,
        },
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "w",
                        "description": "weather",
                        "parameters": {"type": "object", "properties": {}},
                        "strict": True,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "w"}},
            "parallel_tool_calls": False,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "Out", "schema": {"type": "object"}, "strict": True},
            },
            "max_completion_tokens": 64,
            "temperature": 0.1,
            "top_p": 0.8,
            "reasoning_effort": "high",
            "user": "u-1",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    (
        "json_object; tool_choice and parallel_tool_calls dropped without tools",
        {
            "input": "hi",
            "text": {"format": {"type": "json_object"}},
            "tool_choice": "required",
            "parallel_tool_calls": True,
        },
        {
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"},
        },
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in CLIENT_REQUESTS], ids=[c[0] for c in CLIENT_REQUESTS]
)
def test_responses_request_to_chat(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    body = {"model": "auto", **fields}
    before = copy.deepcopy(body)
    assert orr.chat_request(body) == {"model": "auto", **expected}
    assert body == before, "the client's request is read, never changed"


def test_previous_conversation_goes_between_instructions_and_input() -> None:
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]
    chat = orr.chat_request(
        {
            "model": "m",
            "instructions": "new rules",
            "input": "again",
            "previous_response_id": "resp_1",
        },
        history,
    )
    assert chat["messages"] == [
        {"role": "system", "content": "new rules"},
        *history,
        {"role": "user", "content": "again"},
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tools": [{"type": "web_search"}]},
            "the built-in tool 'web_search' cannot be translated to the OpenAI Chat Completions"
            " API; only function tools can be",
        ),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "'file_search'"),
        (
            {"tools": [FUNCTION_TOOL], "tool_choice": {"type": "web_search_preview"}},
            "tool_choice 'web_search_preview'",
        ),
        ({"background": True}, "background mode"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "a 'item_reference' item"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "an image given by file_id",
        ),
        ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "'computer_call_output'"),
    ],
)
def test_untranslatable_responses_features_are_a_400_naming_them(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        orr.chat_request({"model": "m", "input": "hi", **fields})
    assert (caught.value.status, caught.value.code) == (400, "unsupported_feature")
    assert message in caught.value.message


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "ollama/llama3.2",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }


REQUEST = {
    "model": "localrouter/auto",
    "input": "hi",
    "instructions": "be brief",
    "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}, "strict": False}],
    "tool_choice": "auto",
    "temperature": 0.5,
    "metadata": {"k": "v"},
    "text": {
        "format": {
            "type": "json_schema",
            "name": "Out",
            "schema": {"type": "object"},
            "strict": True,
        }
    },
    "reasoning": {"effort": "low"},
    "max_output_tokens": 99,
    "store": True,
}


def test_chat_text_answer_as_response() -> None:
    data = orr.response_from_chat(
        _completion({"role": "assistant", "content": "Hello"}, "stop"), REQUEST
    )
    response = sdk.response(data)
    assert response.id.startswith("resp_")
    assert response.status == "completed" and response.error is None
    assert response.output_text == "Hello"
    item = response.output[0]
    assert item.type == "message" and item.id.startswith("msg_") and item.status == "completed"
    assert response.model == "ollama/llama3.2"
    # The request's settings are echoed as OpenAI does.
    assert response.instructions == "be brief"
    assert response.temperature == 0.5 and response.max_output_tokens == 99
    assert response.metadata == {"k": "v"}
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"
    assert response.reasoning is not None and response.reasoning.effort == "low"
    assert [t.type for t in response.tools] == ["function"]
    assert response.usage is not None
    assert (
        response.usage.input_tokens,
        response.usage.output_tokens,
        response.usage.total_tokens,
    ) == (12, 5, 17)
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == 1


def test_chat_tool_calls_as_function_call_items() -> None:
    completion = _completion(
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"c":"P"}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "t", "arguments": "{}"}},
            ],
        },
        "tool_calls",
    )
    response = sdk.response(orr.response_from_chat(completion, REQUEST))
    kinds = [(item.type, getattr(item, "call_id", None)) for item in response.output]
    assert kinds == [("message", None), ("function_call", "call_a"), ("function_call", "call_b")]
    call = response.output[1]
    assert call.type == "function_call"
    assert call.id is not None and call.id.startswith("fc_")
    assert (call.name, call.arguments, call.status) == ("w", '{"c":"P"}', "completed")
    # What the store keeps: the same turn in chat format, to continue the conversation.
    assert orr.output_messages(orr.response_from_chat(completion, REQUEST)) == [
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"c":"P"}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "t", "arguments": "{}"}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_cut_answers_are_incomplete_responses(finish: str, reason: str) -> None:
    data = orr.response_from_chat(
        _completion({"role": "assistant", "content": "Hel"}, finish), REQUEST
    )
    response = sdk.response(data)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == reason
    assert response.output[0].status == "incomplete"


def test_refusal_is_a_refusal_part() -> None:
    data = orr.response_from_chat(
        _completion({"role": "assistant", "content": None, "refusal": "I can't."}, "stop"), REQUEST
    )
    part = sdk.response(data).output[0].content[0]  # type: ignore[union-attr]
    assert part.type == "refusal" and part.refusal == "I can't."


# ---- the upstream direction: chat clients answered by a Responses provider


def test_chat_request_to_responses() -> None:
    chat = {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "rules"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "w", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "max_tokens": 10,
        "temperature": 0.2,
        "tools": [
            {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "O", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "medium",
        "seed": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert orr.responses_request(chat) == {
        "model": "gpt-x",
        "input": [
            {"type": "message", "role": "system", "content": "rules"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see"},
                    {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
                ],
            },
            {"type": "message", "role": "assistant", "content": "Checking."},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        "store": False,
        "max_output_tokens": 10,
        "temperature": 0.2,
        "tools": [
            {
                "type": "function",
                "name": "w",
                "parameters": {"type": "object"},
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "w"},
        "text": {
            "format": {
                "type": "json_schema",
                "name": "O",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "reasoning": {"effort": "medium"},
        "stream": True,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"stop": ["END"]},
            "stop sequences (stop) cannot be translated to the OpenAI Responses API",
        ),
        ({"n": 3}, "n > 1"),
        ({"logprobs": True}, "logprobs"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "a 'function' message"),
    ],
)
def test_untranslatable_chat_features_for_responses_are_a_400(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        orr.responses_request(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
        )
    assert caught.value.status == 400
    assert message in caught.value.message


def test_response_answer_as_chat_completion() -> None:
    upstream = orr.response_from_chat(
        _completion(
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "w", "arguments": "{}"},
                    }
                ],
            },
            "tool_calls",
        ),
        REQUEST,
    )
    sdk.response(upstream)
    completion = sdk.chat(orr.chat_from_response(upstream))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].model_dump() == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "w", "arguments": "{}"},
    }
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 5)


def test_incomplete_response_is_length_and_failed_is_a_502() -> None:
    cut = orr.response_from_chat(
        _completion({"role": "assistant", "content": "He"}, "length"), REQUEST
    )
    assert sdk.chat(orr.chat_from_response(cut)).choices[0].finish_reason == "length"
    failed = {**cut, "status": "failed", "error": {"code": "server_error", "message": "boom"}}
    with pytest.raises(ApiError) as caught:
        orr.chat_from_response(failed)
    assert caught.value.status == 502 and "boom" in caught.value.message


def test_conversation_after_a_tool_call_continues_with_its_output() -> None:
    """What the store keeps lets previous_response_id + function_call_output continue."""
    completion = _completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        "tool_calls",
    )
    first = {"model": "m", "instructions": "rules", "input": "weather?"}
    stored = orr.conversation_after(first, [], orr.response_from_chat(completion, first))
    follow_up = {
        "model": "m",
        "instructions": "rules",
        "input": [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
    }
    assert orr.chat_request(follow_up, stored)["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
