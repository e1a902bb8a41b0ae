"""``TrainedRouter``: the ``Router`` protocol over a stored router (embedder + learner)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from localrouter.routellm.errors import RouterModelError, RouterUnavailable
from localrouter.routellm.prediction import Prediction
from localrouter.routers.base import Router
from localrouter.routers.trained import store
from localrouter.routers.trained.embedders import DEFAULT_MAX_TOKENS, Embedder, make_embedder
from localrouter.routers.trained.ivf import IvfSearch
from localrouter.routers.trained.methods import KnnModel, LogisticModel, Model, normalize

# A router embeds one short prompt per request: one ONNX Runtime thread is faster than two
# there (int8 MiniLM, 16 tokens: 0.7 vs 0.85 ms) and leaves the other core to the server.
QUERY_THREADS = 1


class TrainedRouter:
    """Thread-safe (the ONNX session and the cache are). Win rates come from the stored
    examples nearest the prompt (knn) or a linear model on its embedding (logistic)."""

    def __init__(
        self, name: str, embedder: Embedder, model: Model, manifest: dict[str, Any]
    ) -> None:
        self._name = name
        self.embedder = embedder
        self.model = model
        self.manifest = manifest

    @property
    def name(self) -> str:
        return self._name

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of prompts, not a single string")
        texts = list(texts)
        if not texts:
            return []
        start = time.perf_counter()
        vectors = normalize(self.embedder.embed(texts))
        rates = np.clip(self.model.win_rates(vectors), 0.0, 1.0)
        ms = (time.perf_counter() - start) * 1000.0 / len(texts)
        return [Prediction(float(r), 0, False, ms) for r in rates]


def load_model(folder: Path, manifest: dict[str, Any]) -> Model:
    method = manifest.get("method")
    if method == "knn":
        # float16 on disk (half the size), float32 in memory: numpy multiplies float16
        # without BLAS, ~8x slower, which a per-prompt search cannot afford.
        embeddings = np.asarray(np.load(folder / store.EMBEDDINGS, mmap_mode="r"), np.float32)
        targets = np.load(folder / store.TARGETS)
        k = int(manifest["k"])
        index = None
        if manifest.get("index") == "ivf":
            with np.load(folder / store.IVF) as z:
                index = IvfSearch(embeddings, z["centroids"], z["offsets"])
        return KnnModel(embeddings, targets, k, index)
    if method == "logistic":
        with np.load(folder / store.LOGISTIC) as z:
            return LogisticModel(z["weights"], float(z["bias"]))
    raise RouterUnavailable(f"trained router in {folder} names unknown method {method!r}")


def load_router(home: Path, name: str) -> Router:
    """The trained router ``name`` from ``HOME/routers/NAME``; RouterUnavailable (one
    sentence) when it is missing or cannot be used."""
    try:
        folder = store.router_dir(home, name)
    except ValueError as exc:
        raise RouterUnavailable(str(exc)) from None
    manifest = store.read_manifest(home, name)
    try:
        model = load_model(folder, manifest)
        embedder = make_embedder(
            str(manifest["embedder"]),
            home,
            manifest.get("query_precision", manifest.get("precision", "fp32")),
            int(manifest.get("max_tokens", DEFAULT_MAX_TOKENS)),
            threads=QUERY_THREADS,
        )
    except RouterUnavailable:
        raise
    except (OSError, ValueError, KeyError, RouterModelError) as exc:
        raise RouterUnavailable(
            f"trained router {name!r} cannot be loaded ({exc}); train it again"
        ) from None
    return TrainedRouter(name, embedder, model, manifest)


def list_routers(home: Path) -> list[dict[str, Any]]:
    """Summary of each stored router for the UI and ``router list``: name, embedder,
    method, examples, created, cross-validated metrics (and an error for a damaged one)."""
    out: list[dict[str, Any]] = []
    for name in store.list_names(home):
        try:
            m = store.read_manifest(home, name)
        except RouterUnavailable as exc:
            out.append({"name": name, "error": str(exc)})
            continue
        out.append(
            {
                "name": name,
                "embedder": m.get("embedder"),
                "method": m.get("method"),
                "k": m.get("k"),
                "examples": m.get("examples"),
                "created": m.get("created"),
                "metrics": m.get("metrics"),
            }
        )
    return out
