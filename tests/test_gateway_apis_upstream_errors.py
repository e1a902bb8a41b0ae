"""An upstream's error that ends the chain reaches Anthropic and Responses clients with its
meaning, through a real gateway: a 429 is the SDK's RateLimitError (with ``retry-after``),
a context-length error its BadRequestError."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.support.fake_api_upstream import FakeApiUpstream
from tests.support.fake_upstream import FakeUpstream

USER: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def chat_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.fail("busy-a", "429")
        upstream.fail("busy-b", "429")
        upstream.fail("too-long", "context_length")
        yield upstream


@pytest.fixture(scope="module")
def api_upstream() -> Iterator[FakeApiUpstream]:
    with FakeApiUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway_settings(chat_upstream: FakeUpstream, api_upstream: FakeApiUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "chat", "base_url": chat_upstream.base_url},
            {"name": "anth", "base_url": api_upstream.base_url, "api": "anthropic"},
            {"name": "resp", "base_url": api_upstream.base_url, "api": "openai-responses"},
        ],
        # No router model here: localrouter/auto goes to the strong chain, then (cross-tier)
        # the weak one; both end on a 429.
        "routing": {"strong": ["chat/busy-a"], "weak": ["chat/busy-b"]},
    }


@pytest.mark.parametrize("model", ["chat/busy-a", "localrouter/auto", "anth/fail-429"])
def test_anthropic_client_gets_rate_limit_error(claude: anthropic.Anthropic, model: str) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=model, max_tokens=5, messages=USER)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_anthropic_client_gets_rate_limit_error_in_a_stream(claude: anthropic.Anthropic) -> None:
    stream = claude.messages.stream(model="localrouter/auto", max_tokens=5, messages=USER)
    with pytest.raises(anthropic.RateLimitError) as caught, stream as events:
        events.until_done()
    assert caught.value.response.headers["retry-after"] == "7"


def test_anthropic_client_gets_bad_request_for_context_length(
    claude: anthropic.Anthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="chat/too-long", max_tokens=5, messages=USER)
    body = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "context" in body["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize("model", ["chat/busy-a", "localrouter/auto", "resp/fail-429"])
def test_responses_client_gets_rate_limit_error(oai: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.responses.create(model=model, input="hi")
    assert caught.value.response.headers["retry-after"] == "7"


def test_responses_client_gets_bad_request_for_context_length(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="chat/too-long", input="hi")
    assert caught.value.code == "context_length_exceeded"


def test_responses_client_gets_rate_limit_error_in_a_stream(oai: openai.OpenAI) -> None:
    stream = oai.responses.stream(model="localrouter/auto", input="hi")
    with pytest.raises(openai.RateLimitError) as caught, stream as events:
        events.until_done()
    assert caught.value.response.headers["retry-after"] == "7"
