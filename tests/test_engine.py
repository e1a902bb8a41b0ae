"""RouterEngine against the reference: transformers' sequence classifiers loaded from the
same folder, with RouteLLM's win-rate formula."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.inference.engine import RouterEngine
from localrouter.routellm.prediction import win_rates_from_logits

PROMPTS = [
    "What is the capital of France? Answer with one word.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "日本語のテキストです。東京は日本の首都です。",
    "中文文本。北京是中国的首都。",
    "مرحبا بالعالم. القاهرة هي عاصمة مصر.",
    "नमस्ते दुनिया। दिल्ली भारत की राजधानी है।",
    "emoji 😀🚀🔥 and symbols ∑ ∫ √ π",
    "mixed scripts: Привет 世界 hello مرحبا नमस्ते",
    "   \t \n ",
    "control\x00chars\x01\x07here",
    "a literal <pad> token and <mask> inside",
    " ".join(f"word{i % 50}" for i in range(5000)),
]


def reference_win_rates(folder: Path, texts: list[str]) -> np.ndarray:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, truncation=True, return_tensors="pt")
            out.append(win_rates_from_logits(model(**enc).logits.numpy())[0])
    return np.array(out)


@pytest.fixture(scope="module", params=["xlmr", "roberta", "bert"])
def layout_case(
    request: pytest.FixtureRequest, checkpoint_factory: Callable[..., Path]
) -> tuple[Path, np.ndarray]:
    folder = checkpoint_factory(layout=request.param)
    return folder, reference_win_rates(folder, PROMPTS)


def test_fp32_matches_transformers(layout_case: tuple[Path, np.ndarray]) -> None:
    folder, reference = layout_case
    with RouterEngine.load(folder, "fp32") as engine:
        single = np.array([engine.predict([p])[0].win_rate for p in PROMPTS])
        batched = engine.predict(PROMPTS)
    assert np.abs(single - reference).max() <= 1e-5
    assert np.abs(np.array([p.win_rate for p in batched]) - reference).max() <= 1e-5
    # the win rates really differ between prompts (a constant model would pass trivially)
    assert reference.max() - reference.min() > 0.1
    long = batched[-1]
    assert long.truncated and long.tokens == 512
    assert not batched[0].truncated and batched[0].tokens < 30
    assert all(p.latency_ms > 0 for p in batched)


def test_int8_is_close_and_batch_independent(layout_case: tuple[Path, np.ndarray]) -> None:
    folder, reference = layout_case
    with RouterEngine.load(folder, "int8") as engine:
        single = np.array([engine.predict([p])[0].win_rate for p in PROMPTS])
        batched = np.array([p.win_rate for p in engine.predict(PROMPTS)])
    np.testing.assert_array_equal(single, batched)
    assert np.abs(single - reference).max() < 0.05


def test_predict_keeps_input_order_and_handles_duplicates(xlmr_checkpoint: Path) -> None:
    texts = [PROMPTS[-1], PROMPTS[0], PROMPTS[2], PROMPTS[0], ""]
    with RouterEngine.load(xlmr_checkpoint, "fp32", threads=1) as engine:
        together = engine.predict(texts)
        alone = [engine.predict([t])[0] for t in texts]
        assert engine.predict([]) == []
    assert [p.tokens for p in together] == [p.tokens for p in alone]
    np.testing.assert_allclose(
        [p.win_rate for p in together], [p.win_rate for p in alone], atol=1e-6
    )
    assert together[1].win_rate == together[3].win_rate


def test_thread_safe(xlmr_checkpoint: Path) -> None:
    with RouterEngine.load(xlmr_checkpoint, "int8", threads=2) as engine:
        expected = [p.win_rate for p in engine.predict(PROMPTS)]
        results: list[list[float]] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(3):
                    results.append([p.win_rate for p in engine.predict(PROMPTS)])
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(results) == 12 and all(r == expected for r in results)


def test_bad_prompts_and_closed_engine(xlmr_checkpoint: Path) -> None:
    engine = RouterEngine.load(xlmr_checkpoint, "int8")
    with pytest.raises(TypeError, match="prompt 1 is int, not a string"):
        engine.predict(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not a single string"):
        engine.predict("just one string")
    engine.close()
    with pytest.raises(RouterUnavailable):
        engine.predict(["hello"])
