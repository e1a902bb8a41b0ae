"""The bench prompts: one short (~15 tokens), one that fills the 512-token window, and a
varied set on which the engines' win rates are compared. Deterministic (fixed seed)."""

from __future__ import annotations

import random

from tests.support.checkpoints import SAMPLE_TEXTS

SHORT = "What is the capital of France?"  # 16 ids with <s> and </s> on the bench tokenizer

_WORDS = (
    "the of and to in is that for it as with was on be by this are or from at which an have "
    "not they but we all can has their more one will would there what if about when so up out "
    "model router prompt answer question strong weak gateway token python function error value "
    "number integer matrix vector energy cell protein history economy law theorem proof physics "
    "explain derive compare summarize translate implement optimize prove estimate describe"
).split()

_VARIED = [*SAMPLE_TEXTS, "hi", "   leading and trailing spaces   "]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def long_prompt() -> str:
    """About 1,000 words: far past 512 tokens, so every engine truncates to 512."""
    return _words(random.Random(512), 1000)


def agreement_prompts() -> list[str]:
    rng = random.Random(0)
    generated = [_words(rng, n) for n in (5, 12, 30, 60, 120, 250)]
    return [SHORT, *_VARIED, *generated, long_prompt()]
