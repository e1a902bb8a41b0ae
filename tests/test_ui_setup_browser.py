"""The first ten minutes, end to end: headless Chromium against a real `localrouter serve`
started on a fresh home (no settings.yaml: the defaults, no router model).

The checklist and the banner say what is missing; a provider is added from the dashboard
against a local fake upstream, tested, its model put in the chains, and a request from the
openai SDK reaches it. The tests share one gateway and run in file order. Screenshots go to
test-artifacts/ui/ (after those of test_ui_browser.py when both run).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI
from playwright.sync_api import Browser, Page, expect

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.ui.browser import ARTIFACTS, WAIT, Screenshots, chromium, dashboard, wait_until

TYPED_KEY = "sk-typed-in-the-dashboard-0123456789"
MODEL = "fake/fake-model"


class _Shots(Screenshots):
    """Screenshots named ``setup-NN-name.png``, beside those of the other browser tests."""

    def __init__(self) -> None:
        self.folder = ARTIFACTS
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("setup-*.png"):
            old.unlink()
        self.saved: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"setup-{len(self.saved) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.saved.append(path)
        return path


@pytest.fixture(scope="module")
def shots() -> _Shots:
    return _Shots()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("ui-setup")
    # A fresh home: no settings.yaml (the gateway writes the defaults), no router model.
    # The default providers are unreachable here (no network; nothing on Ollama's port).
    env = {"OPENAI_API_KEY": "", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    with GatewayProcess(root / "home", None, env=env) as process:
        yield process


@pytest.fixture
def page(browser: Browser, gateway: GatewayProcess) -> Iterator[Page]:
    with dashboard(browser, gateway.base_url) as tab:
        yield tab


def settings_text(gateway: GatewayProcess) -> str:
    return (gateway.home / "settings.yaml").read_text("utf-8")


def test_fresh_home_shows_the_checklist_and_the_banner(
    page: Page, gateway: GatewayProcess, shots: _Shots
) -> None:
    setup = page.locator("#setup-card")
    expect(setup).to_be_visible()
    expect(page.locator("#setup-heading")).to_have_text("Before the first request")
    # The connect snippet uses this gateway's own address and the auto model.
    expect(page.locator("#connect-base")).to_have_text(gateway.v1_url)
    snippet = page.locator("#connect-snippet")
    expect(snippet).to_contain_text(f'base_url="{gateway.v1_url}"')
    expect(snippet).to_contain_text('model="localrouter/auto"')
    page.get_by_role("button", name="curl").click()
    expect(snippet).to_contain_text(f"curl {gateway.v1_url}/chat/completions")
    page.get_by_role("button", name="Claude Code").click()
    expect(snippet).to_contain_text(f"ANTHROPIC_BASE_URL={gateway.base_url}")
    page.get_by_role("button", name="Python").click()

    # Nothing answers yet, and the model is missing (its size is said before downloading).
    expect(page.locator("#setup-provider")).to_have_attribute("data-done", "false")
    expect(page.locator("#setup-provider-text")).to_contain_text("could not connect", timeout=WAIT)
    expect(page.locator("#setup-model-text")).to_contain_text("Not downloaded (about 1.1 GB)")
    expect(page.get_by_role("button", name="Download the router model")).to_be_visible()

    # The banner says where auto traffic goes while the router cannot route.
    banner = page.locator("#routing-banner")
    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_have_text(
        "localrouter/auto is not routed now (the router model is not downloaded): "
        "every request goes to the strong tier (first openai/gpt-4o)."
    )
    shots.take(page, "fresh-home-checklist")

    # The delete dialog no longer claims a fallback to the weak tier.
    html = page.content()
    assert "falls back to the weak tier" not in html


def test_add_a_provider_test_it_and_route_to_it(
    page: Page, gateway: GatewayProcess, upstream: FakeUpstream, shots: _Shots
) -> None:
    # A comment the user wrote in settings.yaml must survive the dashboard's changes.
    path = gateway.home / "settings.yaml"
    path.write_text("# my gateway, keep this comment\n" + settings_text(gateway), "utf-8")

    form = page.locator("#provider-form")
    form.get_by_label("Name", exact=True).fill("fake")
    form.get_by_label("Base URL").fill(upstream.base_url)
    form.get_by_label("API", exact=True).select_option("openai-chat")
    form.get_by_label("enter it once").check()
    form.get_by_label("Key", exact=True).fill(TYPED_KEY)
    shots.take(page, "provider-form")
    upstream.reset()
    page.get_by_role("button", name="Add provider").click()

    row = page.locator('#providers-body tr[data-provider="fake"]')
    expect(row).to_be_visible(timeout=WAIT)
    expect(row).to_contain_text("stored")
    expect(row.locator("td.conn")).to_have_text("answers (1 model)", timeout=WAIT)
    assert TYPED_KEY not in page.content()
    # The upstream got the key with the model-list request; the key is in a 0600 file.
    [listing] = [r for r in upstream.requests if r.path.endswith("/models")]
    assert listing.headers["authorization"] == f"Bearer {TYPED_KEY}"
    key_file = gateway.home / "keys" / "fake.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert TYPED_KEY not in settings_text(gateway)

    # Test connection from the row, then pick the provider's own model for both chains
    # (the router model is missing, so auto traffic goes to the strong tier for now).
    row.get_by_role("button", name="Test the connection to fake").click()
    models = page.locator("#provider-models")
    expect(models).to_be_visible(timeout=WAIT)
    models.get_by_role("button", name=f"Add {MODEL} to the weak chain").click()
    expect(page.locator("#chain-weak")).to_contain_text(MODEL, timeout=WAIT)
    models.get_by_role("button", name=f"Add {MODEL} to the strong chain").click()
    expect(page.locator("#chain-strong")).to_contain_text(MODEL, timeout=WAIT)
    expect(models.get_by_role("button", name=f"{MODEL} is in the strong chain")).to_be_disabled()
    page.get_by_role("button", name="Remove openai/gpt-4o").click()
    expect(page.locator("#chain-strong")).not_to_contain_text("openai/gpt-4o", timeout=WAIT)
    page.get_by_role("button", name="Remove ollama/llama3.2").click()
    expect(page.locator("#chain-weak")).not_to_contain_text("ollama", timeout=WAIT)
    expect(page.locator("#routing-banner")).to_contain_text(f"(first {MODEL})")
    shots.take(page, "provider-added")

    text = settings_text(gateway)
    assert text.startswith("# my gateway, keep this comment\n")
    assert (gateway.home / "settings.yaml.bak").exists()
    saved = yaml.safe_load(text)
    assert saved["routing"]["weak"] == [MODEL] and saved["routing"]["strong"] == [MODEL]

    # A request through the openai SDK reaches the new provider.
    upstream.reset()
    sdk = OpenAI(base_url=gateway.v1_url, api_key="unused-on-loopback", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="localrouter/auto", messages=[{"role": "user", "content": "Hello"}]
    )
    assert raw.headers["x-localrouter-model"] == MODEL
    assert raw.parse().choices[0].message.content == "reply from fake-model"
    [sent] = upstream.requests_for("fake-model")
    assert sent.headers["authorization"] == f"Bearer {TYPED_KEY}"

    # The checklist: the provider step is done; the model step still waits.
    page.reload()
    expect(page.locator("#setup-provider")).to_have_attribute("data-done", "true", timeout=WAIT)
    expect(page.locator("#setup-model")).to_have_attribute("data-done", "false")


def test_row_details_open_by_keyboard(page: Page, gateway: GatewayProcess, shots: _Shots) -> None:
    wait_until(
        lambda: httpx.get(gateway.base_url + "/api/requests", timeout=5).json()["total"] >= 1,
        what="a logged request",
    )
    row = page.locator("#requests-body tr.row").first
    expect(row).to_be_visible(timeout=WAIT)
    expect(page.locator("#requests-count")).to_contain_text("Showing 1 of 1 request")
    # All the traffic is recent: the period follows it.
    expect(page.locator("#period")).to_have_value("1", timeout=WAIT)
    expect(row).to_have_attribute("aria-expanded", "false")
    row.focus()
    page.keyboard.press("Enter")
    expect(row).to_have_attribute("aria-expanded", "true")
    details = page.locator("#requests-body tr.details")
    expect(details).to_be_visible()
    # Routed strong (the router cannot route: no model), answered by the strong tier.
    expect(details).to_contain_text("routed strong, answered by strong")
    expect(details).to_contain_text("router unavailable")
    expect(details).to_contain_text(MODEL)
    shots.take(page, "row-details")
    page.keyboard.press(" ")
    expect(row).to_have_attribute("aria-expanded", "false")
    expect(details).to_have_count(0)

    # The filter: no errors among the requests.
    page.get_by_label("Status", exact=True).select_option("error")
    expect(page.locator("#requests-body")).to_contain_text("No requests match the filter.")
    page.get_by_label("Status", exact=True).select_option("")
    expect(page.locator("#requests-body tr.row")).to_have_count(1, timeout=WAIT)


def test_phone_layout_puts_tier_and_win_rate_first(
    browser: Browser, gateway: GatewayProcess, shots: _Shots
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    tab.goto(gateway.base_url + "/")
    row = tab.locator("#requests-body tr.row").first
    expect(row).to_be_visible(timeout=WAIT)
    assert tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    headers = tab.locator("#requests thead th")
    texts = [t.strip() for t in headers.all_inner_texts()]
    assert texts.index("Tier") < texts.index("Client")
    assert texts[2].startswith("Win rate") and texts.index("Client") > 2
    # Tier and win rate are on screen without scrolling the table sideways.
    for index in (1, 2):
        box = row.locator("td").nth(index).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390, (index, box)
    expect(tab.locator("#routing-banner")).to_be_visible()
    shots.take(tab, "phone-390")
    context.close()


def test_a_failed_download_is_not_announced_as_started(
    page: Page, gateway: GatewayProcess, shots: _Shots
) -> None:
    # This gateway's hub is unreachable: the download fails at once.
    page.get_by_role("button", name="Download the router model").click()
    expect(page.locator("#router-state")).to_have_text("failed", timeout=WAIT)
    expect(page.locator("#router-error")).to_be_visible()
    expect(page.locator("#notice")).not_to_have_class(re.compile(r"\bshow\b"))
    assert page.locator("#notice").evaluate("el => getComputedStyle(el).opacity") == "0"
    expect(page.locator("#routing-banner")).to_contain_text(
        "(the router model's download failed): every request goes to the strong tier"
    )
    expect(page.locator("#setup-model-text")).to_contain_text("Failed:")
    shots.take(page, "download-failed")
