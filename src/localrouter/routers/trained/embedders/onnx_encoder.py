"""Sentence embeddings from a Hugging Face encoder folder, run on our ONNX Runtime graph.

The folder is a BERT / RoBERTa / XLM-R checkpoint (``config.json``, ``model.safetensors``,
a tokenizer). Pooling follows sentence-transformers' ``1_Pooling/config.json`` (mean or
first token) and ``modules.json`` (a Normalize module); a folder without them (the RouteLLM
classifier, embedder ``bert``) pools the first token. The graph is converted once and cached
in ``cache_dir`` under a key of the weights' identity, so a changed model converts again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from localrouter.routellm.conversion.checkpoint import (
    WEIGHTS_FILE,
    Checkpoint,
    ModelConfig,
    read_config,
)
from localrouter.routellm.conversion.convert import write_encoder_onnx
from localrouter.routellm.errors import CheckpointError, ConversionError
from localrouter.routellm.inference.feeds import encoder_feeds
from localrouter.routellm.inference.tokenizer import RouterTokenizer
from localrouter.routellm.precision import CONVERTER_VERSION, Precision

if TYPE_CHECKING:
    import onnxruntime

Pooling = Literal["mean", "cls"]
# Prompts are cut to this many tokens unless the model says less: the head of a prompt
# carries its topic, and the cost grows with length.
DEFAULT_MAX_TOKENS = 128
_BATCH = 32


@dataclass(frozen=True)
class PoolingSpec:
    mode: Pooling
    normalize: bool


def read_pooling(model_dir: Path) -> PoolingSpec:
    """The pooling a sentence-transformers folder declares; first token for a bare model."""
    pooling_file = model_dir / "1_Pooling" / "config.json"
    modules_file = model_dir / "modules.json"
    mode: Pooling = "cls"
    normalize = False
    if pooling_file.is_file():
        raw = json.loads(pooling_file.read_text(encoding="utf-8"))
        if raw.get("pooling_mode_mean_tokens"):
            mode = "mean"
        elif raw.get("pooling_mode_cls_token"):
            mode = "cls"
        else:
            raise CheckpointError(
                f"{pooling_file} asks for a pooling other than mean or cls, which is not supported"
            )
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    return PoolingSpec(mode, normalize)


def _max_tokens(model_dir: Path, config: ModelConfig, limit: int) -> int:
    st = model_dir / "sentence_bert_config.json"
    declared = config.max_tokens
    if st.is_file():
        value = json.loads(st.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            declared = min(declared, value)
    return min(declared, limit)


def _cache_key(model_dir: Path) -> str:
    weights = model_dir / WEIGHTS_FILE
    stat = weights.stat()
    ident = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CONVERTER_VERSION}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def ensure_encoder_file(model_dir: Path, precision: Precision, cache_dir: Path) -> Path:
    """The encoder graph for ``model_dir``, converting it into ``cache_dir`` once (written
    to a temporary folder and renamed into place, so a crash leaves nothing half-made)."""
    folder = cache_dir / _cache_key(model_dir)
    graph = folder / f"encoder-{precision}.onnx"
    if graph.is_file():
        return graph
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=folder))
    try:
        data_name = f"encoder-{precision}.onnx.data"
        with Checkpoint(model_dir, encoder_only=True) as ckpt:
            write_encoder_onnx(ckpt, precision, tmp / graph.name, tmp / data_name, data_name)
        os.replace(tmp / data_name, folder / data_name)
        os.replace(tmp / graph.name, graph)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return graph


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(0, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ConversionError(
            f"ONNX Runtime cannot load {path} ({str(exc).splitlines()[0][:200]}); "
            f"delete {path.parent} to convert again"
        ) from None


class OnnxEncoderEmbedder:
    """Thread-safe sentence embedder; ``embed`` returns float32 [n, dim]."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        cache_dir: Path,
        precision: Precision = "fp32",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        pooling: PoolingSpec | None = None,
        threads: int = 0,
    ) -> None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise CheckpointError(f"embedding model folder {model_dir} does not exist")
        self.name = name
        self.model_dir = model_dir
        self.precision = precision
        self.config = read_config(model_dir, encoder_only=True)
        self.pooling = pooling or read_pooling(model_dir)
        self.dim = self.config.hidden_size
        self.max_tokens = _max_tokens(model_dir, self.config, max_tokens)
        path = ensure_encoder_file(model_dir, precision, cache_dir)
        self.tokenizer = RouterTokenizer.load(
            model_dir, self.max_tokens, self.config.pad_token_id, cache_dir=path.parent
        )
        self._session = _session(path, threads)
        # What the vectors depend on: weights, converter, precision, pooling, length.
        self.identity = (
            f"onnx:{_cache_key(model_dir)}:{precision}:{self.pooling.mode}:"
            f"{int(self.pooling.normalize)}:{self.max_tokens}"
        )
        self._lock = threading.Lock()

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        encoded = self.tokenizer.encode(list(texts))
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        # int8 quantizes activations per run: one text per run keeps a text's vector
        # independent of its batch neighbours.
        step = 1 if self.precision == "int8" else _BATCH
        for start in range(0, len(order), step):
            batch = order[start : start + step]
            out[batch] = self._pooled([encoded[i].ids for i in batch])
            if progress is not None:
                progress(len(batch))
        return out

    def _pooled(self, rows: list[list[int]]) -> np.ndarray:
        feeds = encoder_feeds(rows, self.tokenizer.pad_id, self.config)
        mask = feeds["attention_mask"]
        hidden = np.asarray(self._session.run(["last_hidden_state"], feeds)[0], dtype=np.float32)
        if self.pooling.mode == "mean":
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        else:
            pooled = hidden[:, 0, :]
        if self.pooling.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: np.ndarray = pooled
        return result
