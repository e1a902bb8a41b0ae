"""settings: ``providers[].api``, ``routing.aliases`` and ``responses`` retention."""

from __future__ import annotations

import pytest

from localrouter.settings import SettingsError, parse_settings


def test_provider_api_defaults_to_openai_chat_and_names_the_choices() -> None:
    settings = parse_settings(
        {
            "providers": [
                {"name": "a", "base_url": "https://api.anthropic.com/v1", "api": "anthropic"}
            ],
            "routing": {"strong": ["a/claude"], "weak": ["a/haiku"]},
        }
    )
    assert settings.providers[0].api == "anthropic"
    assert parse_settings({}).providers[0].api == "openai-chat"
    with pytest.raises(SettingsError, match=r"providers\.0\.api"):
        parse_settings(
            {
                "providers": [{"name": "a", "base_url": "http://x/v1", "api": "gemini"}],
                "routing": {"strong": [], "weak": []},
            }
        )


@pytest.mark.parametrize(
    "target", ["localrouter/auto", "auto", "router-bert-0.25", "router-mine-1", "openai/gpt-4o"]
)
def test_alias_targets_that_are_model_names(target: str) -> None:
    settings = parse_settings({"routing": {"aliases": {"claude-sonnet-4-5": target}}})
    assert settings.routing.aliases == {"claude-sonnet-4-5": target}


@pytest.mark.parametrize("target", ["gpt-4o", "router-bert-2", "router-bert-x", ""])
def test_alias_targets_that_are_not_model_names_are_refused(target: str) -> None:
    with pytest.raises(SettingsError, match=r"routing\.aliases: .*is not a model name"):
        parse_settings({"routing": {"aliases": {"claude-sonnet-4-5": target}}})


def test_responses_retention_is_bounded() -> None:
    assert parse_settings({}).responses.max_stored == 10_000
    with pytest.raises(SettingsError, match=r"responses\.max_stored"):
        parse_settings({"responses": {"max_stored": 0}})
