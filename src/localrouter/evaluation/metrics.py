"""Quality against strong-call share: curves, AUC, APGR and CPT.

Definitions follow RouteLLM's ``routellm/evals`` (benchmarks.py, evaluate.py) except where the
issue asks for more:

- A router sends a prompt to the strong model when ``win_rate >= threshold``. RouteLLM puts
  thresholds at 10 quantile cut points; we use *every* distinct win rate, plus one threshold
  just above the largest (RouteLLM's ``>`` at the last cut point), so the curve runs from 0%
  to 100% strong calls and tied win rates always move together.
- Quality at a point is the mean per-prompt score of the model each prompt was routed to
  (accuracy in percent for MMLU/GSM8K, the judge's 1-10 score for MT-Bench).
- AUC is the trapezoidal area under quality against strong share in [0, 1]
  (``np.trapz(accuracy, strong_percentage / 100)``).
- APGR = (AUC_router - AUC_weak) / (AUC_strong - AUC_weak), the flat lines integrated over
  the same share range.
- CPT(p) is the smallest strong share at which the (linearly interpolated) curve reaches
  weak + p * (strong - weak). RouteLLM calls ``np.interp`` with the quality as the x axis,
  which is only right for an increasing curve; scanning for the first crossing is right for
  any curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CPT_FRACTIONS: tuple[float, ...] = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Curve:
    """Points in increasing strong share. ``thresholds`` is None for curves that are not made
    by one threshold rule (the seed-averaged random router, the oracle)."""

    strong_share: np.ndarray  # fractions in [0, 1], non-decreasing
    quality: np.ndarray
    thresholds: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.strong_share)


@dataclass(frozen=True)
class Scores:
    auc: float
    apgr: float | None  # None when the strong model is not better than the weak one
    cpt: dict[float, float | None]  # fraction of the gap -> strong share (None: never reached)


def _as_array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains a value that is not a finite number")
    return array


def router_curve(
    win_rates: Sequence[float] | np.ndarray,
    strong_scores: Sequence[float] | np.ndarray,
    weak_scores: Sequence[float] | np.ndarray,
) -> Curve:
    """The curve over all distinct thresholds for the rule ``win_rate >= threshold``."""
    w = _as_array(win_rates, "win rates")
    strong = _as_array(strong_scores, "strong scores")
    weak = _as_array(weak_scores, "weak scores")
    n = len(w)
    if n == 0 or len(strong) != n or len(weak) != n:
        raise ValueError("win rates and scores must be non-empty and of the same length")
    order = np.argsort(-w, kind="stable")
    sorted_w = w[order]
    gained = np.cumsum((strong - weak)[order])
    # The last index of each run of equal win rates: a threshold there takes the whole run.
    ends = np.flatnonzero(np.r_[sorted_w[1:] != sorted_w[:-1], True])
    weak_sum = float(weak.sum())
    share = np.r_[0.0, (ends + 1) / n]
    quality = np.r_[weak_sum, weak_sum + gained[ends]] / n
    above_all = math.nextafter(float(sorted_w[0]), math.inf)
    thresholds = np.r_[above_all, sorted_w[ends]]
    return Curve(strong_share=share, quality=quality, thresholds=thresholds)


def random_router_curve(
    strong_scores: Sequence[float] | np.ndarray,
    weak_scores: Sequence[float] | np.ndarray,
    seeds: Sequence[int] = tuple(range(10)),
) -> Curve:
    """RouteLLM's random router (uniform win rates), averaged over ``seeds`` on the grid of
    shares k/n so that every seed contributes at every point."""
    strong = _as_array(strong_scores, "strong scores")
    weak = _as_array(weak_scores, "weak scores")
    n = len(strong)
    if not seeds:
        raise ValueError("the random router needs at least one seed")
    grid = np.arange(n + 1) / n
    total = np.zeros(n + 1)
    for seed in seeds:
        win_rates = np.random.default_rng(seed).random(n)
        curve = router_curve(win_rates, strong, weak)
        total += np.interp(grid, curve.strong_share, curve.quality)
    return Curve(strong_share=grid, quality=total / len(seeds))


def oracle_curve(
    strong_scores: Sequence[float] | np.ndarray, weak_scores: Sequence[float] | np.ndarray
) -> Curve:
    """A router that knows the outcome: its win rate is the strong model's score minus the
    weak one's, so the prompts the strong model helps most go first and those where it
    does worse go last (the curve ends at the strong model's quality, like every router's)."""
    strong = _as_array(strong_scores, "strong scores")
    weak = _as_array(weak_scores, "weak scores")
    curve = router_curve(strong - weak, strong, weak)
    return Curve(strong_share=curve.strong_share, quality=curve.quality)


def auc(curve: Curve) -> float:
    x, y = curve.strong_share, curve.quality
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def apgr(curve: Curve, weak_quality: float, strong_quality: float) -> float | None:
    span = float(curve.strong_share[-1] - curve.strong_share[0])
    weak_auc, strong_auc = weak_quality * span, strong_quality * span
    if strong_auc - weak_auc <= 0:
        return None
    return (auc(curve) - weak_auc) / (strong_auc - weak_auc)


def cpt(curve: Curve, weak_quality: float, strong_quality: float, fraction: float) -> float | None:
    """The smallest strong share whose quality recovers ``fraction`` of the weak->strong gap,
    interpolating linearly inside the first segment that crosses the target."""
    gap = strong_quality - weak_quality
    if gap <= 0:
        return None
    target = weak_quality + fraction * gap
    # Quality is a mean of floats: forgive rounding noise so 100% of the gap is reachable.
    tolerance = 1e-9 * max(1.0, abs(target))
    x, y = curve.strong_share, curve.quality
    reached = np.flatnonzero(y >= target - tolerance)
    if len(reached) == 0:
        return None
    i = int(reached[0])
    if i == 0 or y[i] - y[i - 1] <= 0:
        return float(x[i])
    step = (target - y[i - 1]) / (y[i] - y[i - 1])
    return float(x[i - 1] + min(max(step, 0.0), 1.0) * (x[i] - x[i - 1]))


def score(
    curve: Curve,
    weak_quality: float,
    strong_quality: float,
    fractions: Sequence[float] = CPT_FRACTIONS,
) -> Scores:
    return Scores(
        auc=auc(curve),
        apgr=apgr(curve, weak_quality, strong_quality),
        cpt={f: cpt(curve, weak_quality, strong_quality, f) for f in fractions},
    )
