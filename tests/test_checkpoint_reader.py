"""SafeTensors (checkpoint.py) over the safetensors library: dtypes and row selections."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

from localrouter.routellm.conversion.checkpoint import SafeTensors


def test_rows_and_dtypes_come_back_as_float32(tmp_path: Path) -> None:
    table = np.arange(40, dtype=np.float32).reshape(10, 4) / 8  # exact in bf16 and fp16
    path = tmp_path / "model.safetensors"
    save_file(
        {
            "f32": table,
            "f16": table.astype(np.float16),
            "bf16": table.astype(ml_dtypes.bfloat16),
        },
        str(path),
    )
    weights = SafeTensors(path)
    try:
        for name in ("f32", "f16", "bf16"):
            assert weights.shape(name) == (10, 4)
            whole = weights.float32(name)
            assert whole.dtype == np.float32 and np.array_equal(whole, table)
            assert np.array_equal(weights.float32(name, slice(8, 16)), table[8:16])  # clipped
            ids = np.array([7, 0, 7, 3])  # repeats and any order, as a token sequence has
            assert np.array_equal(weights.float32(name, ids), table[ids])
    finally:
        weights.close()
