"""The router seam: texts in, predictions (win rates) out, and the one decision rule.

A router gives each text a win rate in [0, 1], the estimated probability that the strong
model does better than the weak one, so a threshold means the same thing for every router:
:func:`route` sends a text to the strong tier when ``win_rate >= threshold`` (RouteLLM's
rule). The gateway, the admin API and the CLI all decide through :func:`route`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction

# A router's name is letters, digits and `_` (README "Trained routers").
ROUTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")

Tier = Literal["strong", "weak"]
TIERS: tuple[Tier, Tier] = ("strong", "weak")


def route(win_rate: float, threshold: float) -> Tier:
    """Strong tier when ``win_rate >= threshold`` (RouteLLM's rule), else weak."""
    return "strong" if win_rate >= threshold else "weak"


def other_tier(tier: Tier) -> Tier:
    return "weak" if tier == "strong" else "strong"


class UnknownRouter(RouterUnavailable):
    """No router of that name exists (a typo, or a trained router that was deleted)."""


@runtime_checkable
class Router(Protocol):
    """Thread-safe; ``predict`` may block (model load, inference) and is called off the event
    loop. Raises ``RouterUnavailable`` when it cannot predict (model missing, failed)."""

    @property
    def name(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order."""
        ...
