"""Win rates for a benchmark's prompts (batched, cached) and the evaluation built on them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from localrouter.evaluation import metrics
from localrouter.evaluation.cache import WinRateCache, model_fingerprint, win_rate_key
from localrouter.evaluation.data import BenchmarkData
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.base import Router

RouterName = str  # bert, random (RouteLLM's seeded baseline) or a trained router's name
Progress = Callable[[int, int], None]  # (prompts done, prompts in all)

DEFAULT_BATCH_SIZE = 32
DEFAULT_RANDOM_SEEDS = 10


@dataclass(frozen=True)
class WinRates:
    values: np.ndarray
    router: RouterName
    cached: bool = False
    seconds: float = 0.0
    model_dir: Path | None = None
    model_fingerprint: str | None = None
    precision: str | None = None
    cache_file: Path | None = None


def resolve_model_dir(
    explicit: Path | None, configured: Path | None, installed: Path | None
) -> Path:
    """``--model-dir``, else settings' ``routellm.model_dir``, else the installed model."""
    model_dir = explicit or configured or installed
    if model_dir is None:
        raise RouterUnavailable(
            "no router model is installed; run `localrouter routellm download` "
            "or pass --model-dir DIR"
        )
    model_dir = model_dir.expanduser()
    if not (model_dir / "config.json").is_file():
        raise RouterUnavailable(f"{model_dir} is not a checkpoint folder (no config.json)")
    return model_dir


def random_win_rates(count: int, seed: int = 0) -> WinRates:
    """RouteLLM's random router: a uniform win rate per prompt."""
    return WinRates(np.random.default_rng(seed).random(count), router="random")


def router_win_rates(
    router: Router, prompts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
) -> WinRates:
    """Win rates of any router of the registry (a trained one), computed now (no cache)."""
    started = time.perf_counter()
    values = predict_batched(router.predict, prompts, batch_size)
    return WinRates(values, router=router.name, seconds=time.perf_counter() - started)


def predict_batched(
    predict: Callable[[Sequence[str]], Sequence[object]],
    prompts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> np.ndarray:
    """Win rates in input order; prompts of similar length share a batch so padding is small."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    values = np.empty(len(prompts), dtype=np.float64)
    done = 0
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        predictions = predict([prompts[i] for i in chunk])
        if len(predictions) != len(chunk):
            raise RuntimeError("the router returned a different number of predictions")
        for i, prediction in zip(chunk, predictions, strict=True):
            values[i] = float(prediction.win_rate)  # type: ignore[attr-defined]
        done += len(chunk)
        if progress is not None:
            progress(done, len(prompts))
    return values


def bert_win_rates(
    prompts: Sequence[str],
    model_dir: Path,
    precision: str,
    cache_root: Path,
    *,
    threads: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refresh: bool = False,
    progress: Progress | None = None,
    on_load: Callable[[], None] | None = None,
    convert_progress: Progress | None = None,
) -> WinRates:
    """The BERT router's win rates, from the cache when this model, precision, converter
    and prompt list were run before. ``convert_progress(bytes done, total)`` reports a
    first-load conversion of the checkpoint, if one runs."""
    from localrouter.routellm.precision import CONVERTER_VERSION

    fingerprint = model_fingerprint(model_dir, cache_root)
    key = win_rate_key(fingerprint, precision, prompts, f"converter-{CONVERTER_VERSION}")
    cache = WinRateCache(cache_root)
    started = time.perf_counter()

    def done(values: np.ndarray, cached: bool) -> WinRates:
        return WinRates(
            values,
            router="bert",
            cached=cached,
            seconds=time.perf_counter() - started,
            model_dir=model_dir,
            model_fingerprint=fingerprint,
            precision=precision,
            cache_file=cache.path(key),
        )

    if not refresh:
        cached = cache.load(key, len(prompts))
        if cached is not None:
            return done(cached, cached=True)

    from localrouter.routellm.inference.engine import RouterEngine  # onnxruntime only when needed

    if on_load is not None:
        on_load()
    engine = RouterEngine.load(
        model_dir,
        precision,  # type: ignore[arg-type]
        threads,
        progress=convert_progress,
    )
    try:
        values = predict_batched(engine.predict, prompts, batch_size, progress)
    finally:
        engine.close()
    cache.save(key, values)
    return done(values, cached=False)


@dataclass(frozen=True)
class RouterResult:
    name: str  # "bert", "random", "oracle"
    label: str
    curve: metrics.Curve
    scores: metrics.Scores


@dataclass(frozen=True)
class EvalResult:
    data: BenchmarkData
    win_rates: WinRates
    router: RouterResult
    baselines: list[RouterResult] = field(default_factory=list)
    random_seeds: int = DEFAULT_RANDOM_SEEDS

    @property
    def all_routers(self) -> list[RouterResult]:
        return [self.router, *self.baselines]


def evaluate(
    data: BenchmarkData, win_rates: WinRates, random_seeds: int = DEFAULT_RANDOM_SEEDS
) -> EvalResult:
    if len(win_rates.values) != len(data):
        raise ValueError("one win rate per benchmark prompt is needed")
    weak, strong = data.weak_quality, data.strong_quality

    def result(name: str, label: str, curve: metrics.Curve) -> RouterResult:
        return RouterResult(name, label, curve, metrics.score(curve, weak, strong))

    name, main_label = {
        "bert": ("bert", "BERT router"),
        "random": ("random_seed0", "random router (seed 0)"),
    }.get(win_rates.router, (win_rates.router, f"router {win_rates.router}"))
    main = result(
        name,
        main_label,
        metrics.router_curve(win_rates.values, data.strong_scores, data.weak_scores),
    )
    seeds = tuple(range(random_seeds))
    baselines = [
        result(
            "random",
            f"random router (mean of {random_seeds} seeds)",
            metrics.random_router_curve(data.strong_scores, data.weak_scores, seeds),
        ),
        result("oracle", "oracle", metrics.oracle_curve(data.strong_scores, data.weak_scores)),
    ]
    return EvalResult(data, win_rates, main, baselines, random_seeds)
