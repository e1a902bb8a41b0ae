"""The bench prompts: one short (~15 tokens), one that fills the 512-token window, and a
varied set on which the engines' win rates are compared. Deterministic (fixed seed)."""

from __future__ import annotations

import random

SHORT = "What is the capital of France?"  # 16 ids with <s> and </s> on the bench tokenizer

_WORDS = (
    "the of and to in is that for it as with was on be by this are or from at which an have "
    "not they but we all can has their more one will would there what if about when so up out "
    "model router prompt answer question strong weak gateway token python function error value "
    "number integer matrix vector energy cell protein history economy law theorem proof physics "
    "explain derive compare summarize translate implement optimize prove estimate describe"
).split()

_VARIED = [
    "Hello world, this is a test of the router tokenizer.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    'for (int i = 0; i < 10; ++i) { printf("%d\\n", i); }',
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    "日本語のテキストです。東京は日本の首都です。",
    "中文文本。北京是中国的首都。我们今天学习数学。",
    "한국어 문장입니다. 서울은 한국의 수도입니다.",
    "مرحبا بالعالم. القاهرة هي عاصمة مصر.",
    "नमस्ते दुनिया। दिल्ली भारत की राजधानी है।",
    "Привет, мир! Москва — столица России.",
    "Straße, café, naïve, façade, jalapeño, Zürich.",
    "emoji 😀🚀🔥 and symbols ∑ ∫ √ π ≈ ≠ ≤ ≥ → ←",
    "Solve for x: 3x + 7 = 22. Show your work step by step.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips.",
    "Which of the following best describes the function of mitochondria in a cell?",
    "hi",
    "   leading and trailing spaces   ",
]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def long_prompt() -> str:
    """About 1,000 words: far past 512 tokens, so every engine truncates to 512."""
    return _words(random.Random(512), 1000)


def agreement_prompts() -> list[str]:
    rng = random.Random(0)
    generated = [_words(rng, n) for n in (5, 12, 30, 60, 120, 250)]
    return [SHORT, *_VARIED, *generated, long_prompt()]
