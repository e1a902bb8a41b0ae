"""Routing with a real (generated) router checkpoint: thresholds, router-bert-<t>, the text
classified, fallbacks within and across tiers, run-time settings changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.routellm.inference.engine import RouterEngine
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "What is the capital of France?",
    "hello",
]
USER = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def engine(xlmr_checkpoint: Path) -> Iterator[RouterEngine]:
    engine = RouterEngine.load(xlmr_checkpoint, "fp32")
    yield engine
    engine.close()


def win_rate(engine: RouterEngine, text: str) -> float:
    return engine.predict([text])[0].win_rate


def routing_settings(upstream: FakeUpstream, checkpoint: Path, **routellm: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "up", "base_url": upstream.base_url},
            {"name": "slow", "base_url": upstream.base_url, "timeout_secs": 0.5},
        ],
        "routing": {
            "threshold": 0.5,
            "strong": ["up/strong-1", "slow/strong-2"],
            "weak": ["up/weak-1", "up/weak-2"],
            "cross_tier_fallback": True,
        },
        "routellm": {"model_dir": str(checkpoint), "precision": "fp32", **routellm},
    }


@pytest.fixture(scope="module")
def gateway_settings(
    upstream: FakeUpstream, xlmr_checkpoint: Path, engine: RouterEngine
) -> dict[str, Any]:
    # `engine` first: it converts the checkpoint once, before the gateway loads it.
    return routing_settings(upstream, xlmr_checkpoint)


pytestmark = pytest.mark.usefixtures("clean_upstream")


def chat(gateway: GatewayProcess, model: str, messages: list[dict[str, Any]]) -> httpx.Response:
    answer = httpx.post(
        gateway.v1_url + "/chat/completions",
        json={"model": model, "messages": messages},
        timeout=30,
    )
    return answer


def patch_routing(gateway: GatewayProcess, **change: Any) -> None:
    answer = httpx.patch(gateway.base_url + "/api/settings/routing", json=change)
    assert answer.status_code == 200, answer.text


def test_router_bert_threshold_just_below_and_above(
    gateway: GatewayProcess, engine: RouterEngine
) -> None:
    rates = [win_rate(engine, p) for p in PROMPTS]
    assert len({round(r, 4) for r in rates}) == len(rates)  # distinct prompts, distinct rates
    for prompt, rate in zip(PROMPTS, rates, strict=True):
        messages = [{"role": "user", "content": prompt}]
        below = chat(gateway, f"router-bert-{rate - 1e-3:.6f}", messages)
        above = chat(gateway, f"router-bert-{rate + 1e-3:.6f}", messages)
        assert below.status_code == above.status_code == 200
        assert below.headers["x-localrouter-tier"] == "strong"
        assert below.headers["x-localrouter-model"] == "up/strong-1"
        assert below.json()["model"] == "strong-1"
        assert above.headers["x-localrouter-tier"] == "weak"
        assert above.headers["x-localrouter-model"] == "up/weak-1"
        for answer in (below, above):
            assert float(answer.headers["x-localrouter-win-rate"]) == pytest.approx(rate, abs=1e-5)
            assert float(answer.headers["x-localrouter-routing-ms"]) > 0
        entry = gateway.entry(above.headers["x-request-id"])
        assert entry["routellm_win_rate"] == pytest.approx(rate, abs=1e-5)
        assert entry["threshold"] == pytest.approx(rate + 1e-3, abs=1e-6)


def test_configured_threshold_is_read_per_request(
    gateway: GatewayProcess, engine: RouterEngine
) -> None:
    prompt = PROMPTS[0]
    rate = win_rate(engine, prompt)
    messages = [{"role": "user", "content": prompt}]
    try:
        patch_routing(gateway, threshold=round(rate - 1e-3, 6))
        for model in ("localrouter/auto", "auto"):
            assert chat(gateway, model, messages).headers["x-localrouter-tier"] == "strong"
        patch_routing(gateway, threshold=round(rate + 1e-3, 6))
        for model in ("localrouter/auto", "auto"):
            assert chat(gateway, model, messages).headers["x-localrouter-tier"] == "weak"
    finally:
        patch_routing(gateway, threshold=0.5)


def test_classifies_last_user_message_text_parts(
    gateway: GatewayProcess, engine: RouterEngine
) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": PROMPTS[2]},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Explain"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "this proof."},
            ],
        },
    ]
    answer = chat(gateway, "router-bert-0.5", messages)
    expected = win_rate(engine, "Explain\nthis proof.")
    assert float(answer.headers["x-localrouter-win-rate"]) == pytest.approx(expected, abs=1e-5)


def test_completions_classify_the_prompt(gateway: GatewayProcess, engine: RouterEngine) -> None:
    answer = httpx.post(
        gateway.v1_url + "/completions", json={"model": "router-bert-0.5", "prompt": PROMPTS[1]}
    )
    assert answer.status_code == 200
    expected = win_rate(engine, PROMPTS[1])
    assert float(answer.headers["x-localrouter-win-rate"]) == pytest.approx(expected, abs=1e-5)


def test_concurrent_requests_share_batches(gateway: GatewayProcess, engine: RouterEngine) -> None:
    prompts = [f"{PROMPTS[i % 3]} variant {i}" for i in range(24)]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        gateway.v1_url + "/chat/completions",
                        json={"model": "auto", "messages": [{"role": "user", "content": p}]},
                    )
                    for p in prompts
                )
            )

    def batches() -> tuple[float, float]:
        text = httpx.get(gateway.base_url + "/metrics").text
        values = {}
        for line in text.splitlines():
            for name in (
                "localrouter_classifier_batch_size_count",
                "localrouter_classifier_batch_size_sum",
            ):
                if line.startswith(name + " "):
                    values[name] = float(line.split()[-1])
        return (
            values["localrouter_classifier_batch_size_count"],
            values["localrouter_classifier_batch_size_sum"],
        )

    calls_before, prompts_before = batches()
    answers = asyncio.run(run())
    calls_after, prompts_after = batches()
    for prompt, answer in zip(prompts, answers, strict=True):
        assert answer.status_code == 200
        rate = float(answer.headers["x-localrouter-win-rate"])
        assert rate == pytest.approx(win_rate(engine, prompt), abs=1e-4)
    assert prompts_after - prompts_before == len(prompts)
    assert calls_after - calls_before < len(prompts)  # some requests shared a model call


def test_fallback_within_strong_tier(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.fail("strong-1", "500")
    answer = chat(gateway, "router-bert-0", USER)  # threshold 0: always strong
    assert answer.status_code == 200
    assert answer.headers["x-localrouter-tier"] == "strong"
    assert answer.headers["x-localrouter-model"] == "slow/strong-2"
    entry = gateway.entry(answer.headers["x-request-id"])
    assert [(a["model"], a["status"]) for a in entry["attempts"]] == [
        ("up/strong-1", 500),
        ("slow/strong-2", 200),
    ]
    assert entry["attempts"][0]["error"].startswith("HTTP 500")
    assert entry["attempts"][1]["error"] is None
    assert (entry["provider"], entry["model"]) == ("slow", "strong-2")


def test_fallback_within_weak_tier_on_429(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.fail("weak-1", "429")
    answer = chat(gateway, "router-bert-1", USER)  # threshold 1: weak unless win rate is 1
    assert answer.headers["x-localrouter-tier"] == "weak"
    assert answer.headers["x-localrouter-model"] == "up/weak-2"


def test_fallback_across_tiers_on_context_length_and_timeout(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("strong-1", "context_length")
    upstream.fail("strong-2", "timeout", delay=5)
    answer = chat(gateway, "router-bert-0", USER)
    assert answer.status_code == 200
    assert answer.headers["x-localrouter-routed-tier"] == "strong"  # the decision
    assert answer.headers["x-localrouter-tier"] == "weak"  # the tier that answered
    assert answer.headers["x-localrouter-model"] == "up/weak-1"
    entry = gateway.entry(answer.headers["x-request-id"])
    assert (entry["routed_tier"], entry["tier"]) == ("strong", "weak")
    trail = entry["attempts"]
    assert [(a["model"], a["status"]) for a in trail] == [
        ("up/strong-1", 400),
        ("slow/strong-2", None),
        ("up/weak-1", 200),
    ]
    assert "context length" in trail[0]["error"]
    assert trail[1]["error"].startswith("timeout")


def test_no_cross_tier_fallback_when_off(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.fail("weak-1", "503")
    upstream.fail("weak-2", "500")
    try:
        patch_routing(gateway, cross_tier_fallback=False)
        answer = chat(gateway, "router-bert-1", USER)
    finally:
        patch_routing(gateway, cross_tier_fallback=True)
    assert answer.status_code == 502
    attempts = answer.json()["error"]["attempts"]
    assert [a["model"] for a in attempts] == ["up/weak-1", "up/weak-2"]
    assert upstream.requests_for("strong-1") == []


def test_routing_disabled_goes_strong_without_classifying(gateway: GatewayProcess) -> None:
    try:
        patch_routing(gateway, enabled=False)
        answer = chat(gateway, "localrouter/auto", [{"role": "user", "content": PROMPTS[2]}])
    finally:
        patch_routing(gateway, enabled=True)
    assert answer.headers["x-localrouter-tier"] == "strong"
    assert "x-localrouter-win-rate" not in answer.headers
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["tier"] == "strong" and entry["routellm_win_rate"] is None


def test_routed_log_entry_field_by_field(gateway: GatewayProcess, engine: RouterEngine) -> None:
    prompt = PROMPTS[1]
    answer = chat(gateway, "router-bert-0.5", [{"role": "user", "content": prompt}])
    rate = win_rate(engine, prompt)
    entry = gateway.entry(answer.headers["x-request-id"])
    tier = "strong" if rate >= 0.5 else "weak"
    model = "strong-1" if tier == "strong" else "weak-1"
    # The fields of README "Access log entry", spelled out here rather than taken from the code.
    assert set(entry) == {
        "timestamp",
        "request_id",
        "client",
        "endpoint",
        "requested_model",
        "provider",
        "model",
        "tier",
        "routed_tier",
        "router",
        "routellm_win_rate",
        "threshold",
        "routing_ms",
        "attempts",
        "status",
        "status_code",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "stream",
        "error",
        "baseline_model",  # routed: the savings' baseline, the strong chain's first model
    }  # no "prompt": include_prompts is off
    assert entry["request_id"] == answer.headers["x-request-id"]
    assert entry["timestamp"].endswith("+00:00")
    assert entry["client"] == "127.0.0.1"
    assert entry["endpoint"] == "/v1/chat/completions"
    assert entry["requested_model"] == "router-bert-0.5"
    assert (entry["provider"], entry["model"], entry["tier"]) == ("up", model, tier)
    assert (entry["routed_tier"], entry["router"]) == (tier, "bert")
    assert answer.headers["x-localrouter-routed-tier"] == tier
    assert entry["routellm_win_rate"] == pytest.approx(rate, abs=1e-5)
    assert entry["threshold"] == 0.5
    assert entry["routing_ms"] == pytest.approx(
        float(answer.headers["x-localrouter-routing-ms"]), abs=1e-3
    )
    assert entry["attempts"] == [{"model": f"up/{model}", "status": 200, "error": None}]
    assert (entry["status"], entry["status_code"], entry["error"]) == ("success", 200, None)
    assert entry["latency_ms"] >= entry["routing_ms"] > 0
    assert (entry["input_tokens"], entry["output_tokens"]) == (len(prompt.split()), 3)
    assert entry["stream"] is False
    assert entry["baseline_model"] == "up/strong-1"


def test_all_user_classification_and_prompt_logging(
    upstream: FakeUpstream, xlmr_checkpoint: Path, engine: RouterEngine, tmp_path: Path
) -> None:
    settings = routing_settings(upstream, xlmr_checkpoint, classify="all_user")
    settings["access_log"] = {"include_prompts": True}
    messages = [
        {"role": "user", "content": PROMPTS[0]},
        {"role": "assistant", "content": "sure"},
        {"role": "user", "content": PROMPTS[1]},
    ]
    with GatewayProcess(tmp_path / "home", settings) as gw:
        answer = chat(gw, "auto", messages)
        entry = gw.entry(answer.headers["x-request-id"])
    joined = PROMPTS[0] + "\n" + PROMPTS[1]
    assert float(answer.headers["x-localrouter-win-rate"]) == pytest.approx(
        win_rate(engine, joined), abs=1e-5
    )
    assert entry["prompt"] == joined
