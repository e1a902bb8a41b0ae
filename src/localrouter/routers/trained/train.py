"""``router train``: embed, cross-validate, fit on all data, save (one function per step)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from localrouter.routellm.precision import Precision
from localrouter.routers.random import RandomRouter
from localrouter.routers.trained import ivf, store
from localrouter.routers.trained.crossval import RouterScores, out_of_fold, scores_for
from localrouter.routers.trained.data import TrainingData
from localrouter.routers.trained.embedders import Embedder
from localrouter.routers.trained.methods import LogisticModel, normalize


@dataclass
class TrainOptions:
    name: str
    embedder: str
    method: str = "knn"
    folds: int = 5
    k: int | None = None
    group_by: str | None = None
    precision: Precision = "fp32"
    max_tokens: int = 128


def cross_validate(
    x: np.ndarray,
    data: TrainingData,
    options: TrainOptions,
    bert_win_rates: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> tuple[dict[str, RouterScores], int | None]:
    """Scores of the trained router (out of fold), random and BERT on the same prompts,
    and the k to fit with (the most chosen across folds)."""
    groups = data.groups(options.group_by) if options.group_by else None
    rates, chosen = out_of_fold(x, data, options.method, options.folds, options.k, groups)
    result = {"trained": scores_for(options.name, rates, data)}
    random_rates = np.array([p.win_rate for p in RandomRouter().predict(data.prompts)])
    result["random"] = scores_for("random", random_rates, data)
    if bert_win_rates is not None:
        result["bert"] = scores_for("bert", bert_win_rates(data.prompts), data)
    k = options.k
    if options.method == "knn" and k is None:
        values, counts = np.unique(np.array(chosen), return_counts=True)
        k = int(values[np.argmax(counts)])
    return result, k


def save_router(
    home: Path,
    options: TrainOptions,
    x: np.ndarray,
    data: TrainingData,
    k: int | None,
    report: dict[str, Any],
    plot: Callable[[Path], object] | None = None,
) -> Path:
    """Fit on all of ``data`` and write ``HOME/routers/NAME`` atomically."""
    staging = store.new_router_folder(home, options.name)
    try:
        index = "exact"
        if options.method == "knn":
            order = np.arange(len(data))
            if len(data) >= ivf.EXACT_BELOW:
                layout = ivf.build(x)
                order = layout.order
                np.savez(staging / store.IVF, centroids=layout.centroids, offsets=layout.offsets)
                index = "ivf"
            np.save(staging / store.EMBEDDINGS, x[order].astype(np.float16))
            np.save(staging / store.TARGETS, data.targets[order].astype(np.float32))
        else:
            model = LogisticModel.fit(x, data.targets)
            np.savez(staging / store.LOGISTIC, weights=model.weights, bias=model.bias)
        manifest = {
            "name": options.name,
            "embedder": options.embedder,
            "precision": options.precision,
            "query_precision": report.get("query_precision", options.precision),
            "max_tokens": options.max_tokens,
            "method": options.method,
            "k": k,
            "index": index,
            "examples": len(data),
            "dim": int(x.shape[1]),
            "data": data.file_hashes,
            "metrics": report["metrics"],
            "folds": options.folds,
            "group_by": options.group_by,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        store.write_json(staging / store.MANIFEST, manifest)
        store.write_json(staging / store.REPORT, report)
        if plot is not None:
            plot(staging / store.PLOT)
        return store.commit(home, options.name, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_report(
    options: TrainOptions,
    data: TrainingData,
    scores: dict[str, RouterScores],
    k: int | None,
    seconds: dict[str, float],
) -> dict[str, Any]:
    return {
        "name": options.name,
        "embedder": options.embedder,
        "method": options.method,
        "k": k,
        "folds": options.folds,
        "group_by": options.group_by,
        "examples": len(data),
        "duplicates_dropped": data.duplicates_dropped,
        "empty_dropped": data.empty_dropped,
        "strong_quality": float(data.strong_scores.mean()),
        "weak_quality": float(data.weak_scores.mean()),
        "metrics": {
            key: {"apgr": s.apgr, "cpt50": s.cpt50, "cpt80": s.cpt80} for key, s in scores.items()
        },
        "curves": {key: s.as_dict()["curve"] for key, s in scores.items()},
        "seconds": {key: round(v, 2) for key, v in seconds.items()},
    }


AGREEMENT_SAMPLE = 200
# int8 queries are used when their neighbours agree this well with fp32 queries' (mean
# share of the k nearest stored examples both find).
INT8_MIN_AGREEMENT = 0.9


def int8_agreement(
    int8_embedder: Embedder, x: np.ndarray, prompts: Sequence[str], k: int, seed: int = 0
) -> float:
    """Mean overlap of the k nearest stored examples found with an int8 query vector and
    with the stored fp32 vector of the same prompt, over a sample of prompts."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(prompts), min(AGREEMENT_SAMPLE, len(prompts)), replace=False)
    q8 = normalize(int8_embedder.embed([prompts[i] for i in sample]))
    k = min(k, len(prompts))
    overlaps = []
    for row, i in zip(q8, sample, strict=True):
        ref = set(np.argpartition(-(x @ x[i]), k - 1)[:k].tolist())
        got = set(np.argpartition(-(x @ row), k - 1)[:k].tolist())
        overlaps.append(len(ref & got) / k)
    return float(np.mean(overlaps))


def embed_all(
    embedder: Embedder, prompts: Sequence[str], progress: Callable[[int], None] | None = None
) -> np.ndarray:
    return normalize(embedder.embed(prompts, progress))


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
