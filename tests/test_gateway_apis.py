"""The Responses and Anthropic Messages APIs through a real gateway process, with the real
``openai`` and ``anthropic`` SDKs, answered by fake upstreams of each provider API: natively
and translated both ways, routed (``localrouter/auto``, an alias) or direct."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from localrouter.settings import parse_settings
from tests.support.fake_api_upstream import INPUT_TOKENS, TOOL_ARGS, FakeApiUpstream
from tests.support.gateway import GatewayProcess
from tests.support.polling import wait_for

ANTHROPIC_KEY = "sk-ant-upstream-secret-1234"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ANTHROPIC_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": WEATHER_TOOL["parameters"],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApiUpstream]:
    with FakeApiUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway_settings(fake: FakeApiUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "chat", "base_url": fake.base_url},
            {"name": "resp", "base_url": fake.base_url, "api": "openai-responses"},
            {
                "name": "anth",
                "base_url": fake.base_url,
                "api": "anthropic",
                "api_key": ANTHROPIC_KEY,
            },
        ],
        # The strong chain starts with an overloaded Anthropic upstream: every routed request
        # falls back across provider APIs.
        "routing": {
            "strong": ["anth/fail-529", "chat/strong"],
            "weak": ["chat/weak"],
            "aliases": {"claude-sonnet-4-5": "localrouter/auto"},
        },
    }


# -- OpenAI Responses API ----------------------------------------------------------------------


def test_responses_create_answered_by_a_chat_upstream(
    gateway: GatewayProcess, oai: openai.OpenAI, fake: FakeApiUpstream
) -> None:
    raw = oai.responses.with_raw_response.create(
        model="chat/small", input="Say hi", instructions="Be brief."
    )
    response = raw.parse()
    assert response.output_text == "reply from small"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.input_tokens == INPUT_TOKENS
    sent = fake.last("/v1/chat/completions").body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi"},
    ]
    assert raw.headers["x-localrouter-model"] == "chat/small"
    assert raw.headers["x-localrouter-tier"] == "direct"
    entry = gateway.entry(raw.headers["x-request-id"])
    assert entry["endpoint"] == "/v1/responses"
    assert (entry["input_tokens"], entry["output_tokens"]) == (INPUT_TOKENS, 3)
    assert entry["status"] == "success"


def test_responses_stream_routed_falls_back_across_apis(
    gateway: GatewayProcess, oai: openai.OpenAI
) -> None:
    with oai.responses.with_streaming_response.create(
        model="localrouter/auto", input="Tell me a story", stream=True
    ) as raw:
        headers = raw.headers
        events = list(raw.parse())
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "reply from strong"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert headers["x-localrouter-routed-tier"] == "strong"
    assert headers["x-localrouter-model"] == "chat/strong"
    entry = gateway.entry(headers["x-request-id"])
    assert [a["model"] for a in entry["attempts"]] == ["anth/fail-529", "chat/strong"]
    assert entry["attempts"][0]["status"] == 529
    assert entry["stream"] is True
    assert (entry["input_tokens"], entry["output_tokens"]) == (INPUT_TOKENS, 3)


def test_responses_tool_round_trip_with_previous_response_id(
    oai: openai.OpenAI, fake: FakeApiUpstream
) -> None:
    first = oai.responses.create(
        model="chat/tool-model", input="Weather in Paris?", tools=[WEATHER_TOOL]
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == TOOL_ARGS
    second = oai.responses.create(
        model="chat/tool-model",
        previous_response_id=first.id,
        tools=[WEATHER_TOOL],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
    )
    assert second.output_text == "tool said: sunny"
    assert second.previous_response_id == first.id
    history = fake.last("/v1/chat/completions").body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert history[2] == {"role": "tool", "tool_call_id": calls[0].call_id, "content": "sunny"}
    stored = oai.responses.retrieve(second.id)
    assert stored.id == second.id and stored.output_text == "tool said: sunny"


def test_responses_stream_with_a_tool_call(oai: openai.OpenAI) -> None:
    stream = oai.responses.create(
        model="chat/tool-model", input="Weather?", tools=[WEATHER_TOOL], stream=True
    )
    events = list(stream)
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(pieces)) == TOOL_ARGS
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output[0].type == "function_call"


class Answer(BaseModel):
    answer: str
    confidence: int


def test_responses_parse_structured_output(oai: openai.OpenAI, fake: FakeApiUpstream) -> None:
    parsed = oai.responses.parse(model="chat/small", input="2 + 2?", text_format=Answer)
    assert parsed.output_parsed == Answer(answer="four", confidence=4)
    fmt = fake.last("/v1/chat/completions").body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["confidence"] == {
        "title": "Confidence",
        "type": "integer",
    }


def test_responses_unknown_ids_are_404(oai: openai.OpenAI, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve("resp_doesnotexist")
    with pytest.raises(openai.NotFoundError) as caught:
        oai.responses.create(model="chat/small", input="hi", previous_response_id="resp_nope")
    assert caught.value.code == "previous_response_not_found"
    answer = httpx.get(gateway.base_url + "/responses/resp_nope")  # the path without /v1
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"


def test_responses_store_false_and_delete(oai: openai.OpenAI) -> None:
    unstored = oai.responses.create(model="chat/small", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unstored.id)
    stored = oai.responses.create(model="chat/small", input="hi")
    oai.responses.delete(stored.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(stored.id)


def test_responses_native_upstream_gets_the_body_unchanged(
    oai: openai.OpenAI, fake: FakeApiUpstream
) -> None:
    response = oai.responses.create(
        model="resp/native", input="hi", extra_body={"custom_field": {"kept": True}}
    )
    assert response.output_text == "reply from native"
    sent = fake.last("/v1/responses")
    assert sent.body == {"model": "native", "input": "hi", "custom_field": {"kept": True}}
    events = list(oai.responses.create(model="resp/native", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "reply from native"
    )
    # A natively streamed answer is stored too (from its response.completed event).
    assert oai.responses.retrieve(events[-1].response.id).output_text == "reply from native"


# -- Anthropic Messages API --------------------------------------------------------------------


def test_messages_alias_routed_and_translated_to_chat(
    gateway: GatewayProcess, claude: anthropic.Anthropic, fake: FakeApiUpstream
) -> None:
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system="You are terse.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ignore me</system-reminder>"},
                    {"type": "text", "text": "Write a haiku"},
                ],
            }
        ],
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "reply from strong"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3
    assert raw.headers["x-localrouter-model"] == "chat/strong"
    assert raw.headers["x-localrouter-routed-tier"] == "strong"
    assert "x-localrouter-routing-ms" in raw.headers
    entry = gateway.entry(raw.headers["x-request-id"])
    assert entry["requested_model"] == "claude-sonnet-4-5"
    assert entry["endpoint"] == "/v1/messages"
    assert [a["model"] for a in entry["attempts"]] == ["anth/fail-529", "chat/strong"]
    # The failed Anthropic attempt went out with the provider's key (never the client's) and
    # the client's API version.
    attempt = [r for r in fake.requests if r.body.get("model") == "fail-529"][-1]
    assert attempt.headers["x-api-key"] == ANTHROPIC_KEY
    assert attempt.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]
    assert "authorization" not in attempt.headers
    assert fake.last("/v1/chat/completions").body["messages"][0] == {
        "role": "system",
        "content": "You are terse.",
    }


def test_messages_stream_text(gateway: GatewayProcess, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="chat/small", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "reply from small"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


def test_messages_stream_tool_use_translated(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="chat/tool-model",
        max_tokens=50,
        tools=[ANTHROPIC_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[-1]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == TOOL_ARGS
    again = claude.messages.create(
        model="chat/tool-model",
        max_tokens=50,
        tools=[ANTHROPIC_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [block.model_dump()]},  # type: ignore[list-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "rain"}],
            },
        ],
    )
    assert again.content[0].type == "text" and again.content[0].text == "tool said: rain"


def test_messages_native_pass_through(claude: anthropic.Anthropic, fake: FakeApiUpstream) -> None:
    message = claude.messages.create(
        model="anth/claude-x",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"top_k": 5, "unknown_field": "kept"},
        extra_headers={"anthropic-beta": "some-beta-2025-01-01"},
    )
    assert message.content[0].type == "text" and message.content[0].text == "reply from claude-x"
    recorded = fake.last("/v1/messages")
    assert recorded.headers["anthropic-beta"] == "some-beta-2025-01-01"  # the body may need it
    assert recorded.headers["x-api-key"] == ANTHROPIC_KEY
    sent = recorded.body
    assert sent == {
        "model": "claude-x",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
        "top_k": 5,
        "unknown_field": "kept",
    }
    with claude.messages.stream(
        model="anth/tool-claude",
        max_tokens=20,
        tools=[ANTHROPIC_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == TOOL_ARGS


def test_alias_is_a_model(gateway: GatewayProcess) -> None:
    answer = httpx.get(gateway.v1_url + "/models/claude-sonnet-4-5")
    assert answer.status_code == 200 and answer.json()["owned_by"] == "localrouter"


def test_endpoints_documented_once_and_counted(
    gateway: GatewayProcess, claude: anthropic.Anthropic
) -> None:
    paths = httpx.get(gateway.base_url + "/openapi.json").json()["paths"]
    for path in ("/v1/responses", "/v1/messages", "/v1/messages/count_tokens"):
        assert set(paths[path]) == {"post"}
        assert path.removeprefix("/v1") not in paths
    assert set(paths["/v1/responses/{response_id}"]) == {"get", "delete"}
    claude.messages.create(model="chat/small", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    metrics = httpx.get(gateway.base_url + "/metrics").text
    line = 'localrouter_requests_total{endpoint="messages",status_code="200",tier="direct"}'
    assert any(
        row.startswith(line + " ") and float(row.split()[-1]) >= 1 for row in metrics.splitlines()
    )


USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "body", "error_event"),
    [
        (
            "/v1/messages",
            {"model": "chat/drop-x", "max_tokens": 5, "messages": USER},
            b"event: error",
        ),
        ("/v1/responses", {"model": "chat/drop-x", "input": "hi"}, b"event: response.failed"),
        ("/chat/completions", {"model": "anth/drop-x", "messages": USER}, b'data: {"error":'),
    ],
)
def test_translated_stream_dropped_midway_ends_with_an_error_in_the_client_api(
    gateway: GatewayProcess, path: str, body: dict[str, Any], error_event: bytes
) -> None:
    body = {**body, "stream": True}
    with httpx.stream("POST", gateway.base_url + path, json=body, timeout=30) as answer:
        content = answer.read()
    assert answer.status_code == 200
    assert b"partial" in content
    assert error_event in content
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["status_code"] == 502 and "mid-stream" in entry["error"]


@pytest.mark.parametrize(
    ("path", "body", "error_event"),
    [
        (
            "/v1/messages",
            {"model": "anth/cut-x", "max_tokens": 5, "messages": USER},
            b"event: error",
        ),
        ("/v1/responses", {"model": "chat/cut-x", "input": "hi"}, b"event: response.failed"),
    ],
)
def test_stream_cut_before_its_end_event_ends_with_an_error(
    gateway: GatewayProcess, path: str, body: dict[str, Any], error_event: bytes
) -> None:
    with httpx.stream("POST", gateway.base_url + path, json={**body, "stream": True}) as answer:
        content = answer.read()
    assert b"partial" in content and error_event in content
    assert b"message_stop" not in content and b"response.completed" not in content
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["status_code"] == 502 and "before the answer was complete" in entry["error"]


def test_client_leaving_a_translated_stream_is_499_and_closes_the_upstream(
    gateway: GatewayProcess, fake: FakeApiUpstream
) -> None:
    body = {"model": "chat/slow-x", "max_tokens": 5, "messages": USER, "stream": True}
    with httpx.stream("POST", gateway.v1_url + "/messages", json=body, timeout=30) as answer:
        lines = answer.iter_lines()
        assert next(lines) == "event: message_start"
        request_id = answer.headers["x-request-id"]
    entry = gateway.entry(request_id)
    assert entry["status_code"] == 499 and entry["error"] == "client disconnected"
    wait_for(lambda: fake.closed_early == 1, timeout=10)


def test_messages_count_tokens(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    long = claude.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello world " * 100}]
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_messages_errors_in_anthropic_shape(
    gateway: GatewayProcess, claude: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        claude.messages.create(
            model="nope/x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="chat/small", max_tokens=5, messages=[])
    with pytest.raises(anthropic.InternalServerError) as failed:
        claude.messages.create(
            model="chat/fail-503", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    json_type = {"content-type": "application/json"}
    answer = httpx.post(gateway.base_url + "/messages", content=b"{not json", headers=json_type)
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "invalid_request_error"
    # Refused before it reaches the endpoint (not JSON by its type), in Anthropic's shape too.
    answer = httpx.post(gateway.base_url + "/messages", content=b"{}")
    assert answer.status_code == 415
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_messages_upstream_error_passes_with_its_meaning(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="anth/fail-400", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert "fake anthropic upstream says 400" in str(caught.value)


# -- OpenAI chat answered by an Anthropic or Responses upstream --------------------------------


def test_chat_client_answered_by_anthropic_upstream(
    gateway: GatewayProcess, oai: openai.OpenAI, fake: FakeApiUpstream
) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="anth/claude-x", messages=[{"role": "user", "content": "hi"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "reply from claude-x"
    assert completion.usage is not None and completion.usage.prompt_tokens == INPUT_TOKENS
    sent = fake.last("/v1/messages")
    assert sent.body["max_tokens"] > 0 and sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"  # the default for chat clients
    entry = gateway.entry(raw.headers["x-request-id"])
    assert entry["endpoint"] == "/v1/chat/completions" and entry["provider"] == "anth"
    tools: Any = [{"type": "function", "function": {**WEATHER_TOOL, "type": None}}]
    tools[0]["function"].pop("type")
    chunks = list(
        oai.chat.completions.create(
            model="anth/tool-claude",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=tools,
            stream=True,
        )
    )
    arguments = "".join(
        call.function.arguments or ""
        for chunk in chunks
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
        if call.function is not None
    )
    assert json.loads(arguments) == TOOL_ARGS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_client_answered_by_responses_upstream(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="resp/native", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "reply from native"


def test_untranslatable_feature_is_a_400_naming_it(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model="anth/claude-x", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert caught.value.code == "unsupported_feature"
    assert "n > 1" in str(caught.value)


# -- README: the snippets of "Use with Claude Code" and "Use with the Responses API" ----------

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_blocks(heading: str, language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def on(gateway: GatewayProcess, code: str) -> str:
    return code.replace("http://127.0.0.1:3625", gateway.base_url)


def test_readme_claude_code_setup_works(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell,) = readme_blocks("Use with Claude Code", "bash")
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", on(gateway, shell), re.MULTILINE))
    assert set(exports) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_MODEL"}
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    # What Claude Code does with those variables: the SDK reads the URL and token from them.
    message = anthropic.Anthropic(max_retries=0).messages.create(
        model=exports["ANTHROPIC_MODEL"],
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "reply from strong"
    (aliases,) = readme_blocks("Use with Claude Code", "yaml")
    assert parse_settings(yaml.safe_load(aliases)).routing.aliases["claude-sonnet-4-5"] == (
        "localrouter/auto"
    )
    (python,) = readme_blocks("Use with Claude Code", "python")
    exec(on(gateway, python), {})
    assert capsys.readouterr().out == "strong reply from strong\n"


def test_readme_responses_snippet_works(
    gateway: GatewayProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    (python,) = readme_blocks("Use with the Responses API / Codex-style clients", "python")
    exec(on(gateway, python), {})
    assert capsys.readouterr().out == "reply from strong\nreply from strong\nreply from strong"


# -- answers and events validate against the SDKs' own (pydantic) types ----------------------


def sse_data(content: bytes) -> list[Any]:
    return [
        json.loads(line[6:])
        for line in content.decode().splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize("model", ["chat/tool-model", "anth/tool-claude"])
def test_translated_answers_validate_as_sdk_types(gateway: GatewayProcess, model: str) -> None:
    response_body = {"model": model, "input": "Weather?", "tools": [WEATHER_TOOL]}
    message_body = {
        "model": model,
        "max_tokens": 20,
        "messages": USER,
        "tools": [ANTHROPIC_TOOL],
    }
    chat_tool = {key: WEATHER_TOOL[key] for key in ("name", "description", "parameters")}
    chat_body = {
        "model": model,
        "messages": USER,
        "tools": [{"type": "function", "function": chat_tool}],
    }
    checks: list[tuple[str, dict[str, Any], Any, Any]] = [
        ("/v1/responses", response_body, Response, ResponseStreamEvent),
        ("/v1/messages", message_body, Message, RawMessageStreamEvent),
        ("/v1/chat/completions", chat_body, ChatCompletion, ChatCompletionChunk),
    ]
    for path, body, answer_type, event_type in checks:
        native = {"chat": "/v1/chat/completions", "anth": "/v1/messages"}[model.split("/")[0]]
        if path == native:
            continue  # the fake's own answer, passed through
        answer = httpx.post(gateway.base_url + path, json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        TypeAdapter(answer_type).validate_python(answer.json())
        streamed = httpx.post(gateway.base_url + path, json={**body, "stream": True}, timeout=30)
        events = sse_data(streamed.content)
        assert len(events) > 4
        adapter = TypeAdapter(event_type)
        for event in events:
            if event != {"type": "ping"}:  # Anthropic's keep-alive, not in the event union
                adapter.validate_python(event)
