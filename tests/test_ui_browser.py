"""The dashboard end to end: headless Chromium against a real `localrouter serve` process,
a fake Hugging Face hub (HF_ENDPOINT) serving a small generated checkpoint, and local
OpenAI-compatible upstreams. Requests are sent with the openai SDK like a real app would.

The tests share one gateway and run in file order (the download comes first, the delete
last). Each state is screenshotted under test-artifacts/ui/ (printed at the end of the run).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openai import OpenAI
from playwright.sync_api import Browser, Page, expect

from tests.support.fake_hub import FakeHub
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.ui.browser import WAIT, Screenshots, chromium, dashboard, wait_until

REPO_ID = "test-org/tiny-router"
WEIGHTS = "model.safetensors"
# Requests drawn in the traffic chart's strong and weak bars.
CHART_COUNT = """[...document.querySelectorAll('#chart rect.bar-strong, #chart rect.bar-weak')]
    .reduce((n, bar) => n + Number(bar.dataset.count), 0)"""


class _ScreenshotReport:
    """Prints where the screenshots are, after the test summary."""

    def __init__(self, shots: Screenshots) -> None:
        self.shots = shots

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.shots.saved:
            terminalreporter.write_line(
                f"UI screenshots ({len(self.shots.saved)}): {self.shots.folder}"
            )


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest) -> Screenshots:
    taken = Screenshots()
    request.config.pluginmanager.register(_ScreenshotReport(taken), "localrouter-ui-screenshots")
    return taken


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def hub(xlmr_checkpoint: Path) -> Iterator[FakeHub]:
    with FakeHub() as fake:
        fake.add_repo(REPO_ID, xlmr_checkpoint, only=_checkpoint_files(xlmr_checkpoint))
        yield fake


def _checkpoint_files(folder: Path) -> tuple[str, ...]:
    # The HF files only: the engine may have left converted files beside the shared fixture.
    wanted = (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "sentencepiece.bpe.model",
        "tokenizer_config.json",
        "special_tokens_map.json",
    )
    return tuple(name for name in wanted if (folder / name).exists())


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, hub: FakeHub, upstream: FakeUpstream
) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("ui-gateway")
    settings = {
        "providers": [
            {
                "name": "fast",
                "base_url": upstream.base_url,
                "models": ["big", "small"],
                "api_key": "sk-ui-test-never-shown",
            },
            {"name": "local", "base_url": upstream.base_url},
        ],
        "routing": {"strong": ["fast/big"], "weak": ["local/small"], "threshold": 0.3},
        "routellm": {"repo_id": REPO_ID},
    }
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "0"}
    with GatewayProcess(root / "home", settings, env=env) as process:
        yield process


@pytest.fixture
def page(browser: Browser, gateway: GatewayProcess) -> Iterator[Page]:
    with dashboard(browser, gateway.base_url) as tab:
        yield tab


@pytest.fixture(scope="module")
def sdk(gateway: GatewayProcess) -> OpenAI:
    return OpenAI(base_url=gateway.v1_url, api_key="unused-on-loopback", max_retries=0)


def saved_settings(gateway: GatewayProcess) -> dict[str, Any]:
    return yaml.safe_load((gateway.home / "settings.yaml").read_text(encoding="utf-8"))


def wait_saved(gateway: GatewayProcess, check: Callable[[dict[str, Any]], bool], what: str) -> None:
    wait_until(lambda: check(saved_settings(gateway)), what=f"settings.yaml: {what}")


def router_state(gateway: GatewayProcess) -> str:
    return httpx.get(gateway.base_url + "/api/router/status", timeout=5).json()["state"]


def ensure_installed(gateway: GatewayProcess, hub: FakeHub) -> None:
    """Install the model through the API when an earlier test left none (tests stay
    independent of their order)."""
    if router_state(gateway) != "not_downloaded":
        return
    hub.hang_at.pop(WEIGHTS, None)
    hub.release.set()
    answer = httpx.post(gateway.base_url + "/api/router/download", json={}, timeout=10)
    assert answer.status_code in (200, 202), answer.text
    wait_until(lambda: router_state(gateway) in ("downloaded", "ready"), timeout=60, what="install")


def ensure_not_installed(gateway: GatewayProcess) -> None:
    if router_state(gateway) != "not_downloaded":
        answer = httpx.delete(gateway.base_url + "/api/router", timeout=30)
        assert answer.status_code == 200, answer.text


def ask(sdk: OpenAI, text: str) -> tuple[dict[str, str], Any]:
    raw = sdk.chat.completions.with_raw_response.create(
        model="localrouter/auto", messages=[{"role": "user", "content": text}]
    )
    return dict(raw.headers), raw.parse()


def progress_percent(page: Page) -> float:
    return float(page.locator("#download-bar").evaluate("bar => bar.value"))


def hold_download_at(page: Page, hub: FakeHub, gateway: GatewayProcess, share: float) -> None:
    """No model installed, a fresh page, and the hub set to hold the weights' download at
    ``share`` of the file until ``hub.release`` is set."""
    ensure_not_installed(gateway)
    page.reload()
    hub.release.clear()
    hub.hang_at[WEIGHTS] = int(len(hub.repos[REPO_ID].files[WEIGHTS]) * share)


def test_cancel_a_download(
    page: Page, hub: FakeHub, gateway: GatewayProcess, shots: Screenshots
) -> None:
    hold_download_at(page, hub, gateway, 1 / 3)
    expect(page.locator("#router-state")).to_have_text("not downloaded")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator("#router-state")).to_have_text("downloading", timeout=WAIT)
    expect(page.locator("#download-progress")).to_be_visible()
    expect(page.locator("#download-text")).to_contain_text(WEIGHTS, timeout=WAIT)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#notice")).to_contain_text(
        "The partial files are kept: the next download resumes from them.", timeout=WAIT
    )
    expect(page.locator("#router-state")).to_have_text("not downloaded", timeout=WAIT)
    expect(page.locator("#download-progress")).to_be_hidden()
    expect(page.get_by_role("button", name="Download", exact=True)).to_be_enabled()
    shots.take(page, "download-cancelled")
    hub.release.set()  # let the hub's held response finish off


def test_download_shows_live_progress_until_100_percent(
    page: Page, hub: FakeHub, gateway: GatewayProcess, shots: Screenshots
) -> None:
    hold_download_at(page, hub, gateway, 1 / 2)
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator("#download-text")).to_contain_text(WEIGHTS, timeout=WAIT)
    # Held halfway through the weights: the bar shows a partial, growing download.
    wait_until(lambda: 0 < progress_percent(page) < 100, what="a partial progress bar")
    expect(page.locator("#download-text")).to_contain_text(" of ")
    expect(page.locator("#download-text")).to_contain_text("/s")
    expect(page.locator("#download-percent")).to_have_text(re.compile(r"^\d{1,2}%$"))
    expect(page.get_by_role("button", name="Cancel")).to_be_enabled()
    expect(page.get_by_role("button", name="Download", exact=True)).to_be_disabled()
    shots.take(page, "downloading")

    hub.release.set()
    expect(page.locator("#download-percent")).to_have_text("100%", timeout=WAIT)
    expect(page.locator("#router-state")).to_have_text(re.compile("downloaded|ready"), timeout=WAIT)
    assert progress_percent(page) == 100
    expect(page.locator("#router-revision")).to_contain_text("main")
    expect(page.locator("#router-dir")).not_to_have_text("—")
    shots.take(page, "downloaded")


def test_try_it_then_unload_and_reload(
    page: Page, hub: FakeHub, gateway: GatewayProcess, shots: Screenshots
) -> None:
    ensure_installed(gateway, hub)
    page.reload()
    page.get_by_label("Prompt").fill("Prove that there are infinitely many primes.")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#try-win-rate")).to_have_text(re.compile(r"^[01]\.\d{4} \("), timeout=WAIT)
    expect(page.locator("#try-route")).to_have_text(re.compile("^(strong|weak)$"))
    expect(page.locator("#try-threshold")).to_have_text("at threshold 0.30")
    expect(page.locator("#try-tokens")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#try-latency")).to_have_text(re.compile(r"\d+ ms$|s$"))
    # Try it names the model the prompt would go to: the first of the decided tier's chain.
    tier = page.locator("#try-route").inner_text()
    first = {"strong": "fast/big", "weak": "local/small"}[tier]
    expect(page.locator("#try-model")).to_have_text(f"{first} (first of the {tier} chain)")
    expect(page.locator("#router-state")).to_have_text("ready", timeout=WAIT)
    expect(page.locator("#router-memory")).to_have_text(re.compile(r"\d+ MB"), timeout=WAIT)
    shots.take(page, "try-it-ready")

    page.get_by_role("button", name="Unload").click()
    expect(page.locator("#router-state")).to_have_text("downloaded", timeout=WAIT)
    expect(page.locator("#router-memory")).to_have_text("not loaded")
    assert router_state(gateway) == "downloaded"
    shots.take(page, "unloaded")

    page.get_by_role("button", name="Load now").click()
    expect(page.locator("#router-state")).to_have_text("ready", timeout=WAIT)
    expect(page.get_by_role("button", name="Load now")).to_be_hidden()
    assert router_state(gateway) == "ready"

    # Examples, Ctrl+Enter and a short history of the last predictions.
    page.get_by_role("button", name="Easy fact").click()
    expect(page.locator("#try-prompt")).to_have_value("What is the capital of France?")
    expect(page.locator("#try-history li")).to_have_count(2, timeout=WAIT)
    page.get_by_label("Prompt").fill("Write a sonnet about the sea.")
    page.get_by_label("Prompt").press("Control+Enter")
    expect(page.locator("#try-history li")).to_have_count(3, timeout=WAIT)
    expect(page.locator("#try-history li").first).to_contain_text("Write a sonnet")
    shots.take(page, "try-it-history")


def test_threshold_change_routes_the_next_request(
    page: Page, hub: FakeHub, gateway: GatewayProcess, sdk: OpenAI, shots: Screenshots
) -> None:
    ensure_installed(gateway, hub)
    page.reload()
    prompt = "Explain the difference between TCP and UDP."
    slider = page.locator("#threshold")

    slider.fill("0")
    expect(page.locator("#threshold-value")).to_have_text("0.00")
    expect(page.locator("#threshold-state")).to_have_text("saved", timeout=WAIT)
    wait_saved(gateway, lambda s: s["routing"]["threshold"] == 0, "threshold 0")
    headers, reply = ask(sdk, prompt)
    win_rate = float(headers["x-localrouter-win-rate"])
    assert headers["x-localrouter-tier"] == "strong"
    assert reply.model == "big"
    assert win_rate < 1.0  # so threshold 1 must send it to the weak tier

    slider.fill("1")
    expect(page.locator("#threshold-state")).to_have_text("saved", timeout=WAIT)
    wait_saved(gateway, lambda s: s["routing"]["threshold"] == 1, "threshold 1")
    headers, reply = ask(sdk, prompt)
    assert headers["x-localrouter-tier"] == "weak"
    assert reply.model == "small"

    page.get_by_role("button", name="Cost saving").click()
    expect(page.get_by_role("button", name="Cost saving")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#threshold-value")).to_have_text("0.50")
    wait_saved(gateway, lambda s: s["routing"]["threshold"] == 0.5, "preset 0.5")
    # The keyboard moves the slider too (one step per arrow press), and that is saved.
    slider.focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#threshold-value")).to_have_text("0.49")
    wait_saved(gateway, lambda s: s["routing"]["threshold"] == 0.49, "threshold 0.49")
    headers, _ = ask(sdk, prompt)
    expected = "strong" if float(headers["x-localrouter-win-rate"]) >= 0.49 else "weak"
    assert headers["x-localrouter-tier"] == expected
    # The share line speaks about the threshold on the slider, from logged win rates.
    expect(page.locator("#share-text")).to_contain_text("At 0.49", timeout=WAIT)
    expect(page.locator("#share-value")).to_have_text(re.compile(r"^\d+%$"))
    shots.take(page, "threshold-changed")


def test_traffic_shows_a_request_from_the_openai_sdk(
    page: Page, hub: FakeHub, gateway: GatewayProcess, sdk: OpenAI, shots: Screenshots
) -> None:
    ensure_installed(gateway, hub)
    page.reload()
    headers, _ = ask(sdk, "What is the capital of France?")
    row = page.locator(f'#requests-body tr[data-request-id="{headers["x-request-id"]}"]')
    expect(row).to_be_visible(timeout=WAIT)  # auto-refresh brings it in
    cells = row.locator("td")
    # Tier and win rate come first: on a phone they stay in view before the client.
    expect(cells.nth(1)).to_have_text(headers["x-localrouter-tier"])
    expect(cells.nth(2)).to_have_text(f"{float(headers['x-localrouter-win-rate']):.3f}")
    expect(cells.nth(3)).to_have_text("localrouter/auto")
    expect(cells.nth(4)).to_have_text(headers["x-localrouter-model"])
    expect(cells.nth(6)).to_have_text(re.compile(r"\d+ ms$|s$"))
    expect(cells.nth(7)).to_have_text("success")

    gateway.entry(headers["x-request-id"])  # on disk, like every earlier request
    routed = sum(1 for e in gateway.log_entries() if e.get("tier") in ("strong", "weak"))
    wait_until(
        lambda: page.evaluate(CHART_COUNT) == routed,
        what=f"the chart to count all {routed} routed requests",
    )
    expect(page.locator("#savings")).to_contain_text("routed requests went to the weak tier")
    expect(page.locator("#savings")).to_contain_text("no price for")

    # With prices, the saving is shown in dollars.
    for model, prices in (("fast/big", ("2.5", "10")), ("local/small", ("0", "0"))):
        row = page.locator(f'#prices-body tr[data-model="{model}"]')
        row.get_by_label(f"{model} input price").fill(prices[0])
        row.get_by_label(f"{model} output price").fill(prices[1])
    page.get_by_role("button", name="Save prices").click()
    expect(page.locator("#savings")).to_contain_text(
        re.compile(r"Spent \$[\d.]+ instead of \$[\d.]+ \([−+]\d+%\)"), timeout=WAIT
    )
    wait_saved(gateway, lambda s: s["prices"]["fast/big"]["output"] == 10, "prices")
    assert "sk-ui-test-never-shown" not in page.content()
    shots.take(page, "traffic")


def test_settings_controls_persist(page: Page, gateway: GatewayProcess, shots: Screenshots) -> None:
    page.get_by_label("Unload from memory when idle for").select_option(label="30 min")
    wait_saved(gateway, lambda s: s["routellm"].get("idle_timeout_secs") == 1800, "idle 30 min")
    page.get_by_label("Unload from memory when idle for").select_option(label="never")
    wait_saved(gateway, lambda s: s["routellm"]["idle_timeout_secs"] == 0, "idle never")

    page.get_by_label("Model to add to the weak chain").select_option("fast/small")
    page.locator("#btn-add-weak").click()
    expect(page.locator("#chain-weak li")).to_have_count(2)
    wait_saved(gateway, lambda s: s["routing"]["weak"] == ["local/small", "fast/small"], "add")
    page.get_by_role("button", name="Move fast/small up").click()
    wait_saved(gateway, lambda s: s["routing"]["weak"] == ["fast/small", "local/small"], "move")
    expect(page.locator("#chain-weak li").first).to_contain_text("fast/small")
    shots.take(page, "chains-edited")
    page.get_by_role("button", name="Remove fast/small").click()
    wait_saved(gateway, lambda s: s["routing"]["weak"] == ["local/small"], "remove")

    page.get_by_label("with the router").uncheck()
    wait_saved(gateway, lambda s: s["routing"].get("enabled") is False, "routing off")
    page.get_by_label("with the router").check()
    wait_saved(gateway, lambda s: s["routing"]["enabled"] is True, "routing on")

    page.reload()  # what was saved is what the page shows
    expect(page.get_by_label("Unload from memory when idle for")).to_have_value("0", timeout=WAIT)
    threshold = saved_settings(gateway)["routing"]["threshold"]
    expect(page.locator("#threshold-value")).to_have_text(f"{threshold:.2f}", timeout=WAIT)


def test_narrow_window_and_keyboard(
    browser: Browser, gateway: GatewayProcess, sdk: OpenAI, shots: Screenshots
) -> None:
    ask(sdk, "A request for the table")
    context = browser.new_context(viewport={"width": 380, "height": 800})
    tab = context.new_page()
    tab.goto(gateway.base_url + "/")
    expect(tab.locator("#requests-body tr[data-request-id]").first).to_be_visible(timeout=WAIT)
    # Nothing wider than the window: only the requests table scrolls, inside its own box.
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    # Keyboard: Tab reaches the Predict button and the focus is visibly outlined.
    for _ in range(60):
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "btn-try":
            break
    assert tab.evaluate("document.activeElement.id") == "btn-try"
    outline = tab.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    shots.take(tab, "narrow-window")
    context.close()


def calibrate_api(gateway: GatewayProcess, strong_pct: float) -> httpx.Response:
    return httpx.post(
        gateway.base_url + "/api/calibrate", json={"strong_pct": strong_pct}, timeout=10
    )


def routing_threshold(gateway: GatewayProcess) -> float:
    settings = httpx.get(gateway.base_url + "/api/settings", timeout=5).json()
    return float(settings["routing"]["threshold"])


def test_calibrate_suggests_a_threshold_and_applies_it(
    page: Page, hub: FakeHub, gateway: GatewayProcess, sdk: OpenAI, shots: Screenshots
) -> None:
    ensure_installed(gateway, hub)
    for text in (
        "Write a haiku about autumn.",
        "Derive the closed form of the Fibonacci sequence.",
        "What time zone is Tokyo in?",
        "Design a lock-free queue in C++ and prove it linearizable.",
        "Translate 'good morning' into Spanish.",
    ):
        headers, _ = ask(sdk, text)
    gateway.entry(headers["x-request-id"])  # the traffic is logged, with win rates
    # A saved threshold finer than the slider's 0.01 steps is shown as it is.
    answer = httpx.patch(
        gateway.base_url + "/api/settings/routing", json={"threshold": 0.987}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    page.reload()
    expect(page.locator("#threshold-value")).to_have_text("0.987", timeout=WAIT)
    expect(page.locator("#threshold-state")).to_have_text("saved")

    # Keyboard only: type the share, Enter submits.
    share = page.get_by_label("Target strong share")
    share.fill("40")
    share.press("Enter")
    expect(page.locator("#calibrate-result")).to_be_visible(timeout=WAIT)
    answer = calibrate_api(gateway, 40)
    assert answer.status_code == 200, answer.text
    expected = answer.json()
    shown = page.locator("#calibrate-threshold").inner_text()
    slider = round(expected["threshold"], 2)  # suggestions are rounded to the slider's steps
    assert float(shown) == slider
    assert slider != 0.987  # so applying it is a visible change
    expect(page.locator("#calibrate-basis")).to_contain_text(
        f"{expected['prompts']} requests routed by {expected['router']} with a logged win rate "
        "in the last 7 days"
    )
    if slider == expected["threshold"]:  # else the share is the rounded threshold's
        expect(page.locator("#calibrate-share")).to_contain_text(
            f"{expected['strong_count']} of {expected['prompts']} (target 40%)"
        )
    expect(page.locator("#calibrate-table tr")).to_have_count(len(expected["table"]))
    shots.take(page, "calibration-suggested")

    apply = page.get_by_role("button", name=f"Apply threshold {shown}")
    apply.focus()
    page.keyboard.press("Enter")
    wait_until(
        lambda: routing_threshold(gateway) == slider,
        what=f"the gateway's threshold to become {slider}",
    )
    wait_saved(gateway, lambda s: s["routing"]["threshold"] == slider, "applied")
    expect(page.locator("#threshold-value")).to_have_text(shown)
    expect(page.locator("#threshold-state")).to_have_text("saved")
    expect(page.locator("#share-text")).to_contain_text(f"At {shown}", timeout=WAIT)

    # The next request is routed with it (the logged win rate has every digit; the header six).
    headers, _ = ask(sdk, "Explain the difference between TCP and UDP.")
    win_rate = gateway.entry(headers["x-request-id"])["routellm_win_rate"]
    assert headers["x-localrouter-tier"] == ("strong" if win_rate >= slider else "weak")
    expect(page.locator("#alerts")).to_be_empty()
    shots.take(page, "calibration-applied")

    # Narrow window: nothing overflows, and the table of other shares opens from the keyboard.
    page.set_viewport_size({"width": 380, "height": 800})
    page.get_by_text("Strong share at other thresholds").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#calibrate-table tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shots.take(page, "calibration-narrow")


def test_calibrate_errors_are_announced(
    browser: Browser, tmp_path: Path, shots: Screenshots
) -> None:
    with GatewayProcess(tmp_path / "home", {}) as fresh:
        context = browser.new_context(viewport={"width": 380, "height": 800})
        tab = context.new_page()
        tab.goto(fresh.base_url + "/")
        expect(tab.locator("#threshold-value")).to_have_text("0.30", timeout=WAIT)
        alert = tab.get_by_role("alert")
        share = tab.get_by_label("Target strong share")

        # No traffic logged yet: the API refuses, and the page says why.
        refused = calibrate_api(fresh, 30)
        assert refused.status_code == 409, refused.text
        share.fill("30")
        share.press("Enter")
        expect(alert).to_contain_text("Not enough logged traffic to calibrate", timeout=WAIT)
        expect(alert).to_contain_text(refused.json()["error"]["message"])
        expect(tab.locator("#calibrate-result")).to_be_hidden()
        assert tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        shots.take(tab, "calibrate-no-traffic")

        # A share outside 0-100, which the API rejects too, is refused with a clear sentence.
        assert calibrate_api(fresh, 150).status_code == 400
        share.fill("150")
        share.press("Enter")
        expect(alert).to_contain_text("must be a number from 0 to 100")
        expect(share).to_have_attribute("aria-invalid", "true")
        expect(tab.locator("#alerts .alert")).to_have_count(1)  # it replaced the first message
        context.close()


def test_delete_with_confirmation_then_an_api_error_is_shown(
    page: Page, hub: FakeHub, gateway: GatewayProcess, shots: Screenshots
) -> None:
    ensure_installed(gateway, hub)
    page.reload()
    dialog = page.get_by_role("dialog")
    page.get_by_role("button", name="Delete…").click()
    expect(dialog).to_be_visible()
    # Honest: without the model, auto traffic goes to the strong tier; the size is shown.
    expect(dialog).to_contain_text("every localrouter/auto request goes to the strong tier")
    expect(dialog).to_contain_text("(first fast/big)")
    expect(dialog.locator("#delete-size")).to_have_text(re.compile(r"^about [\d.]+ (kB|MB|GB)$"))
    assert "weak tier" not in dialog.inner_text()
    shots.take(page, "delete-confirmation")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    assert router_state(gateway) in ("ready", "downloaded")

    page.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#router-state")).to_have_text("not downloaded", timeout=WAIT)
    assert router_state(gateway) == "not_downloaded"
    expect(page.locator("#routing-banner")).to_contain_text(
        "(the router model is not downloaded): every request goes to the strong tier"
    )

    # The API refuses a prediction without a model; the page says so in its alert region.
    page.get_by_label("Prompt").fill("Is anyone there?")
    page.get_by_role("button", name="Predict").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Prediction failed", timeout=WAIT)
    expect(alert).to_have_attribute("aria-live", "assertive")
    shots.take(page, "api-error")
    alert.get_by_role("button", name="Dismiss this message").click()
    expect(page.locator("#alerts")).to_be_empty()


def test_a_gateway_with_client_keys_asks_for_one(
    browser: Browser, tmp_path: Path, shots: Screenshots
) -> None:
    key = "sk-client-for-the-dashboard"
    app_key = "sk-client-of-an-app"  # reaches the model APIs only: refused by the dashboard
    settings = {
        "clients": [
            {
                "name": "dashboard",
                "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "role": "admin",
            },
            {"name": "app", "key_sha256": hashlib.sha256(app_key.encode()).hexdigest()},
        ]
    }
    with GatewayProcess(tmp_path / "home", settings) as keyed:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.goto(keyed.base_url + "/")
        form = tab.locator("#auth-form")
        expect(form).to_be_visible(timeout=WAIT)
        expect(tab.get_by_role("alert")).to_contain_text("API key")
        shots.take(tab, "client-key-needed")
        tab.get_by_label("Client key").fill("sk-wrong")
        tab.get_by_role("button", name="Use key").click()
        expect(form).to_be_visible(timeout=WAIT)  # refused again
        tab.get_by_label("Client key").fill(app_key)
        tab.get_by_role("button", name="Use key").click()
        expect(tab.get_by_role("alert")).to_contain_text("role: admin", timeout=WAIT)
        expect(form).to_be_visible(timeout=WAIT)
        tab.get_by_label("Client key").fill(key)
        tab.get_by_role("button", name="Use key").click()
        expect(tab.locator("#router-state")).to_have_text("not downloaded", timeout=WAIT)
        expect(form).to_be_hidden()
        expect(tab.locator("#threshold-value")).to_have_text("0.30", timeout=WAIT)
        expect(tab.locator("#alerts")).to_be_empty()

        keyed.stop()  # the gateway goes away: the page says so instead of going stale
        expect(tab.get_by_role("alert")).to_contain_text("Connection lost", timeout=WAIT)
        expect(tab.locator("#connection")).to_have_text("Gateway unreachable")
        expect(tab.locator("#alerts .alert")).to_have_count(1)  # one message, not one per poll
        shots.take(tab, "gateway-gone")
        context.close()
