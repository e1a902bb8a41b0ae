"""Routers by name through the gateway, in process (Starlette's TestClient, with the app's
lifespan) in front of a real fake upstream: router-<name>-<t>, routing.router, the tier that
answered against the router's decision, and the access-log record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from localrouter.gateway.app import create_app
from localrouter.gateway.state import GatewayState
from localrouter.routers.random import RandomRouter
from localrouter.settings import parse_settings, save_settings
from tests.support.fake_upstream import FakeUpstream

PROMPT = "Which router decides this one?"
RATE = RandomRouter().predict([PROMPT])[0].win_rate


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[TestClient, GatewayState]]:
    upstream.reset()
    path = tmp_path / "settings.yaml"
    settings = parse_settings(
        {
            "providers": [{"name": "up", "base_url": upstream.base_url}],
            "routing": {"strong": ["up/strong-1"], "weak": ["up/weak-1"], "router": "random"},
        }
    )
    save_settings(settings, path)
    app = create_app(settings, home=tmp_path, config_path=path)
    with TestClient(app, base_url="http://127.0.0.1:3625") as client:
        yield client, app.state.gateway


def chat(client: TestClient, model: str) -> Any:
    return client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": PROMPT}]},
    )


def logged(state: GatewayState, request_id: str) -> dict[str, Any]:
    return next(e for e in state.access_log.recent(100) if e["request_id"] == request_id)


@pytest.mark.parametrize(
    ("model", "threshold", "tier"),
    [
        ("router-random-0", 0.0, "strong"),
        ("router-random-1", 1.0, "weak"),
        (
            f"router-random-{RATE:.6f}",
            round(RATE, 6),
            "strong" if round(RATE, 6) <= RATE else "weak",
        ),
        ("localrouter/auto", 0.3, "strong" if RATE >= 0.3 else "weak"),  # routing.router: random
    ],
)
def test_named_router_decides(
    gateway: tuple[TestClient, GatewayState], model: str, threshold: float, tier: str
) -> None:
    client, state = gateway
    answer = chat(client, model)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-localrouter-routed-tier"] == tier
    assert answer.headers["x-localrouter-tier"] == tier
    assert float(answer.headers["x-localrouter-win-rate"]) == pytest.approx(RATE, abs=1e-6)
    assert answer.json()["model"] == f"{tier}-1"
    entry = logged(state, answer.headers["x-request-id"])
    assert (entry["router"], entry["routed_tier"], entry["tier"]) == ("random", tier, tier)
    assert entry["threshold"] == threshold and entry["routellm_win_rate"] == pytest.approx(RATE)


def test_cross_tier_fallback_answers_from_the_other_tier(
    gateway: tuple[TestClient, GatewayState], upstream: FakeUpstream
) -> None:
    client, state = gateway
    upstream.fail("strong-1", "500")
    answer = chat(client, "router-random-0")  # decided strong
    assert answer.status_code == 200
    assert answer.headers["x-localrouter-routed-tier"] == "strong"
    assert answer.headers["x-localrouter-tier"] == "weak"
    assert answer.headers["x-localrouter-model"] == "up/weak-1"
    entry = logged(state, answer.headers["x-request-id"])
    assert (entry["routed_tier"], entry["tier"]) == ("strong", "weak")
    stats = client.get("/api/stats", params={"hours": 1}).json()
    assert stats["by_routed_tier"]["strong"] == 1 and stats["by_tier"]["weak"] == 1


def test_direct_request_is_direct(gateway: tuple[TestClient, GatewayState]) -> None:
    client, state = gateway
    answer = chat(client, "up/strong-1")
    assert answer.headers["x-localrouter-tier"] == "direct"
    assert answer.headers["x-localrouter-routed-tier"] == "direct"
    entry = logged(state, answer.headers["x-request-id"])
    assert (entry["router"], entry["routed_tier"], entry["tier"]) == (None, "direct", "direct")


def test_unknown_router_is_404(gateway: tuple[TestClient, GatewayState]) -> None:
    client, _ = gateway
    answer = chat(client, "router-nope-0.5")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "model_not_found"
    assert "no router named 'nope'" in error["message"]
    assert "router-<name>-<threshold>" in error["message"]
    assert client.get("/v1/models/router-random-0.5").json()["owned_by"] == "localrouter"
    assert client.get("/v1/models/router-nope-0.5").status_code == 404
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids[0] == "localrouter/auto"


def test_configured_router_missing_falls_back_to_strong(
    gateway: tuple[TestClient, GatewayState],
) -> None:
    client, state = gateway
    refused = client.patch("/api/settings/routing", json={"router": "gone"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_router"
    assert state.settings.current.routing.router == "random"  # nothing applied
    # As when the selected trained router is deleted afterwards (settings.yaml names it).
    state.settings.update(lambda data: data["routing"].update(router="gone"))
    answer = chat(client, "auto")
    assert answer.status_code == 200
    assert answer.headers["x-localrouter-routed-tier"] == "strong"
    entry = logged(state, answer.headers["x-request-id"])
    assert entry["router"] == "gone" and "no router named 'gone'" in entry["routing_error"]
    refused = client.patch("/api/settings/routing", json={"router": "bad name"})
    assert refused.status_code == 400
    assert state.settings.current.routing.router == "gone"  # nothing applied
