"""int8 calibration: the numpy encoder's activation ranges against transformers' own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from localrouter.routellm.conversion.calibration import ActivationRanges, calibration_prompts
from localrouter.routellm.conversion.checkpoint import Checkpoint
from localrouter.routellm.conversion.quantize import smoothing_factors


def reference_ranges(folder: Path, layers: int) -> list[dict[str, np.ndarray]]:
    """Largest |input| per channel of each layer's four matmuls, from forward hooks on the
    transformers model, one prompt at a time (no padding rows); the last layer's after its
    attention on the first token only, as the graph computes it."""
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoder = model.base_model.encoder.layer
    ranges: list[dict[str, np.ndarray]] = [{} for _ in range(layers)]

    def hook(i: int, key: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0][0]
            if i == layers - 1 and key != "qkv":
                x = x[:1]
            seen = x.abs().amax(dim=0).numpy()
            ranges[i][key] = np.maximum(ranges[i].get(key, seen), seen)

        return record

    for i, layer in enumerate(encoder):
        layer.attention.self.query.register_forward_pre_hook(hook(i, "qkv"))
        layer.attention.output.dense.register_forward_pre_hook(hook(i, "ao"))
        layer.intermediate.dense.register_forward_pre_hook(hook(i, "ffn1"))
        layer.output.dense.register_forward_pre_hook(hook(i, "ffn2"))
    with torch.no_grad():
        for text in calibration_prompts():
            model(**tok([text], truncation=True, return_tensors="pt"))
    return ranges


@pytest.mark.parametrize("layout", ["xlmr", "bert"])
def test_activation_ranges_match_transformers(
    checkpoint_factory: Callable[..., Path], layout: str
) -> None:
    folder = checkpoint_factory(layout=layout, layers=3)
    with Checkpoint(folder) as ckpt:
        walker = ActivationRanges.for_checkpoint(ckpt)
        ours = [walker.layer(i) for i in range(ckpt.config.num_layers)]
        with pytest.raises(RuntimeError):
            walker.layer(0)  # layers come in order, once
    expected = reference_ranges(folder, len(ours))
    for i, (got, want) in enumerate(zip(ours, expected, strict=True)):
        assert got.keys() == want.keys()
        for key in got:
            np.testing.assert_allclose(
                got[key], want[key], rtol=1e-4, atol=1e-6, err_msg=f"layer {i} {key}"
            )


def test_smoothing_is_exact_in_float_and_evens_out_ranges() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    x[:, 3] *= 60.0  # an outlier channel, as trained encoders have
    w_t = rng.standard_normal((16, 8)).astype(np.float32)
    s = smoothing_factors(np.abs(x).max(axis=0), w_t)
    np.testing.assert_allclose((x / s) @ (w_t * s[:, None]), x @ w_t, rtol=1e-4, atol=1e-4)
    spread_before = np.abs(x).max(axis=0).max() / np.median(np.abs(x).max(axis=0))
    spread_after = np.abs(x / s).max(axis=0).max() / np.median(np.abs(x / s).max(axis=0))
    assert spread_before > 30 and spread_after < 3
    # a channel silent in calibration gets a floor, not a huge 1/s
    silent = np.abs(x).max(axis=0)
    silent[5] = 0.0
    assert np.all(np.isfinite(1.0 / smoothing_factors(silent, w_t)))
    assert (1.0 / smoothing_factors(silent, w_t))[5] < 10 * np.median(1.0 / s)
