"""Symmetric int8 weight quantization for the router graph.

Weights are quantized once at conversion, straight from the safetensors (no fp32 ONNX
round trip, so no second copy of 1.1 GB in memory). Activations are quantized at run time
by ONNX Runtime (DynamicQuantizeMatMul / DynamicQuantizeLinear, uint8 x int8, the fast
VNNI path), after SmoothQuant smoothing (``smoothing_factors``; ranges from calibration.py).
Scales are per output column for matmuls and per row for the word embedding table, which
keeps rare tokens' small rows precise.
"""

from __future__ import annotations

import numpy as np

QMAX = 127.0


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and one float32 scale per row (``w[r] ~= q[r] * scale[r]``)."""
    w = np.asarray(w, dtype=np.float32)
    scale = np.abs(w).max(axis=1) / QMAX
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.rint(w / scale[:, None])
    np.clip(q, -QMAX, QMAX, out=q)
    return q.astype(np.int8), scale


def quantize_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 matrix ``[K, N]`` with one scale per column N (per output feature)."""
    q, scale = quantize_rows(np.asarray(w, dtype=np.float32).T)
    return np.ascontiguousarray(q.T), scale


# How much of an input channel's range moves into the weights (SmoothQuant's alpha).
# Measured on trained weights (tests/test_realistic_int8.py): 0.5 -> 93.5% worst
# agreement, 0.7 -> 97.3%, 0.9 -> 97.8%, 1.0 -> 97.6%.
SMOOTHING_ALPHA = 0.9
# Channels almost silent in calibration get a floor, so a prompt that does wake one
# cannot blow up the whole tensor's scale.
_RANGE_FLOOR = 0.1


def smoothing_factors(act_max: np.ndarray, w_t: np.ndarray) -> np.ndarray:
    """Per input channel k of ``x @ w_t`` (``w_t`` is [K, N]): s[k] such that
    ``(x / s) @ (s[:, None] * w_t)`` spreads the range evenly between activations and
    weights."""
    act = np.asarray(act_max, dtype=np.float64)
    act = np.maximum(act, _RANGE_FLOOR * float(np.median(act)) + 1e-12)
    w_max = np.maximum(np.abs(w_t).max(axis=1).astype(np.float64), 1e-12)
    s = act**SMOOTHING_ALPHA / w_max ** (1.0 - SMOOTHING_ALPHA)
    return np.asarray(s, dtype=np.float32)
