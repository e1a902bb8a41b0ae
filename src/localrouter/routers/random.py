"""The random router: RouteLLM's baseline, a win rate uniform in [0, 1) per prompt.

Deterministic per text (a hash, not a generator), so the same prompt always takes the same
tier and evaluations are repeatable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from localrouter.routellm.prediction import Prediction


class RandomRouter:
    name = "random"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [Prediction(_uniform(text), 0, False, 0.0) for text in texts]


def _uniform(text: str) -> float:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
