"""Providers in the admin API: add, change, test, remove; keys stored 0600 and never returned."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from localrouter.gateway.app import create_app
from localrouter.settings import load_settings
from tests.support.fake_upstream import FakeUpstream

TYPED_KEY = "sk-typed-once-0123456789"
ENV_KEY = "sk-from-env-9876543210"

USER_FILE = """\
# my providers; keep this line
providers:
  - name: main  # the one I pay for
    base_url: http://127.0.0.1:9/v1
routing:
  strong: [main/big]
  weak: [main/small]
"""


@pytest.fixture
def client(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("LR_TEST_PROVIDER_KEY", ENV_KEY)
    (home / "settings.yaml").write_text(USER_FILE, "utf-8")
    app = create_app(home=home, config_path=home / "settings.yaml")
    with TestClient(app) as test_client:
        yield test_client


def _no_secret(answer: Any) -> None:
    assert TYPED_KEY not in answer.text and ENV_KEY not in answer.text


def test_add_with_a_typed_key_stores_it_0600_and_never_returns_it(
    client: TestClient, home: Path, upstream: FakeUpstream
) -> None:
    answer = client.post(
        "/api/providers",
        json={"name": "fake", "base_url": upstream.base_url, "api_key": TYPED_KEY},
    )
    assert answer.status_code == 201, answer.text
    _no_secret(answer)
    view = answer.json()
    assert view["has_key"] is True and view["key_source"] == "file" and view["api"] == "openai-chat"

    key_file = home / "keys" / "fake.key"
    assert key_file.read_text("utf-8").strip() == TYPED_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    text = (home / "settings.yaml").read_text("utf-8")
    assert TYPED_KEY not in text and str(key_file) in text
    assert "# the one I pay for" in text and "# my providers; keep this line" in text
    assert (home / "settings.yaml.bak").read_text("utf-8") == USER_FILE

    for path in ("/api/providers", "/api/settings"):
        listing = client.get(path)
        _no_secret(listing)
    # The test reaches the upstream with the stored key and lists its models.
    upstream.reset()
    tested = client.post("/api/providers/fake/test")
    assert tested.status_code == 200
    assert tested.json()["ok"] is True
    assert tested.json()["models"] == ["fake/fake-model"]
    _no_secret(tested)
    [models_call] = [r for r in upstream.requests if r.path.endswith("/models")]
    assert models_call.headers["authorization"] == f"Bearer {TYPED_KEY}"


def test_change_to_an_env_variable_then_remove(
    client: TestClient, home: Path, upstream: FakeUpstream
) -> None:
    client.post(
        "/api/providers",
        json={"name": "fake", "base_url": upstream.base_url, "api_key": TYPED_KEY},
    )
    answer = client.patch(
        "/api/providers/fake",
        json={"api_key_env": "LR_TEST_PROVIDER_KEY", "api": "anthropic", "models": ["m1"]},
    )
    assert answer.status_code == 200, answer.text
    _no_secret(answer)
    view = answer.json()
    assert view["key_source"] == "env" and view["api_key_env"] == "LR_TEST_PROVIDER_KEY"
    assert view["has_key"] is True and view["api"] == "anthropic" and view["models"] == ["m1"]
    assert not (home / "keys" / "fake.key").exists()  # the typed key is gone from disk
    saved = load_settings(home / "settings.yaml").provider("fake")
    assert saved is not None and saved.api_key_file is None and saved.api == "anthropic"

    removed = client.delete("/api/providers/fake")
    assert removed.status_code == 200
    assert [p["name"] for p in removed.json()["providers"]] == ["main"]
    assert "fake" not in (home / "settings.yaml").read_text("utf-8")


def test_refusals_are_openai_shaped(client: TestClient) -> None:
    def error(answer: Any, status: int) -> str:
        assert answer.status_code == status, answer.text
        message: str = answer.json()["error"]["message"]
        return message

    assert "exists" in error(
        client.post("/api/providers", json={"name": "main", "base_url": "http://x/v1"}), 409
    )
    assert "http" in error(
        client.post("/api/providers", json={"name": "bad", "base_url": "ftp://x"}), 400
    )
    assert "strong chain" in error(client.delete("/api/providers/main"), 409)
    assert "no provider" in error(client.post("/api/providers/nope/test"), 404)
    both = {"name": "x", "base_url": "http://x/v1", "api_key": TYPED_KEY, "api_key_env": "A"}
    error(client.post("/api/providers", json=both), 400)


def test_an_unreachable_provider_tests_as_not_ok(client: TestClient) -> None:
    answer = client.post("/api/providers/main/test")
    assert answer.status_code == 200
    result = answer.json()
    assert result["ok"] is False and "could not connect" in result["error"]
    assert yaml.safe_load(client.get("/api/providers").text)["providers"][0]["has_key"] is False
