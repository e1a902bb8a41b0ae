"""Trained routers in the running gateway and its admin API: list (with cross-validated
metrics beside random's), curve points, select (an unknown name refused), `router-NAME-<t>`
and `localrouter/auto` routed by a router trained here with the real MiniLM embedder, its
name in the access log, and `router train` / `router delete` from the CLI taking effect
without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from localrouter.gateway.app import create_app
from localrouter.gateway.state import GatewayState
from localrouter.settings import parse_settings, save_settings
from tests.support import trained_routers
from tests.support.cli import run_localrouter
from tests.support.fake_upstream import FakeUpstream
from tests.support.trained_routers import CHAT_PROMPT, MATH_PROMPT


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with router `mine` (strong wins on math) and a damaged router `broken`."""
    home = tmp_path_factory.mktemp("routers-home")
    trained_routers.train(home, "mine")
    broken = home / "routers" / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    return home


@pytest.fixture
def gateway(
    trained_home: Path, upstream: FakeUpstream
) -> Iterator[tuple[TestClient, GatewayState]]:
    upstream.reset()
    path = trained_home / "settings.yaml"
    settings = parse_settings(
        {
            "providers": [{"name": "up", "base_url": upstream.base_url}],
            "routing": {"strong": ["up/strong-1"], "weak": ["up/weak-1"]},
        }
    )
    save_settings(settings, path)
    app = create_app(settings, home=trained_home, config_path=path)
    with TestClient(app, base_url="http://127.0.0.1:3625") as client:
        yield client, app.state.gateway


def chat(client: TestClient, model: str, prompt: str) -> Any:
    return client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": prompt}]},
    )


def logged(state: GatewayState, request_id: str) -> dict[str, Any]:
    return next(e for e in state.access_log.recent(100) if e["request_id"] == request_id)


def router_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, "router", *args)


def test_list_has_built_in_and_trained_routers(gateway: tuple[TestClient, GatewayState]) -> None:
    client, _ = gateway
    answer = client.get("/api/routers")
    assert answer.status_code == 200
    body = answer.json()
    assert body["selected"] == "bert"
    by_name = {r["name"]: r for r in body["routers"]}
    assert [r["name"] for r in body["routers"]] == ["bert", "random", "broken", "mine"]
    assert by_name["bert"] == {
        "name": "bert",
        "kind": "bert",
        "state": "not_downloaded",
        "installed": False,
    }
    assert by_name["random"] == {"name": "random", "kind": "random"}
    mine = by_name["mine"]
    assert mine["kind"] == "trained" and mine["needs_bert"] is False
    assert mine["embedder"] == trained_routers.minilm() and mine["method"] == "knn"
    assert mine["examples"] == 40 and mine["created"]
    # Cross-validated: the trained router beats random on the same folds.
    metrics = mine["metrics"]
    assert set(metrics) == {"trained", "random"}  # no BERT model installed: no bert column
    assert metrics["trained"]["apgr"] > metrics["random"]["apgr"]
    assert set(metrics["trained"]) == {"apgr", "cpt50", "cpt80"}
    assert "not valid JSON" in by_name["broken"]["error"]


def test_curve_points(gateway: tuple[TestClient, GatewayState], trained_home: Path) -> None:
    client, _ = gateway
    body = client.get("/api/routers/mine/curve").json()
    trained, random = body["curves"]["trained"], body["curves"]["random"]
    assert len(trained["strong_share"]) == len(trained["quality"]) == 201
    assert trained["strong_share"][0] == 0.0 and trained["strong_share"][-1] == 1.0
    # From the weak model's quality (all share weak) to the strong model's (all strong).
    assert trained["quality"][0] == pytest.approx(body["weak_quality"])
    assert trained["quality"][-1] == pytest.approx(body["strong_quality"])
    assert len(random["quality"]) == 201
    assert body["metrics"]["trained"]["apgr"] > body["metrics"]["random"]["apgr"]

    missing = client.get("/api/routers/nope/curve")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "router_not_found"
    broken = client.get("/api/routers/broken/curve")
    assert broken.status_code == 404 and "has no curve points" in broken.json()["error"]["message"]


def test_select_refuses_an_unknown_router(
    gateway: tuple[TestClient, GatewayState], trained_home: Path
) -> None:
    client, state = gateway
    refused = client.patch("/api/settings/routing", json={"router": "nope"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "unknown_router" and error["param"] == "router"
    assert error["message"].startswith("no router named 'nope': use bert, random")
    assert state.settings.current.routing.router == "bert"

    chosen = client.patch("/api/settings/routing", json={"router": "mine"})
    assert chosen.status_code == 200 and chosen.json()["router"] == "mine"
    saved = yaml.safe_load((trained_home / "settings.yaml").read_text(encoding="utf-8"))
    assert saved["routing"]["router"] == "mine"
    assert client.get("/api/routers").json()["selected"] == "mine"
    answer = chat(client, "localrouter/auto", MATH_PROMPT)
    entry = logged(state, answer.headers["x-request-id"])
    assert (entry["router"], entry["routed_tier"]) == ("mine", "strong")
    # Calibration uses the selected router's logged win rates.
    calibrated = client.post("/api/calibrate", json={"strong_pct": 100}).json()
    assert calibrated["router"] == "mine" and calibrated["prompts"] >= 1


@pytest.mark.parametrize(("prompt", "tier"), [(MATH_PROMPT, "strong"), (CHAT_PROMPT, "weak")])
def test_trained_router_routes_and_is_logged(
    gateway: tuple[TestClient, GatewayState], prompt: str, tier: str
) -> None:
    client, state = gateway
    answer = chat(client, "router-mine-0.5", prompt)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-localrouter-routed-tier"] == tier
    assert answer.json()["model"] == f"{tier}-1"
    entry = logged(state, answer.headers["x-request-id"])
    assert (entry["router"], entry["routed_tier"], entry["threshold"]) == ("mine", tier, 0.5)
    assert entry["requested_model"] == "router-mine-0.5"
    rate = entry["routellm_win_rate"]
    assert (rate >= 0.5) == (tier == "strong")

    predicted = client.post("/api/router/predict", json={"prompt": prompt, "router": "mine"})
    assert predicted.json()["route"] == tier and predicted.json()["router"] == "mine"


def test_cli_train_and_delete_take_effect_without_restart(
    gateway: tuple[TestClient, GatewayState], trained_home: Path
) -> None:
    client, state = gateway
    trained_routers.train(trained_home, "flip", strong_wins_on="math")
    first = chat(client, "router-flip-0.5", MATH_PROMPT)
    assert first.headers["x-localrouter-routed-tier"] == "strong"
    # The predict endpoint loads it too: the micro-batcher must follow the registry.
    assert client.post("/api/router/predict", json={"prompt": "x", "router": "flip"}).is_success

    trained_routers.train(trained_home, "flip", strong_wins_on="chat")  # another process
    again = chat(client, "router-flip-0.5", MATH_PROMPT)
    assert again.headers["x-localrouter-routed-tier"] == "weak"
    assert (
        chat(client, "router-flip-0.5", CHAT_PROMPT).headers["x-localrouter-routed-tier"]
        == "strong"
    )
    curve = client.get("/api/routers/flip/curve").json()
    assert curve["examples"] == 40

    client.patch("/api/settings/routing", json={"router": "flip"})
    deleted = router_cli(trained_home, "delete", "flip")
    assert deleted.returncode == 0, deleted.stderr
    gone = chat(client, "router-flip-0.5", MATH_PROMPT)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
    # localrouter/auto with the deleted router selected: the strong tier, the reason logged.
    auto = chat(client, "localrouter/auto", CHAT_PROMPT)
    assert auto.status_code == 200
    assert auto.headers["x-localrouter-routed-tier"] == "strong"
    entry = logged(state, auto.headers["x-request-id"])
    assert entry["router"] == "flip" and "no router named 'flip'" in entry["routing_error"]
    names = [r["name"] for r in client.get("/api/routers").json()["routers"]]
    assert "flip" not in names


def test_cli_calibrate_with_a_trained_router(trained_home: Path) -> None:
    prompts = trained_home / "calibrate-prompts.txt"
    prompts.write_text("\n".join([MATH_PROMPT] * 3 + [CHAT_PROMPT] * 3), encoding="utf-8")
    env = {**os.environ, "LOCALROUTER_HOME": str(trained_home)}
    env.pop("LOCALROUTER_ENV", None)
    args = ["routellm", "calibrate", "--strong-pct", "50", "--file", str(prompts)]
    result = subprocess.run(
        [sys.executable, "-m", "localrouter", *args, "--router", "mine", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calibration = json.loads(result.stdout)
    assert calibration["router"] == "mine"
    assert (calibration["prompts"], calibration["strong_count"]) == (6, 3)
