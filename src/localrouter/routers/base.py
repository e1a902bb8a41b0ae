"""The router seam: texts in, predictions (win rates) out.

A router gives each text a win rate in [0, 1], the estimated probability that the strong
model does better than the weak one, so a threshold means the same thing for every router
(``prediction.route``: strong when ``win_rate >= threshold``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from localrouter.routellm.prediction import Prediction

# SPEC "Trained routers": a router's name is letters, digits and `_`.
ROUTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@runtime_checkable
class Router(Protocol):
    """Thread-safe; ``predict`` may block (model load, inference) and is called off the event
    loop. Raises ``RouterUnavailable`` when it cannot predict (model missing, failed)."""

    @property
    def name(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order."""
        ...
