"""Provider selection: ``provider/model`` references, keys from the config or the
environment, and the upstream request built for a target."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from localrouter.gateway.proxy.providers import (
    Upstreams,
    scrub,
    split_ref,
    target_for,
)
from localrouter.gateway.secret_values import configured_secrets
from localrouter.settings import ProviderSettings, Settings


def settings(*providers: dict[str, object]) -> Settings:
    return Settings.model_validate({"providers": list(providers)})


LOCAL = {"name": "ollama", "base_url": "http://127.0.0.1:11434/v1/"}
CLOUD = {
    "name": "openai",
    "base_url": "https://api.openai.com/v1",
    "api_key_env": "H3_TEST_OPENAI_KEY",
    "timeout_secs": 30,
    "connect_timeout_secs": 2,
    "headers": {"OpenAI-Organization": "org-1"},
}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("openai/gpt-4o", ("openai", "gpt-4o")),
        ("ollama/library/llama3.2:latest", ("ollama", "library/llama3.2:latest")),
        ("openai/", ("openai", "")),
        ("gpt-4o", ("gpt-4o", "")),
    ],
)
def test_split_ref(ref: str, expected: tuple[str, str]) -> None:
    assert split_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "provider", "model"),
    [
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("ollama/library/llama3.2", "ollama", "library/llama3.2"),
        ("missing/gpt-4o", None, None),
        ("openai/", None, None),
        ("gpt-4o", None, None),
    ],
)
def test_target_for(ref: str, provider: str | None, model: str | None) -> None:
    target = target_for(settings(LOCAL, CLOUD), ref)
    if provider is None:
        assert target is None
        return
    assert target is not None
    assert (target.ref, target.provider_name, target.model) == (ref, provider, model)


@pytest.mark.parametrize(
    ("config_key", "env_key", "expected"),
    [
        (None, None, None),
        (None, "sk-from-env", "sk-from-env"),
        ("sk-from-config", "sk-from-env", "sk-from-config"),  # the file wins
        (None, "", None),  # an empty variable is no key
    ],
)
def test_keys_from_config_or_environment(
    monkeypatch: pytest.MonkeyPatch,
    config_key: str | None,
    env_key: str | None,
    expected: str | None,
) -> None:
    if env_key is None:
        monkeypatch.delenv("H3_TEST_OPENAI_KEY", raising=False)
    else:
        monkeypatch.setenv("H3_TEST_OPENAI_KEY", env_key)
    provider = ProviderSettings.model_validate({**CLOUD, "api_key": config_key})
    assert provider.resolve_api_key() == expected
    # Scrubbed: every key the config names, the one in use and any other.
    secrets = configured_secrets(settings({**CLOUD, "api_key": config_key}, LOCAL))
    assert sorted(secrets) == sorted({k for k in (config_key, env_key) if k})


def test_request_built_for_a_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H3_TEST_OPENAI_KEY", "sk-test-key-1234")
    config = settings(LOCAL, CLOUD)

    async def build() -> tuple[httpx.Request, httpx.Request]:
        upstreams = Upstreams()
        try:
            cloud = target_for(config, "openai/gpt-4o")
            local = target_for(config, "ollama/llama3.2")
            assert cloud is not None and local is not None
            return (
                upstreams.build(cloud, "/chat/completions", b'{"model": "gpt-4o"}'),
                upstreams.build(local, "/embeddings", b"{}"),
            )
        finally:
            await upstreams.aclose()

    cloud, local = asyncio.run(build())
    assert str(cloud.url) == "https://api.openai.com/v1/chat/completions"
    assert cloud.method == "POST" and cloud.content == b'{"model": "gpt-4o"}'
    assert cloud.headers["authorization"] == "Bearer sk-test-key-1234"
    assert cloud.headers["openai-organization"] == "org-1"
    assert cloud.headers["accept-encoding"] == "identity"
    assert cloud.extensions["timeout"] == {"connect": 2, "read": 30, "write": 30, "pool": 30}
    assert str(local.url) == "http://127.0.0.1:11434/v1/embeddings"  # trailing / dropped
    assert "authorization" not in local.headers
    assert local.extensions["timeout"]["read"] == 120


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("key sk-abcdef leaked", ["sk-abcdef"], "key *** leaked"),
        ("twice sk-abcdef sk-abcdef", ["sk-abcdef", None], "twice *** ***"),
        ("short abc stays", ["abc"], "short abc stays"),  # too short to scrub safely
        ("nothing here", [], "nothing here"),
    ],
)
def test_scrub(text: str, secrets: list[str | None], expected: str) -> None:
    assert scrub(text, secrets) == expected
