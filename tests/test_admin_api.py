"""The admin API (/api/*) on the real gateway app (lifespan, state, service, access log)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from localrouter.gateway.access_log import AccessRecord
from localrouter.gateway.app import create_app
from localrouter.gateway.state import GatewayState
from localrouter.settings import parse_settings, save_settings
from tests.support.fake_upstream import FakeUpstream

SECRET_IN_FILE = "sk-file-secret-0123456789"
SECRET_IN_ENV = "sk-env-secret-9876543210"


class Harness:
    def __init__(self, home: Path, settings: dict[str, Any]) -> None:
        self.home = home
        self.settings_path = home / "settings.yaml"
        save_settings(parse_settings(settings), self.settings_path)
        app = create_app(home=home, config_path=self.settings_path)
        self.client = TestClient(app, base_url="http://127.0.0.1:3625")
        self.client.__enter__()  # runs the lifespan: the gateway state is opened
        self.state: GatewayState = app.state.gateway
        self.log = self.state.access_log

    def saved(self) -> dict[str, Any]:
        return yaml.safe_load(self.settings_path.read_text(encoding="utf-8"))

    def close(self) -> None:
        self.client.__exit__(None, None, None)


BASE_SETTINGS: dict[str, Any] = {
    "providers": [
        {"name": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET_IN_FILE},
        {"name": "proxy", "base_url": "http://user:sk-in-url-secret@127.0.0.1:9/v1"},
        {
            "name": "ollama",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "LR_TEST_ADMIN_KEY",
            "models": ["qwen2.5"],
        },
    ],
    "routing": {"strong": ["openai/gpt-4o"], "weak": ["ollama/llama3.2"], "threshold": 0.3},
}


@pytest.fixture
def harness(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("LR_TEST_ADMIN_KEY", SECRET_IN_ENV)
    h = Harness(home, json.loads(json.dumps(BASE_SETTINGS)))
    yield h
    h.close()


def assert_openai_error(answer: Any, status: int, *words: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    for word in words:
        assert word in error["message"], error["message"]
    return error


def entry(
    minutes_ago: float,
    tier: str,
    win_rate: float | None,
    model: str,
    *,
    status: str = "success",
    tokens: tuple[int, int] = (1000, 500),
) -> AccessRecord:
    provider, name = model.split("/", 1)
    stamp = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return AccessRecord(
        timestamp=stamp.isoformat(timespec="milliseconds"),
        request_id=f"req-{minutes_ago}-{tier}",
        client="127.0.0.1",
        endpoint="/v1/chat/completions",
        requested_model="localrouter/auto" if tier != "direct" else model,
        provider=provider,
        model=name,
        tier=tier,
        routed_tier=tier,
        router=None if tier == "direct" else "bert",
        routellm_win_rate=win_rate,
        threshold=0.3,
        status=status,
        status_code=200 if status == "success" else 502,
        latency_ms=123.0,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
    )


def test_settings_never_show_provider_keys(harness: Harness) -> None:
    answer = harness.client.get("/api/settings")
    assert answer.status_code == 200
    for secret in (SECRET_IN_FILE, SECRET_IN_ENV, "sk-in-url-secret"):
        assert secret not in answer.text
    body = answer.json()
    assert body["routing"]["threshold"] == 0.3
    assert body["routellm"]["idle_timeout_secs"] == 600
    assert [p["has_key"] for p in body["providers"]] == [True, False, True]
    assert body["providers"][1]["base_url"] == "http://127.0.0.1:9/v1"
    assert harness.client.get("/api/router/status").text.count(SECRET_IN_FILE) == 0


def test_routing_changes_are_validated_persisted_and_applied(harness: Harness) -> None:
    answer = harness.client.patch(
        "/api/settings/routing",
        json={"threshold": 0.55, "strong": ["openai/gpt-4o-mini", "openai/gpt-4o"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["threshold"] == 0.55
    assert harness.state.settings.current.routing.strong == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    saved = harness.saved()["routing"]
    assert saved["threshold"] == 0.55 and saved["strong"][0] == "openai/gpt-4o-mini"
    assert saved["weak"] == ["ollama/llama3.2"]  # untouched fields stay

    before = harness.settings_path.read_text(encoding="utf-8")
    assert_openai_error(
        harness.client.patch("/api/settings/routing", json={"threshold": 1.5}), 400, "threshold"
    )
    assert_openai_error(
        harness.client.patch("/api/settings/routing", json={"weak": ["nowhere/model"]}),
        400,
        "nowhere",
    )
    assert_openai_error(
        harness.client.patch("/api/settings/routing", json={"thresh": 0.1}), 400, "thresh"
    )
    assert_openai_error(
        harness.client.patch(
            "/api/settings/routing",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert harness.settings_path.read_text(encoding="utf-8") == before
    assert harness.state.settings.current.routing.threshold == 0.55


def test_idle_timeout_persists(harness: Harness) -> None:
    answer = harness.client.patch("/api/settings/routellm", json={"idle_timeout_secs": 1800})
    assert answer.status_code == 200 and answer.json()["idle_timeout_secs"] == 1800
    assert harness.saved()["routellm"]["idle_timeout_secs"] == 1800
    assert harness.client.get("/api/router/status").json()["idle_timeout_secs"] == 1800
    assert_openai_error(
        harness.client.patch("/api/settings/routellm", json={"idle_timeout_secs": -5}), 400
    )
    assert harness.saved()["routellm"]["idle_timeout_secs"] == 1800


def test_requests_come_newest_first(harness: Harness) -> None:
    for minutes in (30, 20, 10):
        harness.log.write(entry(minutes, "weak", 0.1, "ollama/llama3.2"))
    answer = harness.client.get("/api/requests", params={"limit": 2})
    assert answer.status_code == 200
    ids = [r["request_id"] for r in answer.json()["requests"]]
    assert ids == ["req-10-weak", "req-20-weak"]
    assert_openai_error(harness.client.get("/api/requests", params={"limit": "many"}), 400, "limit")


def test_requests_page_with_a_total_and_filters(harness: Harness) -> None:
    for minutes in range(60, 0, -1):  # 60 requests, the newest last
        tier = "strong" if minutes % 3 == 0 else "weak"
        model = "openai/gpt-4o" if tier == "strong" else "ollama/llama3.2"
        status = "error" if minutes == 7 else "success"
        harness.log.write(entry(minutes, tier, 0.5, model, status=status))
    first = harness.client.get("/api/requests").json()
    assert (first["total"], len(first["requests"]), first["offset"]) == (60, 50, 0)
    assert first["requests"][0]["request_id"] == "req-1-weak"
    rest = harness.client.get("/api/requests", params={"offset": 50}).json()
    assert [r["request_id"] for r in rest["requests"]][-1] == "req-60-strong"
    assert len(rest["requests"]) == 10

    strong = harness.client.get("/api/requests", params={"tier": "strong", "limit": 5}).json()
    assert strong["total"] == 20 and {r["tier"] for r in strong["requests"]} == {"strong"}
    errors = harness.client.get("/api/requests", params={"status": "error"}).json()
    assert [r["request_id"] for r in errors["requests"]] == ["req-7-weak"]
    by_model = harness.client.get("/api/requests", params={"model": "GPT-4O"}).json()
    assert by_model["total"] == 20


def test_requests_filter_shows_cross_tier_fallbacks(harness: Harness) -> None:
    fell_back = entry(2, "weak", 0.9, "ollama/llama3.2")
    fell_back.routed_tier = "strong"
    harness.log.write(fell_back)
    harness.log.write(entry(1, "weak", 0.1, "ollama/llama3.2"))
    answer = harness.client.get("/api/requests", params={"tier": "fallback"}).json()
    assert [r["request_id"] for r in answer["requests"]] == ["req-2-weak"]


def test_savings_use_each_requests_own_baseline(harness: Harness) -> None:
    # Logged while the strong chain began with gpt-4o; the chain changed since.
    old = entry(2, "weak", 0.1, "ollama/llama3.2", tokens=(1_000_000, 0))
    old.baseline_model = "openai/gpt-4o"
    harness.log.write(old)
    prices = {
        "openai/gpt-4o": {"input": 2.5, "output": 10},
        "openai/o3": {"input": 20, "output": 80},
        "ollama/llama3.2": {"input": 0, "output": 0},
    }
    assert harness.client.put("/api/settings/prices", json=prices).status_code == 200
    changed = harness.client.patch("/api/settings/routing", json={"strong": ["openai/o3"]})
    assert changed.status_code == 200, changed.text
    cost = harness.client.get("/api/stats").json()["cost"]
    assert cost["priced"] is True
    assert cost["all_strong_usd"] == pytest.approx(2.5)  # gpt-4o's price, not o3's
    assert cost["baseline_models"] == ["openai/gpt-4o"]


def test_stats_give_the_share_at_each_preset(harness: Harness) -> None:
    for i, rate in enumerate([0.05, 0.2, 0.4, 0.6]):
        harness.log.write(entry(5 + i, "weak", rate, "ollama/llama3.2"))
    stats = harness.client.get("/api/stats", params={"presets": "0.1,0.3,0.5"}).json()
    assert stats["share_at"] == {"0.1": 0.75, "0.3": 0.5, "0.5": 0.25}
    assert_openai_error(harness.client.get("/api/stats", params={"presets": "x"}), 400)


def test_stats_share_series_and_unpriced_savings(harness: Harness) -> None:
    rates = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75]
    for i, rate in enumerate(rates):
        tier = "strong" if rate >= 0.3 else "weak"
        model = "openai/gpt-4o" if tier == "strong" else "ollama/llama3.2"
        harness.log.write(entry(5 + i, tier, rate, model))
    harness.log.write(entry(3, "direct", None, "openai/gpt-4o-mini"))
    harness.log.write(entry(60 * 30, "strong", 0.99, "openai/gpt-4o"))  # outside 24 h

    stats = harness.client.get("/api/stats", params={"threshold": 0.5}).json()
    assert stats["total"] == 9
    assert stats["by_tier"] == {"strong": 5, "weak": 3, "direct": 1}
    assert stats["with_win_rate"] == 8
    assert stats["strong_share_at_threshold"] == pytest.approx(3 / 8)
    assert stats["actual_strong_share"] == pytest.approx(5 / 8)
    for tier in ("strong", "weak", "direct"):
        assert sum(b[tier] for b in stats["series"]) == stats["by_tier"][tier]
    times = [datetime.fromisoformat(b["t"]) for b in stats["series"]]
    assert times == sorted(times) and len(times) <= 49

    cost = stats["cost"]
    assert cost["priced"] is False and cost["saved_usd"] is None
    assert cost["strong_requests_avoided"] == 3
    assert cost["missing_prices"] == ["ollama/llama3.2", "openai/gpt-4o"]

    at_zero = harness.client.get("/api/stats", params={"threshold": 0}).json()
    assert at_zero["strong_share_at_threshold"] == 1.0
    assert_openai_error(harness.client.get("/api/stats", params={"threshold": 2}), 400, "threshold")


def test_prices_turn_savings_into_dollars(harness: Harness) -> None:
    harness.log.write(entry(2, "weak", 0.1, "ollama/llama3.2", tokens=(1_000_000, 0)))
    harness.log.write(entry(1, "strong", 0.9, "openai/gpt-4o", tokens=(0, 1_000_000)))
    prices = {
        "openai/gpt-4o": {"input": 2.5, "output": 10},
        "ollama/llama3.2": {"input": 0, "output": 0},
    }
    answer = harness.client.put("/api/settings/prices", json=prices)
    assert answer.status_code == 200, answer.text
    assert harness.saved()["prices"]["openai/gpt-4o"] == {"input": 2.5, "output": 10.0}

    cost = harness.client.get("/api/stats").json()["cost"]
    assert cost["priced"] is True
    assert cost["all_strong_usd"] == pytest.approx(2.5 + 10)
    assert cost["actual_usd"] == pytest.approx(10)
    assert cost["saved_usd"] == pytest.approx(2.5)

    assert_openai_error(
        harness.client.put(
            "/api/settings/prices", json={"openai/gpt-4o": {"input": -1, "output": 1}}
        ),
        400,
        "prices",
    )
    assert harness.state.settings.current.prices["openai/gpt-4o"].input == 2.5


def test_calibrate_from_logged_win_rates(harness: Harness) -> None:
    assert_openai_error(harness.client.post("/api/calibrate", json={"strong_pct": 30}), 409)
    rng = np.random.default_rng(0)
    rates = rng.uniform(0, 1, size=200)
    for i, rate in enumerate(rates):
        harness.log.write(entry(1 + i / 10, "weak", float(rate), "ollama/llama3.2"))
    answer = harness.client.post("/api/calibrate", json={"strong_pct": 30})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["prompts"] == 200
    assert np.mean(rates >= body["threshold"]) == pytest.approx(0.3, abs=0.01)
    assert body["achieved_share"] == pytest.approx(np.mean(rates >= body["threshold"]))
    table = sorted((row["threshold"], row["strong_share"]) for row in body["table"])
    shares = [share for _, share in table]
    assert len(table) >= 5 and shares == sorted(shares, reverse=True)
    assert_openai_error(harness.client.post("/api/calibrate", json={"strong_pct": 130}), 400)

    # Another router's win rates are not mixed in: the selected router's (routing.router) only.
    for i in range(10):
        record = entry(30 + i, "strong", 0.9, "openai/gpt-4o")
        harness.log.write(dataclasses.replace(record, router="random", request_id=f"rnd-{i}"))
    assert harness.client.post("/api/calibrate", json={"strong_pct": 30}).json()["prompts"] == 200
    other = harness.client.post("/api/calibrate", json={"strong_pct": 30, "router": "random"})
    assert (other.json()["router"], other.json()["prompts"]) == ("random", 10)
    harness.state.settings.update(lambda data: data["routing"].update(router="random"))
    assert harness.client.post("/api/calibrate", json={"strong_pct": 30}).json()["prompts"] == 10
    none = harness.client.post("/api/calibrate", json={"strong_pct": 30, "router": "mine"})
    assert_openai_error(none, 409)
    assert "no requests routed by mine" in none.json()["error"]["message"]


def test_router_without_model_answers_openai_errors(harness: Harness) -> None:
    status = harness.client.get("/api/router/status").json()
    assert status["state"] == "not_downloaded"
    for field in ("repo_id", "revision", "precision", "memory_usage_mb", "idle_timeout_secs"):
        assert field in status
    error = assert_openai_error(
        harness.client.post("/api/router/predict", json={"prompt": "hello"}), 503
    )
    assert error["code"] == "router_unavailable"
    assert_openai_error(harness.client.post("/api/router/predict", json={}), 400, "prompt")
    # "Load now" without a model: the same error, and nothing changes.
    load = assert_openai_error(harness.client.post("/api/router/load", json={}), 503)
    assert load["code"] == "router_unavailable"
    assert status["disk_bytes"] is None


def test_models_lists_chains_configured_and_upstream_models(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LR_TEST_ADMIN_KEY", SECRET_IN_ENV)
    with FakeUpstream() as upstream:
        settings = json.loads(json.dumps(BASE_SETTINGS))
        settings["providers"][2]["base_url"] = upstream.base_url  # ollama: reachable
        h = Harness(home, settings)
        try:
            answer = h.client.get("/api/models")
        finally:
            h.close()
        listed = [r for r in upstream.requests if r.path.endswith("/models")]
    models = answer.json()["models"]
    assert models[:2] == ["openai/gpt-4o", "ollama/llama3.2"]  # the chains first
    assert "ollama/qwen2.5" in models  # configured in the provider
    assert "ollama/fake-model" in models  # listed by the upstream itself
    assert not any(m.startswith("openai/fake") for m in models)  # unreachable: nothing
    assert listed and listed[0].headers["authorization"] == f"Bearer {SECRET_IN_ENV}"
    assert SECRET_IN_ENV not in answer.text


def test_ui_is_served(harness: Harness) -> None:
    page = harness.client.get("/")
    assert page.status_code == 200 and 'id="router-card"' in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        answer = harness.client.get(f"/ui/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    # Works offline: nothing is fetched from another origin.
    for text in (page.text, harness.client.get("/ui/app.js").text):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text


def test_stats_without_log_files_use_the_requests_in_memory(home: Path) -> None:
    settings = json.loads(json.dumps(BASE_SETTINGS))
    settings["access_log"] = {"enabled": False}
    h = Harness(home, settings)
    try:
        h.log.write(entry(3, "weak", 0.2, "ollama/llama3.2"))
        h.log.write(entry(2, "strong", 0.8, "openai/gpt-4o"))
        stats = h.client.get("/api/stats", params={"threshold": 0.5}).json()
        assert stats["by_tier"]["strong"] == 1 and stats["by_tier"]["weak"] == 1
        assert stats["strong_share_at_threshold"] == 0.5
        assert not list((home / "logs").glob("*.jsonl"))
    finally:
        h.close()
