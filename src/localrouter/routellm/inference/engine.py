"""ONNX Runtime inference for the router.

Contract used by the rest of the product:

    engine = RouterEngine.load(model_dir, precision="int8", threads=0)
    engine.predict(["prompt", ...]) -> list[Prediction]   # thread-safe, input order
    engine.close()

Loading converts the checkpoint on first use (see runtime_files.py) and is otherwise cheap:
config.json, the tokenizer and one ONNX Runtime session whose weights are memory-mapped.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from localrouter.routellm.conversion.checkpoint import ModelConfig, read_config
from localrouter.routellm.conversion.runtime_files import ensure_runtime_file
from localrouter.routellm.errors import CheckpointError, ConversionError, RouterUnavailable
from localrouter.routellm.inference.feeds import encoder_feeds
from localrouter.routellm.inference.tokenizer import Encoded, RouterTokenizer
from localrouter.routellm.precision import Precision, ProgressCallback
from localrouter.routellm.prediction import Prediction, win_rates_from_logits

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["Precision", "RouterEngine"]

# fp32 batches: at most this many sequences and this many (padded) tokens per run.
_MAX_BATCH = 32
_MAX_BATCH_TOKENS = 8192
# A run over more (padded) tokens than this gives its activation memory back when it
# ends; smaller runs leave their few MB in ONNX Runtime's arena for the next one.
_SHRINK_ABOVE_TOKENS = 64


def _session(path: Path, threads: int, spin: bool) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(0, int(threads))  # 0: ONNX Runtime's default (cores)
    opts.inter_op_num_threads = 1
    if not spin:
        # Pool threads spin only while a run is active and stop the moment it returns: in a
        # server, threads spinning between predictions would take CPU from the event loop,
        # and never spinning costs ~40% more time per short prompt (6.5 vs 4.5 ms, 16 tokens).
        opts.add_session_config_entry("session.force_spinning_stop", "1")
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The graph is already built from fused kernels; the basic level still folds constants.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    # The arena (on by default) reuses activation buffers across runs: without it every run
    # allocates and frees them, ~0.25 ms of a 6.5 ms short prompt. It would keep a long
    # prompt's peak buffers for the process lifetime, so long runs shrink it (_run).
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ConversionError(
            f"ONNX Runtime cannot load {path} ({str(exc).splitlines()[0][:200]}); "
            f"delete {path.parent} to convert again"
        ) from None


@functools.cache
def _shrink_options() -> onnxruntime.RunOptions:
    """Run options that give the arena's unused memory back once the run is over."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


class RouterEngine:
    """A loaded router: tokenizer + ONNX Runtime session. Thread-safe."""

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        tokenizer: RouterTokenizer,
        config: ModelConfig,
        precision: Precision,
        model_path: Path,
    ) -> None:
        self._session: onnxruntime.InferenceSession | None = session
        self.tokenizer = tokenizer
        self.config = config
        self.precision = precision
        self.model_path = model_path
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path,
        precision: Precision = "int8",
        threads: int = 0,
        progress: ProgressCallback | None = None,
        *,
        spin: bool = True,
    ) -> RouterEngine:
        """Load (converting first if needed) the checkpoint folder ``model_dir``.
        ``progress(done, total)`` reports a conversion, if one runs; ``spin=False`` lets idle
        ONNX Runtime threads sleep (for processes that do other work, like the gateway)."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise CheckpointError(f"checkpoint folder {model_dir} does not exist")
        if precision not in ("int8", "fp32"):
            raise ConversionError(f"unknown precision {precision!r}; use int8 or fp32")
        config = read_config(model_dir)
        path = ensure_runtime_file(model_dir, precision, progress)
        tokenizer = RouterTokenizer.load(
            model_dir, config.max_tokens, config.pad_token_id, cache_dir=path.parent
        )
        return cls(_session(path, threads, spin), tokenizer, config, precision, path)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Win rates for ``texts`` in input order."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of prompts, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"prompt {i} is {type(text).__name__}, not a string")
        session = self._session
        if session is None:
            raise RouterUnavailable("the router engine is closed")
        if not texts:
            return []
        results: list[Prediction | None] = [None] * len(texts)
        start = time.perf_counter()
        encoded = self.tokenizer.encode(texts)
        per_text_tokenize = (time.perf_counter() - start) / len(texts)
        for batch in self._batches(encoded):
            t0 = time.perf_counter()
            logits = self._run(session, [encoded[i].ids for i in batch])
            rates = win_rates_from_logits(logits)
            ms = (time.perf_counter() - t0 + per_text_tokenize * len(batch)) * 1000.0
            for row, i in enumerate(batch):
                results[i] = Prediction(
                    win_rate=float(rates[row]),
                    tokens=len(encoded[i].ids),
                    truncated=encoded[i].truncated,
                    latency_ms=ms,
                )
        return [r for r in results if r is not None]

    def _batches(self, encoded: list[Encoded]) -> list[list[int]]:
        """Indices grouped into runs, sorted by length so padding stays small.

        int8 runs one prompt at a time: the activations are quantized per tensor at run
        time, so a padded neighbour would shift a prompt's scale and its win rate."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        if self.precision == "int8":
            return [[i] for i in order]
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = len(encoded[i].ids)  # sorted: the newest is the longest
            if current and (
                len(current) >= _MAX_BATCH or width * (len(current) + 1) > _MAX_BATCH_TOKENS
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _run(self, session: onnxruntime.InferenceSession, rows: list[list[int]]) -> np.ndarray:
        feeds = encoder_feeds(rows, self.tokenizer.pad_id, self.config)
        options = _shrink_options() if feeds["input_ids"].size > _SHRINK_ABOVE_TOKENS else None
        return np.asarray(session.run(["logits"], feeds, options)[0])

    def close(self) -> None:
        with self._lock:
            self._session = None

    def __enter__(self) -> RouterEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
