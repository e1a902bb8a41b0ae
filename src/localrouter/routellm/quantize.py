"""Symmetric int8 weight quantization for the router graph.

Weights are quantized once at conversion, straight from the safetensors (no fp32 ONNX
round trip, so no second copy of 1.1 GB in memory). Activations are quantized at run time
by ONNX Runtime (DynamicQuantizeMatMul / DynamicQuantizeLinear, uint8 x int8, the fast
VNNI/AMX path; the graph scales the FFN output matmul's input per token). Scales are
per output column for matmuls and per row for the word embedding table, which keeps rare
tokens' small rows precise.
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
