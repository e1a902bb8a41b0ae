"""Model names and what to classify (SPEC "HTTP: Model names", "The router model").

- ``localrouter/auto`` and ``auto``: route with the configured threshold.
- ``router-bert-<t>`` (RouteLLM's naming): route with threshold ``t`` (0 <= t <= 1).
- ``provider/model``: straight to that upstream (the provider must be configured).
- a bare model name that exactly one configured ``provider/model`` ends with: that one.

Routed requests go to a tier's fallback chain; with ``cross_tier_fallback`` the other tier's
chain follows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from localrouter.gateway.errors import ApiError
from localrouter.gateway.proxy.providers import Target, split_ref, target_for
from localrouter.settings import Settings

AUTO_MODELS = ("localrouter/auto", "auto")
ROUTER_BERT_PREFIX = "router-bert-"
Tier = Literal["strong", "weak"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A requested model name, understood: routed (``target`` None) or direct."""

    routed: bool
    threshold: float | None = None  # routed: None = the configured one
    target: Target | None = None


def configured_models(settings: Settings) -> list[str]:
    """Every ``provider/model`` the config names: routing chains, then providers' lists."""
    seen: dict[str, None] = {}
    for ref in (*settings.routing.strong, *settings.routing.weak):
        seen.setdefault(ref, None)
    for provider in settings.providers:
        for model in provider.models:
            seen.setdefault(
                model
                if "/" in model and model.startswith(provider.name + "/")
                else f"{provider.name}/{model}",
                None,
            )
    return list(seen)


def available_models(settings: Settings) -> list[str]:
    return [*AUTO_MODELS, *configured_models(settings)]


def parse_router_bert(name: str) -> float | None:
    """The threshold of ``router-bert-<t>``, None for other names; 400 when ``t`` is bad."""
    if not name.startswith(ROUTER_BERT_PREFIX):
        return None
    raw = name[len(ROUTER_BERT_PREFIX) :]
    try:
        threshold = float(raw)
    except ValueError:
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:  # also refuses NaN
        raise ApiError(
            400,
            f"invalid threshold {raw!r} in model {name!r}: router-bert-<t> needs 0 <= t <= 1",
            "invalid_threshold",
            param="model",
        )
    return threshold


def resolve_model(name: str, settings: Settings) -> Resolved:
    if name in AUTO_MODELS:
        return Resolved(routed=True)
    threshold = parse_router_bert(name)
    if threshold is not None:
        return Resolved(routed=True, threshold=threshold)
    if "/" in name:
        target = target_for(settings, name)
        if target is not None:
            return Resolved(routed=False, target=target)
    else:
        matches = [ref for ref in configured_models(settings) if split_ref(ref)[1] == name]
        if len(matches) == 1:
            target = target_for(settings, matches[0])
            if target is not None:
                return Resolved(routed=False, target=target)
    raise model_not_found(name, settings)


def model_not_found(name: str, settings: Settings) -> ApiError:
    available = available_models(settings)
    return ApiError(
        404,
        f"The model {name!r} does not exist. Available models: "
        f"{', '.join(available)}, router-bert-<threshold>, or any <provider>/<model> of the "
        f"configured providers ({', '.join(p.name for p in settings.providers)}).",
        "model_not_found",
        param="model",
        available=available,
    )


def tier_targets(settings: Settings, tier: Tier) -> list[Target]:
    """The tier's chain, then the other tier's when ``cross_tier_fallback`` is on."""
    routing = settings.routing
    first, second = (
        (routing.strong, routing.weak) if tier == "strong" else (routing.weak, routing.strong)
    )
    refs = list(first)
    if routing.cross_tier_fallback:
        refs += [ref for ref in second if ref not in first]
    targets = []
    for ref in refs:
        target = target_for(settings, ref)
        if target is not None:
            targets.append(target)
    return targets


def tier_of(ref: str, settings: Settings) -> Tier | None:
    if ref in settings.routing.strong:
        return "strong"
    if ref in settings.routing.weak:
        return "weak"
    return None


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a list (images ignored)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and part.get("type", "text") in ("text", "input_text")
            ):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


def chat_text(messages: list[Any], classify: str) -> str:
    """The text RouteLLM would see: the last user message, or all user turns joined."""
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not user:
        return ""
    if classify == "all_user":
        return "\n".join(_content_text(m.get("content")) for m in user)
    return _content_text(user[-1].get("content"))


def prompt_text(prompt: Any) -> str:
    """/v1/completions: the prompt string, or several joined; token-id prompts give ""."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    return ""
