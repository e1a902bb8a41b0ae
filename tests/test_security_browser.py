"""Cross-origin attacks from a real Chromium page (issue 11): a page served by a second local
server (another port is another origin) tries the requests a browser lets any site make
without asking - ``fetch`` with ``text/plain``, a preflighted settings change, a plain HTML
form POST - against the gateway. Nothing may take effect. With the page's origin in
``server.cors_origins``, its JSON ``fetch`` of ``/v1/chat/completions`` works."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.threaded_server import free_port
from tests.ui.browser import chromium

ATTACK_JS = """
async (gw) => {
  const chat = JSON.stringify(
    {model: "openai/big", messages: [{role: "user", content: "spend money"}]});
  const outcome = async (promise) => {
    try {
      const answer = await promise;
      return answer.type === "opaque" ? "opaque" : answer.status;
    } catch (err) {
      return "blocked";
    }
  };
  const simple = (path, method, body) => fetch(gw + path, {
    method, mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
  return {
    chat: await outcome(simple("/v1/chat/completions", "POST", chat)),
    chatNoV1: await outcome(simple("/chat/completions", "POST", chat)),
    download: await outcome(simple("/api/router/download", "POST",
                                   JSON.stringify({repo_id: "evil/model"}))),
    unload: await outcome(fetch(gw + "/api/router/unload", {method: "POST", mode: "no-cors"})),
    settings: await outcome(fetch(gw + "/api/settings/routing", {
      method: "PATCH", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({threshold: 0.99})})),
    settingsPlain: await outcome(simple("/api/settings/routing", "POST",
                                        JSON.stringify({threshold: 0.99}))),
    read: await outcome(fetch(gw + "/api/settings")),
  };
}
"""

# A form whose text/plain encoding makes the body `{"model": ..., "pad": "="}`: valid JSON.
FORM_JS = """
([gw, path]) => {
  const frame = document.createElement("iframe");
  frame.name = "sink";
  document.body.append(frame);
  const form = document.createElement("form");
  form.method = "POST";
  form.enctype = "text/plain";
  form.action = gw + path;
  form.target = "sink";
  const field = document.createElement("input");
  field.name = '{"model": "openai/big", "messages": [{"role": "user", "content": "x"}], "pad": "';
  field.value = '"}';
  form.append(field);
  document.body.append(form);
  form.submit();
}
"""

CORS_JS = """
async (gw) => {
  const answer = await fetch(gw + "/v1/chat/completions", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer unused"},
    body: JSON.stringify({model: "openai/big", messages: [{role: "user", content: "hello"}]}),
  });
  const body = await answer.json();
  return {status: answer.status, content: body.choices[0].message.content,
          model: answer.headers.get("x-localrouter-model")};
}
"""


class PageServer:
    """The attacker's site: static files on another port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text("<!doctype html><title>elsewhere</title><body>")
        self.port = free_port()
        handler = partial(_QuietHandler, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    with PageServer(tmp_path_factory.mktemp("site")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def gateway_settings(upstream: FakeUpstream, cors: list[str]) -> dict[str, Any]:
    return {
        "server": {"cors_origins": cors},
        "providers": [{"name": "openai", "base_url": upstream.base_url, "api_key": "sk-up"}],
        "routing": {"strong": ["openai/big"], "weak": ["openai/small"], "threshold": 0.3},
    }


def no_hub() -> dict[str, str]:
    # Had a download started, it would have gone here (nothing listens) and failed.
    return {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HUB_OFFLINE": "0"}


@pytest.mark.usefixtures("clean_upstream")
def test_a_foreign_page_changes_nothing(
    browser: Browser, site: PageServer, upstream: FakeUpstream, tmp_path: Path
) -> None:
    with GatewayProcess(tmp_path / "home", gateway_settings(upstream, []), env=no_hub()) as gateway:
        before = (gateway.home / "settings.yaml").read_text()
        page = browser.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(site.origin + "/index.html")
            outcomes = page.evaluate(ATTACK_JS, gateway.base_url)
            for path in ("/v1/chat/completions", "/api/router/download"):
                url = gateway.base_url + path
                with page.expect_response(url, timeout=20_000) as form_answer:
                    page.evaluate(FORM_JS, [gateway.base_url, path])
                assert form_answer.value.status == 403
        finally:
            page.close()
        # Readable answers were refused; the rest are opaque to the page, and had no effect.
        assert outcomes["read"] == "blocked" and outcomes["settings"] == "blocked"
        assert upstream.requests == []
        assert (gateway.home / "settings.yaml").read_text() == before
        status = httpx.get(gateway.base_url + "/api/router/status").json()
        assert status["state"] == "not_downloaded"
        assert httpx.get(gateway.base_url + "/api/settings").json()["routing"]["threshold"] == 0.3
        # The gateway answered them itself (no request reached an endpoint, none was logged).
        assert gateway.log_entries() == []


@pytest.mark.usefixtures("clean_upstream")
def test_a_trusted_origin_can_call_v1(
    browser: Browser, site: PageServer, upstream: FakeUpstream, tmp_path: Path
) -> None:
    settings = gateway_settings(upstream, [site.origin])
    with GatewayProcess(tmp_path / "home", settings, env=no_hub()) as gateway:
        page = browser.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(site.origin + "/index.html")
            answer = page.evaluate(CORS_JS, gateway.base_url)
            outcomes = page.evaluate(ATTACK_JS, gateway.base_url)
        finally:
            page.close()
        assert answer == {"status": 200, "content": "reply from big", "model": "openai/big"}
        assert len(upstream.requests_for("big")) == 1
        # Trusted for /v1 with JSON only: its simple requests and the admin API stay refused.
        assert outcomes["read"] == "blocked" and outcomes["settings"] == "blocked"
        assert len(upstream.requests_for("big")) == 1
        assert httpx.get(gateway.base_url + "/api/settings").json()["routing"]["threshold"] == 0.3
