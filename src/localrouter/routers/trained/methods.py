"""The two learners: cosine k-nearest neighbours and logistic regression (numpy only).

Both take L2-normalised embeddings and targets in {0, 0.5, 1} (0.5 = tie, counted half)
and give win rates in [0, 1]: the estimated probability that the strong model does better.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from localrouter.routers.trained.ivf import IvfSearch

K_GRID: tuple[int, ...] = (10, 20, 50, 100, 200)
_QUERY_BLOCK = 1024  # rows of queries per matrix product: bounds the similarity block


class Model(Protocol):
    def win_rates(self, queries: np.ndarray) -> np.ndarray: ...


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


class KnnModel:
    """The mean target of the k most cosine-similar stored examples: exact, or through an
    inverted-file index (ivf.py) for many examples."""

    def __init__(
        self, embeddings: np.ndarray, targets: np.ndarray, k: int, index: IvfSearch | None = None
    ) -> None:
        self.embeddings = embeddings  # normalised, float32
        self.targets = np.asarray(targets, dtype=np.float32)
        self.k = max(1, min(int(k), len(self.targets)))
        self.index = index

    def neighbours(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` nearest stored examples per query (unordered)."""
        out = np.empty((len(queries), k), dtype=np.int64)
        q = np.asarray(queries, dtype=np.float32)
        for start in range(0, len(q), _QUERY_BLOCK):
            sims = q[start : start + _QUERY_BLOCK] @ self.embeddings.T.astype(
                np.float32, copy=False
            )
            if k >= sims.shape[1]:
                out[start : start + len(sims)] = np.arange(sims.shape[1])
            else:
                out[start : start + len(sims)] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        return out

    def win_rates(self, queries: np.ndarray) -> np.ndarray:
        if self.index is not None:
            q = np.asarray(queries, dtype=np.float32)
            found = [self.targets[self.index.neighbours(row, self.k)].mean() for row in q]
            return np.asarray(found, dtype=np.float64)
        idx = self.neighbours(queries, self.k)
        rates: np.ndarray = self.targets[idx].mean(axis=1).astype(np.float64)
        return rates


def knn_win_rates_for_ks(
    train: np.ndarray, targets: np.ndarray, queries: np.ndarray, ks: tuple[int, ...]
) -> dict[int, np.ndarray]:
    """Win rates for every k at once (one similarity pass, neighbours sorted once)."""
    kmax = min(max(ks), len(targets))
    q = np.asarray(queries, dtype=np.float32)
    t = np.asarray(targets, dtype=np.float64)
    result = {k: np.empty(len(q)) for k in ks}
    for start in range(0, len(q), _QUERY_BLOCK):
        sims = q[start : start + _QUERY_BLOCK] @ np.asarray(train, dtype=np.float32).T
        part = (
            np.argpartition(-sims, kmax - 1, axis=1)[:, :kmax]
            if kmax < sims.shape[1]
            else (np.tile(np.arange(sims.shape[1]), (len(sims), 1)))
        )
        order = np.take_along_axis(sims, part, axis=1).argsort(axis=1)[:, ::-1]
        ranked = np.take_along_axis(part, order, axis=1)
        cum = np.cumsum(t[ranked], axis=1)
        for k in ks:
            kk = min(k, kmax)
            result[k][start : start + len(sims)] = cum[:, kk - 1] / kk
    return result


class LogisticModel:
    """P(strong better) = sigmoid(w . x + b), fitted by gradient descent on the weighted
    cross-entropy with soft targets (a tie is 0.5), classes balanced, L2-regularised."""

    def __init__(self, weights: np.ndarray, bias: float) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)

    @classmethod
    def fit(
        cls, x: np.ndarray, targets: np.ndarray, l2: float = 1e-3, steps: int = 500
    ) -> LogisticModel:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(targets, dtype=np.float64)
        positive = float(y.mean())
        # Balanced class weights: each class carries half the total weight.
        pw = 0.5 / max(positive, 1e-6)
        nw = 0.5 / max(1.0 - positive, 1e-6)
        sample_w = y * pw + (1.0 - y) * nw
        sample_w /= sample_w.sum()
        w = np.zeros(x.shape[1])
        b = 0.0
        # Full-batch gradient descent with a fixed step of 4: the loss is convex, the inputs
        # are unit vectors and the weights sum to 1, so its curvature is at most 1/4 and a
        # step of 1/(1/4) is safe; a few hundred steps converge.
        step = 4.0
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            g = sample_w * (p - y)
            w -= step * (x.T @ g + l2 * w)
            b -= step * float(g.sum())
        return cls(w, b)

    def win_rates(self, queries: np.ndarray) -> np.ndarray:
        z = np.asarray(queries, dtype=np.float64) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))
