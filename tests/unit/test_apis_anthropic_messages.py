"""Anthropic Messages <-> chat pivot: requests and responses both ways, outputs parsed with
the SDKs' own types."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from localrouter.gateway.apis import anthropic_messages as am
from localrouter.gateway.errors import ApiError
from tests.unit import apis_support as sdk

PNG = "iVBORw0KGgo="
BASE = {"model": "claude-sonnet-4-5", "max_tokens": 100}


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_completion_tokens": 100, **extra}


# (name, Anthropic request fields, expected chat request)
CLIENT_REQUESTS = [
    (
        "string content",
        {"messages": [{"role": "user", "content": "hi"}]},
        _chat(messages=[{"role": "user", "content": "hi"}]),
    ),
    (
        "system string",
        {"system": "be brief", "messages": [{"role": "user", "content": "hi"}]},
        _chat(
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
        ),
    ),
    (
        "system blocks, cache_control dropped",
        {
            "system": [
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}},
            ],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        },
        _chat(
            messages=[{"role": "system", "content": "one\ntwo"}, {"role": "user", "content": "hi"}]
        ),
    ),
    (
        "images base64 and url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    ],
                }
            ]
        },
        _chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                    ],
                }
            ]
        ),
    ),
    (
        "tool loop: tool_use, tool_result (error flag, text blocks), reminder after it",
        {
            "messages": [
                {"role": "user", "content": "list files"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "."}},
                        {"type": "tool_use", "id": "toolu_2", "name": "pwd", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [{"type": "text", "text": "denied"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    ],
                },
            ]
        },
        _chat(
            messages=[
                {"role": "user", "content": "list files"},
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "ls", "arguments": '{"path": "."}'},
                        },
                        {
                            "id": "toolu_2",
                            "type": "function",
                            "function": {"name": "pwd", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "[tool error] denied"},
                {"role": "user", "content": "<system-reminder>x</system-reminder>"},
            ]
        ),
    ),
    (
        "image inside a tool result follows as a user message",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [
                                {"type": "text", "text": "screenshot"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                        }
                    ],
                }
            ]
        },
        _chat(
            messages=[
                {"role": "tool", "tool_call_id": "toolu_1", "content": "screenshot"},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
                    ],
                },
            ]
        ),
    ),
    (
        "tools, tool_choice any without parallel calls, sampling, stop, user, stream",
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "stream": True,
        },
        _chat(
            messages=[{"role": "user", "content": "hi"}],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                        "description": "Weather in a city",
                    },
                }
            ],
            tool_choice="required",
            parallel_tool_calls=False,
            temperature=0.2,
            top_p=0.9,
            stop=["END"],
            user="u-1",
            stream=True,
            stream_options={"include_usage": True},
        ),
    ),
    (
        "tool_choice a named tool; structured output and effort",
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f"},
            "output_config": {
                "format": {"type": "json_schema", "schema": {"type": "object"}},
                "effort": "low",
            },
        },
        _chat(
            messages=[{"role": "user", "content": "hi"}],
            tools=[
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            tool_choice={"type": "function", "function": {"name": "f"}},
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": True},
            },
            reasoning_effort="low",
        ),
    ),
    (
        "a text document and a PDF",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "document", "source": {"type": "text", "data": "notes"}},
                        {
                            "type": "document",
                            "title": "r.pdf",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBE",
                            },
                        },
                    ],
                }
            ]
        },
        _chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "notes"},
                        {
                            "type": "file",
                            "file": {
                                "filename": "r.pdf",
                                "file_data": "data:application/pdf;base64,JVBE",
                            },
                        },
                    ],
                }
            ]
        ),
    ),
]


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [(r, e) for _, r, e in CLIENT_REQUESTS],
    ids=[name for name, _, _ in CLIENT_REQUESTS],
)
def test_anthropic_request_to_chat(
    request_fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = {**BASE, **request_fields}
    before = copy.deepcopy(body)
    assert am.chat_request(body) == expected
    assert body == before, "the client's request is read, never changed"


UNTRANSLATABLE = [
    (
        {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        "the Anthropic server tool 'web_search' (type 'web_search_20250305') cannot be translated"
        " to the OpenAI Chat Completions API; only custom tools",
    ),
    ({"mcp_servers": [{"type": "url", "url": "https://m.test"}]}, "MCP servers"),
    (
        {"messages": [{"role": "user", "content": [{"type": "search_result", "content": []}]}]},
        "messages.0.content.0: a 'search_result' block cannot be translated",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                }
            ]
        },
        "an image with source type 'file'",
    ),
]


@pytest.mark.parametrize(("fields", "message"), UNTRANSLATABLE)
def test_untranslatable_anthropic_features_are_a_400_naming_them(
    fields: dict[str, Any], message: str
) -> None:
    body = {**BASE, "messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(ApiError) as caught:
        am.chat_request(body)
    assert caught.value.status == 400
    assert caught.value.code == "unsupported_feature"
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5}, "messages"),
    ],
)
def test_anthropic_request_without_required_fields_is_a_400(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(ApiError) as caught:
        am.chat_request(body)
    assert (caught.value.status, caught.value.param) == (400, param)


def _completion(message: dict[str, Any], finish: str, **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "ollama/llama3.2",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 7,
            "total_tokens": 37,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }


# (name, chat completion, expected content, stop_reason, stop_sequence)
CHAT_ANSWERS = [
    (
        "text",
        _completion({"role": "assistant", "content": "Hello"}, "stop"),
        [{"type": "text", "text": "Hello"}],
        "end_turn",
        None,
    ),
    (
        "length",
        _completion({"role": "assistant", "content": "Hel"}, "length"),
        [{"type": "text", "text": "Hel"}],
        "max_tokens",
        None,
    ),
    (
        "stop sequence reported by vLLM",
        _completion({"role": "assistant", "content": "a"}, "stop", stop_reason="END"),
        [{"type": "text", "text": "a"}],
        "stop_sequence",
        "END",
    ),
    (
        "tool calls, one with broken JSON",
        _completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "ls", "arguments": '{"p": 1}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "rm", "arguments": "{oops"},
                    },
                ],
            },
            "tool_calls",
        ),
        [
            {"type": "tool_use", "id": "call_1", "name": "ls", "input": {"p": 1}},
            {
                "type": "tool_use",
                "id": "call_2",
                "name": "rm",
                "input": {"_raw_arguments": "{oops"},
            },
        ],
        "tool_use",
        None,
    ),
    (
        "tool calls with finish_reason stop (some servers)",
        _completion(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
            "stop",
        ),
        [{"type": "tool_use", "id": "c", "name": "f", "input": {}}],
        "tool_use",
        None,
    ),
    (
        "content filter",
        _completion({"role": "assistant", "content": ""}, "content_filter"),
        [],
        "refusal",
        None,
    ),
]


@pytest.mark.parametrize(
    ("completion", "content", "stop_reason", "stop_sequence"),
    [c[1:] for c in CHAT_ANSWERS],
    ids=[c[0] for c in CHAT_ANSWERS],
)
def test_chat_answer_as_anthropic_message(
    completion: dict[str, Any], content: list[Any], stop_reason: str, stop_sequence: str | None
) -> None:
    message = sdk.message(am.message_from_chat(completion))
    assert [block.model_dump(exclude_none=True) for block in message.content] == content
    assert (message.stop_reason, message.stop_sequence) == (stop_reason, stop_sequence)
    assert message.model == "ollama/llama3.2"
    assert message.id.startswith("msg_")
    # Anthropic's input_tokens leaves out the cache reads it lists apart.
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 7)
    assert message.usage.cache_read_input_tokens == 10


# ---- the upstream direction: chat clients answered by an Anthropic provider


def test_chat_request_to_anthropic_full_conversation() -> None:
    chat = {
        "model": "claude-x",
        "messages": [
            {"role": "system", "content": "rule one"},
            {"role": "developer", "content": [{"type": "text", "text": "rule two"}]},
            {"role": "user", "content": "hi"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/b.png", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "ls", "arguments": '{"p":"."}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "pwd", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "/"}]},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": None},
        ],
        "max_tokens": 50,
        "temperature": 1.5,
        "top_p": 0.5,
        "stop": "END",
        "user": "u-1",
        "seed": 3,
        "presence_penalty": 0.1,
        "tools": [
            {
                "type": "function",
                "function": {"name": "ls", "description": "list", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        "reasoning_effort": "minimal",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert am.anthropic_request(chat) == {
        "model": "claude-x",
        "system": "rule one\n\nrule two",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "text", "text": "see"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "ls", "input": {"p": "."}},
                    {"type": "tool_use", "id": "call_2", "name": "pwd", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "/"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        "max_tokens": 50,
        "temperature": 1.0,
        "top_p": 0.5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "tools": [{"name": "ls", "input_schema": {"type": "object"}, "description": "list"}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "output_config": {
            "format": {"type": "json_schema", "schema": {"type": "object"}},
            "effort": "low",
        },
        "stream": True,
    }


def test_chat_request_to_anthropic_defaults_max_tokens() -> None:
    body = am.anthropic_request({"model": "c", "messages": [{"role": "user", "content": "hi"}]})
    assert body == {
        "model": "c",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": am.DEFAULT_MAX_TOKENS,
    }
    assert (
        am.anthropic_request({"model": "c", "messages": [], "max_completion_tokens": 7})[
            "max_tokens"
        ]
        == 7
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n": 2}, "n > 1"),
        ({"logprobs": True}, "logprobs"),
        ({"audio": {"voice": "x"}}, "audio output"),
        ({"response_format": {"type": "json_object"}}, "use response_format json_schema"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "a 'custom' tool"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "a 'input_audio' part",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}
                ]
            },
            "a file other than an inline PDF",
        ),
    ],
)
def test_untranslatable_chat_features_for_anthropic_are_a_400(
    fields: dict[str, Any], message: str
) -> None:
    chat = {"model": "c", "messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(ApiError) as caught:
        am.anthropic_request(chat)
    assert caught.value.status == 400
    assert message in caught.value.message
    assert "the Anthropic Messages API" in caught.value.message


ANTHROPIC_ANSWERS = [
    ("end_turn", [{"type": "text", "text": "Hi"}], "stop", "Hi", None),
    ("max_tokens", [{"type": "text", "text": "H"}], "length", "H", None),
    ("stop_sequence", [{"type": "text", "text": "a"}], "stop", "a", None),
    ("refusal", [], "content_filter", "", None),
    (
        "tool_use",
        [
            {"type": "thinking", "thinking": "x", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_9", "name": "ls", "input": {"p": "."}},
        ],
        "tool_calls",
        "Checking.",
        [
            {
                "id": "toolu_9",
                "type": "function",
                "function": {"name": "ls", "arguments": '{"p": "."}'},
            }
        ],
    ),
]


@pytest.mark.parametrize(("stop_reason", "content", "finish", "text", "calls"), ANTHROPIC_ANSWERS)
def test_anthropic_answer_as_chat_completion(
    stop_reason: str, content: list[Any], finish: str, text: str, calls: Any
) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 5,
            "output_tokens": 3,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 1,
        },
    }
    sdk.message(message)  # the fixture itself is a valid Anthropic answer
    completion = sdk.chat(am.chat_from_message(message))
    choice = completion.choices[0]
    assert choice.finish_reason == finish
    assert (choice.message.content or "") == text
    assert [c.model_dump() for c in choice.message.tool_calls or []] == (calls or [])
    assert completion.model == "claude-x"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 3)
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


def test_round_trip_through_both_directions_keeps_the_conversation() -> None:
    """Anthropic request -> chat -> Anthropic request gives the same turns back."""
    original = {
        **BASE,
        "system": "be brief",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Sure."},
                    {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"p": "."}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
        "tools": [{"name": "ls", "description": "list", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["X"],
        "temperature": 0.3,
    }
    again = am.anthropic_request(am.chat_request(original))
    assert again == {
        "model": original["model"],
        "max_tokens": 100,
        "system": "be brief",
        "messages": original["messages"],
        "tools": original["tools"],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["X"],
        "temperature": 0.3,
    }


def test_upstream_headers() -> None:
    assert am.upstream_headers("sk-ant-1") == {
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-1",
    }
    native = am.upstream_headers(
        None, {"Anthropic-Version": "2024-01-01", "anthropic-beta": "tools-1"}
    )
    assert native == {"anthropic-version": "2024-01-01", "anthropic-beta": "tools-1"}
