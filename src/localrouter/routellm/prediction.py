"""What a router predicts for a text, and RouteLLM's win rate from the model's logits.

win_rate = P(label 0) = 1 - (P(label 1) + P(label 2)), exactly as RouteLLM's
``BERTRouter.calculate_strong_win_rate``; label 0 = strong model wins, 1 = tie, 2 = weak wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Prediction:
    win_rate: float
    tokens: int  # input ids fed to the model, <s> and </s> included
    truncated: bool
    latency_ms: float


def win_rates_from_logits(logits: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis, then RouteLLM's 1 - (P1 + P2), in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return np.asarray(1.0 - (p[..., 1] + p[..., 2]))
