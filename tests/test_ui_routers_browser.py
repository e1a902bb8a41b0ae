"""The dashboard's Router card, end to end: headless Chromium against a real `localrouter
serve` on a home with one trained router (MiniLM embedder) and no RouteLLM model.

The card lists bert, random and the trained router with its cross-validated APGR beside
theirs and draws its curve; selecting it saves routing.router, the banner and the checklist
stop asking for the BERT model, Try it predicts with it, and the next openai SDK request's
access-log entry names it. Screenshots go to test-artifacts/ui/routers-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from openai import OpenAI
from playwright.sync_api import Browser, Page, expect

from tests.support import trained_routers
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.trained_routers import MATH_PROMPT
from tests.ui.browser import ARTIFACTS, WAIT, chromium, dashboard


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("ui-routers") / "home"
    report = trained_routers.train(home, "mine")
    assert report["metrics"]["trained"]["apgr"] is not None
    settings = {
        "providers": [{"name": "up", "base_url": upstream.base_url}],
        "routing": {"strong": ["up/strong-1"], "weak": ["up/weak-1"]},
    }
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    with GatewayProcess(home, settings, env=env) as process:
        yield process


@pytest.fixture
def page(browser: Browser, gateway: GatewayProcess) -> Iterator[Page]:
    with dashboard(browser, gateway.base_url) as tab:
        yield tab


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"routers-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def card_shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"routers-{name}-card.png"
    page.locator("#routers-card").screenshot(path=str(path))
    return path


def test_router_card_picks_a_trained_router(
    page: Page, gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    card = page.locator("#routers-card")
    select = page.locator("#router-select")
    expect(select.locator("option")).to_have_text(
        ["bert", "random", "mine (trained)"], timeout=WAIT
    )
    expect(select).to_have_value("bert")
    # bert is selected and not downloaded: the banner and the checklist ask for it.
    expect(page.locator("#routing-banner")).to_contain_text("the router model is not downloaded")
    expect(page.locator("#setup-model-text")).to_contain_text("Not downloaded")

    # The trained router's figure: its curve drawn (201 points) beside random's, and the
    # cross-validated metrics of it and random in the table.
    figure = card.locator('figure[data-router="mine"]')
    expect(figure.locator("figcaption")).to_contain_text("knn, 40 examples")
    trained_line = figure.locator("svg polyline.curve-trained")
    expect(trained_line).to_have_attribute("data-points", "201", timeout=WAIT)
    expect(figure.locator("svg polyline.curve-random")).to_have_attribute("data-points", "201")
    metrics = trained_routers_metrics(gateway.home)
    rows = figure.locator("table.router-metrics tbody tr")
    expect(rows).to_have_count(2)  # mine and random (no BERT model: no bert on the folds)
    expect(rows.nth(0)).to_contain_text(f"mine{metrics['trained']['apgr']:.3f}")
    expect(rows.nth(1)).to_contain_text(f"random{metrics['random']['apgr']:.3f}")
    expect(card.locator("#apgr-help")).to_contain_text("APGR is the share of the strong model")
    box = trained_line.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50  # drawn, not flat
    shot(page, "01-listed")
    card_shot(page, "01-listed")

    # Select it: saved, and nothing asks for the BERT model any more.
    select.select_option("mine")
    expect(page.locator("#router-select-state")).to_have_text("Saved", timeout=WAIT)
    saved = yaml.safe_load((gateway.home / "settings.yaml").read_text("utf-8"))
    assert saved["routing"]["router"] == "mine"
    expect(figure).to_have_attribute("data-selected", "true")
    expect(page.locator("#router-select-help")).to_contain_text("mine: trained (knn, 40 examples)")
    expect(page.locator("#routing-banner")).to_be_hidden()
    expect(page.locator("#setup-model")).to_have_attribute("data-done", "true")
    expect(page.locator("#setup-model-text")).to_contain_text(
        "The trained router mine is selected: it needs its own embedder"
    )
    expect(page.get_by_role("button", name="Download the router model")).to_be_hidden()

    # Try it predicts with the selected router.
    page.locator("#try-prompt").fill(MATH_PROMPT)
    page.locator("#btn-try").click()
    expect(page.locator("#try-router")).to_have_text("mine", timeout=WAIT)
    expect(page.locator("#try-route")).to_have_text("strong")
    shot(page, "02-selected")
    card_shot(page, "02-selected")

    # The next request from the openai SDK is routed by it, and its log entry says so.
    sdk = OpenAI(base_url=gateway.v1_url, api_key="unused-on-loopback", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="localrouter/auto", messages=[{"role": "user", "content": MATH_PROMPT}]
    )
    assert raw.headers["x-localrouter-routed-tier"] == "strong"
    entry = gateway.entry(raw.headers["x-request-id"])
    assert (entry["router"], entry["routed_tier"]) == ("mine", "strong")

    # A router trained with the CLI while the page is open shows up (the card polls).
    trained_routers.train(gateway.home, "second", strong_wins_on="chat")
    expect(select.locator("option")).to_have_text(
        ["bert", "random", "mine (trained)", "second (trained)"], timeout=WAIT
    )
    second = card.locator('figure[data-router="second"]')
    expect(second.locator("svg polyline.curve-trained")).to_have_attribute(
        "data-points", "201", timeout=WAIT
    )
    expect(second).to_have_attribute("data-selected", "false")
    expect(select).to_have_value("mine")
    shot(page, "03-second-router")


def trained_routers_metrics(home: Path) -> dict[str, dict[str, float]]:
    import json

    manifest = json.loads((home / "routers" / "mine" / "manifest.json").read_text("utf-8"))
    metrics: dict[str, dict[str, float]] = manifest["metrics"]
    return metrics
