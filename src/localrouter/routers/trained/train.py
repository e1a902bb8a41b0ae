"""``router train``: embed, cross-validate, fit on all data, save (one function per step)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from localrouter.routellm.precision import Precision
from localrouter.routers.random import RandomRouter
from localrouter.routers.trained import store
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
    plot: Callable[[Path], None] | None = None,
) -> Path:
    """Fit on all of ``data`` and write ``HOME/routers/NAME`` atomically."""
    staging = store.new_router_folder(home, options.name)
    try:
        if options.method == "knn":
            np.save(staging / store.EMBEDDINGS, x.astype(np.float16))
            np.save(staging / store.TARGETS, data.targets.astype(np.float32))
        else:
            model = LogisticModel.fit(x, data.targets)
            np.savez(staging / store.LOGISTIC, weights=model.weights, bias=model.bias)
        manifest = {
            "name": options.name,
            "embedder": options.embedder,
            "precision": options.precision,
            "max_tokens": options.max_tokens,
            "method": options.method,
            "k": k,
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
        import shutil

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


def embed_all(
    embedder: Embedder, prompts: Sequence[str], progress: Callable[[int], None] | None = None
) -> np.ndarray:
    return normalize(embedder.embed(prompts, progress))


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
