"""The ONNX encoder's inputs for a batch of token rows (shared by the router engine and the
trained routers' embedders, which run graphs converted the same way)."""

from __future__ import annotations

import numpy as np

from localrouter.routellm.conversion.checkpoint import ModelConfig


def encoder_feeds(rows: list[list[int]], pad_id: int, config: ModelConfig) -> dict[str, np.ndarray]:
    """``input_ids``, ``position_ids`` and ``attention_mask``, rows padded to the longest."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int32)
    for n, r in enumerate(rows):
        ids[n, : len(r)] = r
        mask[n, : len(r)] = 1
    if config.layout == "bert":
        positions = np.broadcast_to(np.arange(width, dtype=np.int64), ids.shape)
    else:
        # RoBERTa's create_position_ids_from_input_ids: count non-pad ids, from pad+1.
        not_pad = (ids != config.pad_token_id).astype(np.int64)
        positions = np.cumsum(not_pad, axis=1) * not_pad + config.pad_token_id
    return {
        "input_ids": ids,
        "position_ids": np.ascontiguousarray(positions),
        "attention_mask": mask,
    }
