"""The OpenAI-compatible surface, driven by the real openai SDK against a real gateway process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

ENV_KEY = "sk-env-secret-AAAA1111"
CONFIG_KEY = "sk-config-secret-BBBB2222"


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "alpha",
                "base_url": upstream.base_url,
                "api_key_env": "ALPHA_TEST_KEY",
                "models": ["listed-1", "listed-2"],
            },
            {"name": "beta", "base_url": upstream.base_url, "api_key": CONFIG_KEY},
        ],
        # No router model is installed in this home: auto requests go to the strong tier.
        "routing": {"strong": ["alpha/strong-1"], "weak": ["beta/weak-1"]},
    }


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {"ALPHA_TEST_KEY": ENV_KEY}


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1_url, api_key="sk-client-not-forwarded", max_retries=0)


def test_chat_completion_direct_with_headers(
    client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="alpha/gpt-test", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "reply from gpt-test"
    assert completion.model == "gpt-test"  # the model that answered, as the upstream says
    assert raw.headers["x-localrouter-model"] == "alpha/gpt-test"
    assert raw.headers["x-localrouter-tier"] == "direct"
    assert float(raw.headers["x-localrouter-routing-ms"]) >= 0
    # The upstream got the provider's key from the environment, not the caller's key.
    sent = upstream.requests_for("gpt-test")[-1]
    assert sent.headers["authorization"] == f"Bearer {ENV_KEY}"
    assert sent.body["messages"] == [{"role": "user", "content": "hello there"}]

    entry = gateway.entry(raw.headers["x-request-id"])
    assert entry["provider"] == "alpha" and entry["model"] == "gpt-test"
    assert entry["tier"] == "direct" and entry["status"] == "success"
    assert (entry["input_tokens"], entry["output_tokens"]) == (2, 3)


def test_config_key_used_and_request_body_key_ignored(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    client.chat.completions.create(
        model="beta/m-config",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"api_key": "sk-from-body"},
    )
    sent = upstream.requests_for("m-config")[-1]
    assert sent.headers["authorization"] == f"Bearer {CONFIG_KEY}"


def test_auto_without_router_model_goes_strong(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    for model in ("localrouter/auto", "auto"):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "route me"}]
        )
        assert raw.parse().model == "strong-1"
        assert raw.headers["x-localrouter-tier"] == "strong"
        assert raw.headers["x-localrouter-model"] == "alpha/strong-1"
        assert "x-localrouter-win-rate" not in raw.headers
        entry = gateway.entry(raw.headers["x-request-id"])
        assert entry["tier"] == "strong" and entry["routellm_win_rate"] is None
        assert "not downloaded" in entry["routing_error"]
        assert entry["requested_model"] == model


def test_streaming_sync(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    stream = client.chat.completions.create(
        model="beta/streamer",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
    )
    chunks = list(stream)
    # The usage-only chunk the gateway asked for (for its log) is not shown to this client.
    assert all(chunk.choices for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "reply from streamer"
    request_id = stream.response.headers["x-request-id"]
    assert stream.response.headers["x-localrouter-model"] == "beta/streamer"
    entry = gateway.entry(request_id)
    assert entry["stream"] is True and entry["status"] == "success"
    assert (entry["input_tokens"], entry["output_tokens"]) == (3, 3)


def test_streaming_with_client_usage_request(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="beta/streamer",
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 2


def test_async_client_concurrent_and_streaming(gateway: GatewayProcess) -> None:
    async def run() -> tuple[list[str], str]:
        client = openai.AsyncOpenAI(base_url=gateway.v1_url, api_key="x", max_retries=0)
        async with client:
            answers = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model=f"alpha/async-{i}", messages=[{"role": "user", "content": "hi"}]
                    )
                    for i in range(20)
                )
            )
            stream = await client.chat.completions.create(
                model="alpha/async-stream",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return [a.choices[0].message.content or "" for a in answers], "".join(pieces)

    texts, streamed = asyncio.run(run())
    assert texts == [f"reply from async-{i}" for i in range(20)]
    assert streamed == "reply from async-stream"


def test_completions_and_embeddings(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    completion = client.completions.create(model="alpha/text-model", prompt="say hi")
    assert completion.choices[0].text == "completion from text-model"
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="alpha/text-model", prompt="say hi", stream=True)
        if c.choices
    )
    assert streamed == "completion from text-model"
    embedding = client.embeddings.create(model="beta/embedder", input=["a", "b"])
    assert [e.index for e in embedding.data] == [0, 1]
    assert upstream.requests_for("embedder")[-1].path == "/v1/embeddings"


def test_completions_routed_on_prompt(client: openai.OpenAI) -> None:
    raw = client.completions.with_raw_response.create(model="auto", prompt="route this")
    assert raw.headers["x-localrouter-tier"] == "strong"
    assert raw.parse().model == "strong-1"


def test_models_list_and_retrieve(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[:2] == ["localrouter/auto", "auto"]
    for expected in ("alpha/strong-1", "beta/weak-1", "alpha/listed-1", "alpha/listed-2"):
        assert expected in ids
    assert client.models.retrieve("alpha/listed-1").id == "alpha/listed-1"
    assert client.models.retrieve("router-bert-0.25").owned_by == "localrouter"
    answer = httpx.get(gateway.v1_url + "/models/alpha/strong-1")
    assert answer.status_code == 200 and answer.json()["id"] == "alpha/strong-1"
    missing = httpx.get(gateway.v1_url + "/models/nope/none")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_paths_without_v1(gateway: GatewayProcess) -> None:
    answer = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "alpha/plain", "messages": [{"role": "user", "content": "x"}]},
    )
    assert answer.status_code == 200 and answer.json()["model"] == "plain"
    assert httpx.get(gateway.base_url + "/models").json()["data"][0]["id"] == "localrouter/auto"
    assert httpx.get(gateway.base_url + "/models/auto").json()["id"] == "auto"
    completion = httpx.post(
        gateway.base_url + "/completions", json={"model": "alpha/p", "prompt": "x"}
    )
    assert completion.status_code == 200
    embeddings = httpx.post(
        gateway.base_url + "/embeddings", json={"model": "alpha/e", "input": "x"}
    )
    assert embeddings.status_code == 200


def test_health_metrics_openapi(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "m"}])
    assert httpx.get(gateway.base_url + "/health").json()["status"] == "ok"
    metrics = httpx.get(gateway.base_url + "/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'localrouter_requests_total{endpoint="chat"' in text
    assert 'localrouter_routing_decisions_total{tier="strong"}' in text
    assert "localrouter_request_latency_seconds_bucket" in text
    assert "localrouter_win_rate_bucket" in text
    assert "localrouter_router_unavailable_total" in text
    spec = httpx.get(gateway.base_url + "/openapi.json").json()
    for path in (
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/models/{model_id}",
        "/health",
        "/metrics",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["required"] == ["model", "messages"]


def test_multipart_content_text_reaches_upstream_unchanged(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    client.chat.completions.create(model="alpha/vision", messages=messages)  # type: ignore[arg-type]
    assert upstream.requests_for("vision")[-1].body["messages"] == messages


def test_bare_model_name_resolves_when_unique(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="weak-1", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-localrouter-model"] == "beta/weak-1"


def test_no_key_in_logs_or_output(
    client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream, tmp_path: Path
) -> None:
    # An upstream that echoes the key it received in its error must not leak it to us.
    upstream.fail("leaky", "401", message="Incorrect API key provided: {auth}")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(
                model="beta/leaky", messages=[{"role": "user", "content": "x"}]
            )
    finally:
        upstream.heal("leaky")
    assert CONFIG_KEY not in str(caught.value.body)
    request_id = caught.value.response.headers["x-request-id"]
    entry = gateway.entry(request_id)
    assert entry["status"] == "error" and entry["status_code"] == 401
    logs = "".join(p.read_text() for p in (gateway.home / "logs").glob("*.jsonl"))
    for key in (ENV_KEY, CONFIG_KEY):
        assert key not in logs
        assert key not in gateway.output()
