"""Cross-validation of a trained router against the random (and BERT) router.

Out-of-fold win rates of every prompt are pooled into one quality curve, so the trained
router, the random router and BERT are scored on the same prompts with the same
metrics (evaluation/metrics.py). k for knn is chosen inside each training fold (an inner
split), so the reported figures are not tuned on the prompts they score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from localrouter.evaluation import metrics
from localrouter.routers.trained.data import TrainingData
from localrouter.routers.trained.methods import K_GRID, LogisticModel, knn_win_rates_for_ks


@dataclass
class RouterScores:
    name: str
    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    curve: metrics.Curve

    def as_dict(self) -> dict[str, Any]:
        return {
            "apgr": self.apgr,
            "cpt50": self.cpt50,
            "cpt80": self.cpt80,
            "curve": {
                "strong_share": [round(float(x), 5) for x in self.curve.strong_share],
                "quality": [round(float(y), 5) for y in self.curve.quality],
            },
        }


def scores_for(name: str, win_rates: np.ndarray, data: TrainingData) -> RouterScores:
    curve = metrics.router_curve(win_rates, data.strong_scores, data.weak_scores)
    weak, strong = float(data.weak_scores.mean()), float(data.strong_scores.mean())
    s = metrics.score(curve, weak, strong, (0.5, 0.8))
    return RouterScores(name, s.apgr, s.cpt[0.5], s.cpt[0.8], _thin(curve))


def _thin(curve: metrics.Curve, points: int = 201) -> metrics.Curve:
    """The curve on a fixed grid of shares (a report, not thousands of points)."""
    grid = np.linspace(0.0, 1.0, points)
    return metrics.Curve(grid, np.interp(grid, curve.strong_share, curve.quality))


def folds(n: int, k: int, groups: Sequence[str] | None = None, seed: int = 0) -> list[np.ndarray]:
    """Test indices of each fold: shuffled, or whole groups kept together."""
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        return [np.sort(part) for part in np.array_split(order, k)]
    names = sorted(set(groups))
    if len(names) < k:
        raise ValueError(f"--group-by gives {len(names)} groups, fewer than --folds {k}")
    shuffled = [names[i] for i in rng.permutation(len(names))]
    fold_of = {name: i % k for i, name in enumerate(shuffled)}
    label = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(label == f) for f in range(k)]


def _apgr(win_rates: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    curve = metrics.router_curve(win_rates, strong, weak)
    value = metrics.apgr(curve, float(weak.mean()), float(strong.mean()))
    return -1.0 if value is None else value


def choose_k(
    x: np.ndarray, data: TrainingData, ks: tuple[int, ...] = K_GRID, inner: int = 3
) -> int:
    """The k of ``ks`` with the best APGR over an inner ``inner``-fold split of ``data``."""
    ks = tuple(k for k in ks if k < len(data) * (inner - 1) / inner) or (1,)
    totals = dict.fromkeys(ks, 0.0)
    for test in folds(len(data), inner, seed=1):
        train = np.setdiff1d(np.arange(len(data)), test)
        rates = knn_win_rates_for_ks(x[train], data.targets[train], x[test], ks)
        for k in ks:
            totals[k] += _apgr(rates[k], data.strong_scores[test], data.weak_scores[test])
    return max(ks, key=lambda k: totals[k])


def out_of_fold(
    x: np.ndarray,
    data: TrainingData,
    method: str,
    n_folds: int,
    k: int | None,
    groups: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Win rates of every prompt from a model that did not see its fold, and the k chosen
    in each fold (knn)."""
    rates = np.empty(len(data))
    chosen: list[int] = []
    for test in folds(len(data), n_folds, groups):
        train = np.setdiff1d(np.arange(len(data)), test)
        sub = data.subset(train)
        if method == "knn":
            kk = k if k is not None else choose_k(x[train], sub)
            chosen.append(kk)
            rates[test] = knn_win_rates_for_ks(x[train], sub.targets, x[test], (kk,))[kk]
        else:
            rates[test] = LogisticModel.fit(x[train], sub.targets).win_rates(x[test])
    return rates, chosen
