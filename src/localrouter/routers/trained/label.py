"""``router label``: battles from the user's own prompts (issue 13, item 5).

Each prompt goes to the strong and the weak chain (settings' ``routing.strong`` /
``routing.weak``, falling back along the chain as the gateway does), then the judge model
compares the two answers twice, in both orders, so a judge that favours a position cancels
out: strong wins when it is preferred on balance, weak likewise, else a tie.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from localrouter.settings import Settings

JUDGE_SYSTEM = (
    "You compare two answers to the same question. Reply with exactly one letter: "
    "A if answer A is better, B if answer B is better, T if they are equally good."
)
JUDGE_MAX_TOKENS = 5
_CHARS_PER_TOKEN = 4  # a rough estimate, for the cost shown before spending


class LabelError(ValueError):
    """Labelling cannot start or go on; the message says why in one sentence."""


@dataclass(frozen=True)
class Plan:
    prompts: list[str]
    strong: list[str]
    weak: list[str]
    judge: str
    calls: int
    cost_usd: float
    unpriced: list[str]  # models without a price in settings (their cost is not counted)


def prompts_from_logs(logs: Path, days: int, max_prompts: int | None) -> list[str]:
    """Distinct prompt texts of the access log's last ``days`` days (newest kept last)."""
    from localrouter.gateway.access_log.reader import read_entries

    since = datetime.now(UTC) - timedelta(days=days)
    seen: dict[str, None] = {}
    for entry in read_entries(logs, since):
        text = entry.get("prompt")
        if isinstance(text, str) and text.strip():
            seen[text] = None
    prompts = list(seen)
    if not prompts:
        raise LabelError(
            f"the access log in {logs} holds no prompt text for the last {days} day(s); "
            "set access_log.include_prompts: true in settings.yaml or pass --file PROMPTS"
        )
    return prompts[-max_prompts:] if max_prompts else prompts


def _tokens(text_chars: int) -> int:
    return math.ceil(text_chars / _CHARS_PER_TOKEN)


def plan(settings: Settings, prompts: Sequence[str], judge: str, max_tokens: int) -> Plan:
    """What labelling will cost: 4 calls per prompt (strong, weak, the judge twice), priced
    with the first model of each chain and answers of ``max_tokens`` (an upper bound)."""
    strong, weak = list(settings.routing.strong), list(settings.routing.weak)
    for ref in (judge, *strong, *weak):
        if settings.provider(ref.split("/", 1)[0]) is None:
            raise LabelError(f"{ref!r} names a provider that is not configured")
    if not strong or not weak:
        raise LabelError("routing.strong and routing.weak must each name a model")
    cost = 0.0
    unpriced: list[str] = []

    def add(ref: str, tokens_in: int, tokens_out: int) -> None:
        nonlocal cost
        price = settings.prices.get(ref)
        if price is None:
            if ref not in unpriced:
                unpriced.append(ref)
            return
        cost += (tokens_in * price.input + tokens_out * price.output) / 1e6

    for prompt in prompts:
        tin = _tokens(len(prompt))
        add(strong[0], tin, max_tokens)
        add(weak[0], tin, max_tokens)
        judge_in = _tokens(len(JUDGE_SYSTEM) + 2 * len(prompt)) + 2 * max_tokens + 40
        add(judge, judge_in, JUDGE_MAX_TOKENS)
        add(judge, judge_in, JUDGE_MAX_TOKENS)
    return Plan(list(prompts), strong, weak, judge, 4 * len(prompts), cost, unpriced)


class _Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.Client()

    def chat(self, ref: str, messages: list[dict[str, str]], max_tokens: int) -> str:
        name, model = ref.split("/", 1)
        provider = self.settings.provider(name)
        if provider is None:
            raise LabelError(f"{ref!r} names a provider that is not configured")
        headers = dict(provider.headers)
        key = provider.resolve_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        response = self.http.post(
            f"{provider.base_url}/chat/completions",
            json={"model": model, "messages": messages, "max_tokens": max_tokens},
            headers=headers,
            timeout=httpx.Timeout(provider.timeout_secs, connect=provider.connect_timeout_secs),
        )
        if response.status_code != 200:
            raise LabelError(f"{ref} answered HTTP {response.status_code}")
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError):
            raise LabelError(f"{ref} answered without a chat completion") from None

    def answer(self, chain: Sequence[str], prompt: str, max_tokens: int) -> str:
        """The first answer along ``chain`` (fallback on errors, as the gateway does)."""
        errors: list[str] = []
        for ref in chain:
            try:
                return self.chat(ref, [{"role": "user", "content": prompt}], max_tokens)
            except (LabelError, httpx.HTTPError) as exc:
                errors.append(f"{ref}: {exc}" if str(exc) else f"{ref}: {type(exc).__name__}")
        raise LabelError(f"no model of {', '.join(chain)} answered ({'; '.join(errors)})")

    def prefers(self, judge: str, prompt: str, a: str, b: str) -> str:
        """'A', 'B' or 'T' (anything else the judge says counts as a tie)."""
        question = (
            f"Question:\n{prompt}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
            "Which answer is better? Reply A, B or T."
        )
        reply = self.chat(
            judge,
            [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": question}],
            JUDGE_MAX_TOKENS,
        )
        letter = reply.strip().upper()[:1]
        return letter if letter in ("A", "B") else "T"


def label(
    settings: Settings,
    work: Plan,
    out: Path,
    max_tokens: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write one battle per prompt to ``out`` (JSON lines, as ``router train`` reads)."""
    client = _Client(settings)
    counts = {"strong": 0, "weak": 0, "tie": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for prompt in work.prompts:
            strong = client.answer(work.strong, prompt, max_tokens)
            weak = client.answer(work.weak, prompt, max_tokens)
            first = client.prefers(work.judge, prompt, strong, weak)  # strong is A
            second = client.prefers(work.judge, prompt, weak, strong)  # strong is B
            score = {"A": 1, "B": -1, "T": 0}[first] + {"A": -1, "B": 1, "T": 0}[second]
            winner = "strong" if score > 0 else "weak" if score < 0 else "tie"
            counts[winner] += 1
            fh.write(json.dumps({"prompt": prompt, "winner": winner}) + "\n")
            fh.flush()
            if progress is not None:
                progress(1)
    return counts
