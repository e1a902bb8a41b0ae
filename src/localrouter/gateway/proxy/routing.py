"""Model names and what to classify (README "How a request is routed").

- ``localrouter/auto`` and its alias ``auto``: route with ``routing.router`` and the
  configured threshold.
- ``router-<name>-<t>`` (RouteLLM's naming, e.g. ``router-bert-0.25``): route with router
  ``name`` (letters, digits, ``_``: bert, random or a trained router) and threshold ``t``
  (0 <= t <= 1).
- ``provider/model``: straight to that upstream (the provider must be configured).
- a bare model name that exactly one configured ``provider/model`` ends with: that one.

Routed requests go to a tier's fallback chain; with ``cross_tier_fallback`` the other tier's
chain follows it (:class:`Chain` knows which tier each target belongs to).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from localrouter.gateway.apis.prompt_text import chat_prompt_text
from localrouter.gateway.errors import ApiError
from localrouter.gateway.proxy.providers import Target, split_ref, target_for
from localrouter.routers.base import Tier, other_tier
from localrouter.settings import Settings

AUTO_MODELS = ("localrouter/auto", "auto")
ROUTER_MODELS = "router-<name>-<threshold>"
_ROUTER_MODEL = re.compile(r"^router-([A-Za-z0-9_]+)-(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A requested model name, understood: routed (``target`` None) or direct."""

    routed: bool
    router: str | None = None  # routed: None = the configured routing.router
    threshold: float | None = None  # routed: None = the configured one
    target: Target | None = None


@dataclass(frozen=True, slots=True)
class Chain:
    """The targets a request tries in order: the first ``own`` are of ``tier``, the rest (a
    cross-tier fallback) of the other tier."""

    tier: Tier | Literal["direct"]
    targets: tuple[Target, ...]
    own: int

    def tier_of(self, target: Target) -> Tier | Literal["direct"]:
        """The tier of a target of this chain (the tier that answered)."""
        if self.tier == "direct" or self.targets.index(target) < self.own:
            return self.tier
        return other_tier(self.tier)


def direct_chain(target: Target) -> Chain:
    return Chain("direct", (target,), 1)


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


def parse_router_model(name: str) -> tuple[str, float] | None:
    """``(router, threshold)`` of ``router-<name>-<t>``, None for other names; 400 when
    ``t`` is not a number in [0, 1]."""
    match = _ROUTER_MODEL.match(name)
    if match is None:
        return None
    router, raw = match.groups()
    try:
        threshold = float(raw)
    except ValueError:
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:  # also refuses NaN
        raise ApiError(
            400,
            f"invalid threshold {raw!r} in model {name!r}: {ROUTER_MODELS} needs 0 <= t <= 1",
            "invalid_threshold",
            param="model",
        )
    return router, threshold


def resolve_model(name: str, settings: Settings) -> Resolved:
    if name in AUTO_MODELS:
        return Resolved(routed=True)
    parsed = parse_router_model(name)
    if parsed is not None:
        return Resolved(routed=True, router=parsed[0], threshold=parsed[1])
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


def model_not_found(name: str, settings: Settings, why: str | None = None) -> ApiError:
    available = available_models(settings)
    reason = (
        f"The model {name!r} does not exist ({why})."
        if why
        else f"The model {name!r} does not exist."
    )
    return ApiError(
        404,
        f"{reason} Available models: "
        f"{', '.join(available)}, {ROUTER_MODELS} (e.g. router-bert-0.25; routers: bert, "
        f"random or a trained router's name), or any <provider>/<model> of the configured "
        f"providers ({', '.join(p.name for p in settings.providers)}).",
        "model_not_found",
        param="model",
        available=available,
    )


def tier_chain(settings: Settings, tier: Tier) -> Chain:
    """The tier's chain, then the other tier's when ``cross_tier_fallback`` is on."""
    routing = settings.routing
    first, second = (
        (routing.strong, routing.weak) if tier == "strong" else (routing.weak, routing.strong)
    )
    own = _targets(settings, first)
    rest = (
        _targets(settings, [r for r in second if r not in first])
        if routing.cross_tier_fallback
        else []
    )
    return Chain(tier, (*own, *rest), len(own))


def _targets(settings: Settings, refs: list[str]) -> list[Target]:
    return [t for ref in refs if (t := target_for(settings, ref)) is not None]


def chat_text(messages: list[Any], classify: str) -> str:
    """The text RouteLLM sees for chat ``messages``: the human's latest request (or every
    human turn), as for the other APIs (:mod:`localrouter.gateway.apis.prompt_text`)."""
    return chat_prompt_text(messages, classify)


def prompt_text(prompt: Any) -> str:
    """/v1/completions: the prompt string, or several joined; token-id prompts give ""."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    return ""
