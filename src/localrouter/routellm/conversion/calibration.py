"""Per-channel activation ranges of the float encoder, for int8 smoothing.

int8 quantizes each matmul's input with one scale per tensor at run time. A few hidden
channels of a trained encoder carry values 10-100x larger than the rest, so that scale fits
them and rounds every other channel coarsely. The converter therefore divides each input
channel by a factor and multiplies the matching weight row by it (SmoothQuant; exact in real
arithmetic), moving the range into the weights, whose scales are per output column.

The factors need each channel's largest |activation|. This module measures them by running
the float encoder in numpy over a small built-in prompt set (calibration_prompts.json:
chat, code, maths, knowledge questions, many scripts; written for this purpose, not taken
from any evaluation set), one layer at a time as the converter reaches it, so only the
current layer's weights are read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from localrouter.routellm.conversion.checkpoint import Checkpoint
from localrouter.routellm.inference.tokenizer import RouterTokenizer

PROMPTS_FILE = Path(__file__).with_name("calibration_prompts.json")


def calibration_prompts() -> list[str]:
    return list(json.loads(PROMPTS_FILE.read_text(encoding="utf-8")))


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(var + eps) * gamma + beta)


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, scipy is not a
    dependency for one function."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return np.asarray(np.sign(x) * (1.0 - poly * np.exp(-x * x)))


def _gelu(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "gelu":
        return np.asarray(0.5 * x * (1.0 + _erf(x * 0.7071067811865476)))
    return np.asarray(0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x))))


def _abs_max(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.abs(x).max(axis=0))


class ActivationRanges:
    """Walks the encoder layer by layer over the calibration prompts.

    ``layer(i)`` must be called for i = 0, 1, ... in order. Each returns the largest |value|
    per input channel of that layer's four matmuls: ``qkv`` (attention input), ``ao``
    (attention output projection), ``ffn1`` and ``ffn2``. The last layer is measured on the
    first token only, as the graph computes it.
    """

    def __init__(self, ckpt: Checkpoint, token_ids: list[list[int]]) -> None:
        if not token_ids:
            raise ValueError("no calibration prompts")
        self.ckpt = ckpt
        self.cfg = ckpt.config
        self._ids = token_ids
        lengths = [len(ids) for ids in token_ids]
        self._starts = np.cumsum([0, *lengths[:-1]])
        self._lengths = lengths
        self._x = self._embeddings()
        self._next_layer = 0

    @classmethod
    def for_checkpoint(cls, ckpt: Checkpoint, cache_dir: Path | None = None) -> ActivationRanges:
        """Over the built-in prompts, tokenized by the checkpoint's own tokenizer
        (``cache_dir``: where the tokenizer may cache its backend check)."""
        # The engine's own settings, so the cached check is valid for it too.
        tokenizer = RouterTokenizer.load(
            ckpt.model_dir, ckpt.config.max_tokens, ckpt.config.pad_token_id, cache_dir=cache_dir
        )
        return cls(ckpt, [e.ids for e in tokenizer.encode(calibration_prompts())])

    def _t(self, role: str) -> np.ndarray:
        return self.ckpt.tensor(role)

    def _embeddings(self) -> np.ndarray:
        cfg = self.cfg
        ids = np.concatenate([np.asarray(i, dtype=np.int64) for i in self._ids])
        positions = np.concatenate([np.arange(n) for n in self._lengths]) + cfg.position_offset
        word = self.ckpt.tensor("embeddings.word_embeddings.weight", ids)
        pos = self._t("embeddings.position_embeddings.weight")[positions]
        token_type = self._t("embeddings.token_type_embeddings.weight")[0]
        return _layer_norm(
            word + pos + token_type,
            self._t("embeddings.LayerNorm.weight"),
            self._t("embeddings.LayerNorm.bias"),
            cfg.layer_norm_eps,
        )

    def _attention(self, x: np.ndarray, p: str) -> np.ndarray:
        heads = self.cfg.num_heads
        dim = x.shape[1] // heads

        def project(name: str) -> np.ndarray:
            return np.asarray(x @ self._t(f"{p}{name}.weight").T + self._t(f"{p}{name}.bias"))

        q, k, v = project("query"), project("key"), project("value")
        out = np.empty_like(q)
        for start, n in zip(self._starts, self._lengths, strict=True):
            rows = slice(start, start + n)
            qh, kh, vh = (t[rows].reshape(n, heads, dim).transpose(1, 0, 2) for t in (q, k, v))
            scores = qh @ kh.transpose(0, 2, 1) / np.sqrt(dim)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            out[rows] = (scores @ vh).transpose(1, 0, 2).reshape(n, heads * dim)
        return out

    def layer(self, i: int) -> dict[str, np.ndarray]:
        if i != self._next_layer:
            raise RuntimeError(f"ActivationRanges: layer {i} asked before layer {self._next_layer}")
        self._next_layer += 1
        cfg, x = self.cfg, self._x
        p = f"encoder.layer.{i}."
        ranges = {"qkv": _abs_max(x)}
        context = self._attention(x, p + "attention.self.")
        if i == cfg.num_layers - 1:  # the graph keeps only the first token from here on
            context, x = context[self._starts], x[self._starts]
        ranges["ao"] = _abs_max(context)
        o = context @ self._t(f"{p}attention.output.dense.weight").T
        x1 = _layer_norm(
            o + self._t(f"{p}attention.output.dense.bias") + x,
            self._t(f"{p}attention.output.LayerNorm.weight"),
            self._t(f"{p}attention.output.LayerNorm.bias"),
            cfg.layer_norm_eps,
        )
        ranges["ffn1"] = _abs_max(x1)
        h = _gelu(
            x1 @ self._t(f"{p}intermediate.dense.weight").T
            + self._t(f"{p}intermediate.dense.bias"),
            cfg.activation,
        )
        ranges["ffn2"] = _abs_max(h)
        f = h @ self._t(f"{p}output.dense.weight").T + self._t(f"{p}output.dense.bias")
        self._x = _layer_norm(
            f + x1,
            self._t(f"{p}output.LayerNorm.weight"),
            self._t(f"{p}output.LayerNorm.bias"),
            cfg.layer_norm_eps,
        )
        return ranges
