"""docs/providers.md: every YAML snippet is valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from localrouter.settings import ProviderSettings, parse_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "providers.md"
PRESETS = (
    "openai",
    "ollama",
    "lmstudio",
    "vllm",
    "llamacpp",
    "openrouter",
    "groq",
    "anthropic",
    "gemini",
)


def snippets() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_every_snippet_validates() -> None:
    names = set()
    for text in snippets():
        if text.startswith("  - name:"):  # a preset: one entry of the providers list
            for entry in yaml.safe_load("providers:\n" + text)["providers"]:
                names.add(ProviderSettings.model_validate(entry).name)
        elif "routing:" in text:  # a whole settings file
            settings = parse_settings(yaml.safe_load(text), DOC)
            names.update(p.name for p in settings.providers)
        else:  # a providers section
            for entry in yaml.safe_load(text)["providers"]:
                names.add(ProviderSettings.model_validate(entry).name)
    assert set(PRESETS) <= names
