"""`localrouter routellm download | status | unload | delete` as real processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from localrouter.paths import routellm_dir
from localrouter.routellm.acquisition.install import DownloadLock, installed_model_dir
from localrouter.routellm.service import RouterService
from localrouter.settings import RouteLLMSettings
from tests.support.fake_hub import HF_VARIABLES_TO_CLEAR, FakeHub, hf_environment
from tests.support.gateway import GatewayProcess
from tests.support.polling import wait_for
from tests.support.threaded_server import free_port

REPO = "routellm/bert_gpt4_augmented"


class Cli:
    """Runs `python -m localrouter ...` with a temp home pointed at the fake hub."""

    def __init__(self, home: Path, hub: FakeHub, hf_home: Path) -> None:
        self.home = home
        self.port = free_port()  # nothing listens here unless a test starts a gateway
        home.mkdir(parents=True, exist_ok=True)
        (home / "settings.yaml").write_text(
            yaml.safe_dump({"server": {"port": self.port}}), encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if k not in HF_VARIABLES_TO_CLEAR}
        env.pop("LOCALROUTER_ENV", None)
        env.update(hf_environment(hub.url, hf_home), LOCALROUTER_HOME=str(home), COLUMNS="120")
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "localrouter", "routellm", *args]

    def run(
        self, *args: str, extra: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


@pytest.fixture
def cli(tmp_path: Path, fake_hub: FakeHub) -> Cli:
    return Cli(tmp_path / "home", fake_hub, tmp_path / "hf")


def test_download_then_status(
    cli: Cli, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    repo = fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    result = cli.run("download")
    assert result.returncode == 0, result.stderr
    assert f"commit {repo.commit[:12]}" in result.stdout
    status = cli.status()
    assert status["state"] == "downloaded" and status["commit"] == repo.commit
    assert status["source"] == "local" and status["model_dir"] == str(installed_model_dir(cli.home))

    offline = cli.run(
        "download", extra={"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert offline.returncode == 0 and "HF_HUB_OFFLINE" in offline.stdout

    nothing = cli.run("unload")
    assert nothing.returncode == 0 and "No gateway is running" in nothing.stdout

    deleted = cli.run("delete")
    assert deleted.returncode == 0 and "Deleted" in deleted.stdout
    assert cli.status()["state"] == "not_downloaded"


def test_status_is_read_only(
    cli: Cli, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    repo = fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    assert cli.run("download").returncode == 0
    root = routellm_dir(cli.home)
    stale = root / "versions" / "old-commit"
    stale.mkdir()
    (root / ".staging-abc").mkdir()
    status = cli.status()
    assert status["state"] == "downloaded" and status["commit"] == repo.commit
    assert stale.is_dir() and (root / ".staging-abc").is_dir()  # status deleted nothing


def test_errors_are_one_line(
    cli: Cli, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    fake_hub.missing.add("model.safetensors")
    assert "model.safetensors" in one_line_error(cli.run("download"))
    fake_hub.missing.clear()
    low = cli.run("download", extra={"LOCALROUTER_FAKE_FREE_BYTES": "1000"})
    assert "not enough free disk space" in one_line_error(low)
    assert cli.status()["state"] == "not_downloaded"

    lock = DownloadLock(cli.home)  # as if another process were downloading
    assert lock.try_acquire()
    try:
        assert "already running" in one_line_error(cli.run("download"))
        assert "cancel it before deleting" in one_line_error(cli.run("delete"))
    finally:
        lock.release()


def test_ctrl_c_leaves_nothing_half_done_and_the_rerun_resumes(
    cli: Cli, fake_hub: FakeHub, big_checkpoint: Path
) -> None:
    repo = fake_hub.add_repo(REPO, big_checkpoint)
    size = len(repo.files["model.safetensors"])
    fake_hub.throttle_bps = 500_000
    process = cli.start("download")
    try:
        wait_for(lambda: fake_hub.served("model.safetensors") > size // 5, timeout=30)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Interrupted: nothing was installed" in stderr and "Traceback" not in stderr
    root = routellm_dir(cli.home)
    assert installed_model_dir(cli.home) is None and not (root / "current").exists()
    assert not [p for p in root.iterdir() if p.name.startswith((".staging", ".current"))]
    part = root / "downloads" / repo.commit / "model.safetensors.part"
    kept = part.stat().st_size
    assert 0 < kept < size
    assert cli.status()["state"] == "not_downloaded"

    fake_hub.throttle_bps = None
    first_new = len(fake_hub.requests)
    result = cli.run("download")
    assert result.returncode == 0, result.stderr
    gets = [(p, r) for m, p, r in fake_hub.requests[first_new:] if m == "GET" and "/api/" not in p]
    assert gets and all(p.endswith("model.safetensors") and r == f"bytes={kept}-" for p, r in gets)
    assert cli.status()["state"] == "downloaded"


def test_a_second_download_reports_the_first_which_another_process_cancels(
    cli: Cli, fake_hub: FakeHub, big_checkpoint: Path
) -> None:
    fake_hub.add_repo(REPO, big_checkpoint)
    fake_hub.throttle_bps = 100_000  # slow enough to still run while we look at it
    first = cli.start("download")
    try:
        wait_for(lambda: fake_hub.served("model.safetensors") > 0, timeout=30)
        status = cli.status()
        assert status["state"] == "downloading" and status["pid"] == first.pid
        assert status["total_bytes"] > 0
        second = cli.run("download")
        message = one_line_error(second)
        assert f"already running (process {first.pid})" in message and "%" in message

        # What the UI's cancel button does in the gateway process: ask the CLI to stop.
        service = RouterService(cli.home, lambda: RouteLLMSettings())
        try:
            assert service.cancel_download()["state"] == "not_downloaded"
        finally:
            service.close()
        _, stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1 and "Error: the download was cancelled" in stderr, stderr
    assert installed_model_dir(cli.home) is None


def test_unload_and_delete_talk_to_the_running_gateway(
    cli: Cli, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    assert cli.run("download").returncode == 0
    env = {k: v for k, v in cli.env.items() if k.startswith("HF_")}
    with GatewayProcess(cli.home, None, env=env, args=["--port", str(cli.port)]) as gateway:
        answer = httpx.post(
            gateway.base_url + "/api/router/predict", json={"prompt": "hello"}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        status = cli.status()
        assert status["source"] == "gateway" and status["state"] == "ready"
        assert status["memory_usage_mb"] is not None

        result = cli.run("unload")
        assert result.returncode == 0 and "Unloaded" in result.stdout, result.stderr
        after = httpx.get(gateway.base_url + "/api/router/status", timeout=10).json()
        assert after["state"] == "downloaded" and after["memory_usage_mb"] is None

        deleted = cli.run("delete")
        assert deleted.returncode == 0 and "through the gateway" in deleted.stdout
        after = httpx.get(gateway.base_url + "/api/router/status", timeout=10).json()
        assert after["state"] == "not_downloaded"
    assert installed_model_dir(cli.home) is None


def test_finds_a_gateway_on_any_port_and_says_when_there_is_nothing_to_do(cli: Cli) -> None:
    # settings.yaml names cli.port, where nothing listens; the gateway picks another port.
    with GatewayProcess(cli.home, None) as gateway:
        record = json.loads((cli.home / "gateway.json").read_text("utf-8"))
        assert record == {"url": gateway.base_url, "pid": gateway.process.pid}  # type: ignore[union-attr]
        status = cli.status()
        assert status["source"] == "gateway" and status["gateway_url"] == gateway.base_url
        assert status["state"] == "not_downloaded"
        text = cli.run("status")
        assert text.returncode == 0
        last = " ".join(text.stdout[text.stdout.rindex("Next:") :].split())  # the last paragraph
        assert last.startswith("Next: run `localrouter routellm download` (~1.1 GB)"), last
        assert last.endswith("go to the strong tier."), last

        unload = cli.run("unload")
        assert unload.returncode == 0, unload.stderr
        assert "nothing to unload" in unload.stdout and "Unloaded" not in unload.stdout
        assert gateway.base_url in unload.stdout
        delete = cli.run("delete")
        assert delete.returncode == 0, delete.stderr
        assert "nothing to delete" in delete.stdout and "Deleted" not in delete.stdout

        # --url wins over the recorded address (here: an address where nothing listens).
        elsewhere = f"http://127.0.0.1:{free_port()}"
        overridden = json.loads(cli.run("status", "--json", "--url", elsewhere).stdout)
        assert overridden["source"] == "local"
        unload = cli.run("unload", "--url", elsewhere + "/v1")
        assert f"No gateway is running at {elsewhere}," in unload.stdout
    # A clean shutdown removes the record.
    assert not (cli.home / "gateway.json").exists()
    assert cli.status()["source"] == "local"


def test_a_gateway_with_client_keys_needs_an_admin_key_from_the_environment(cli: Cli) -> None:
    admin_key, client_key = "admin-key-0123456789", "client-key-0123456789"
    clients = [
        {
            "name": "ops",
            "key_sha256": hashlib.sha256(admin_key.encode()).hexdigest(),
            "role": "admin",
        },
        {"name": "app", "key_sha256": hashlib.sha256(client_key.encode()).hexdigest()},
    ]
    settings = {"server": {"port": cli.port}, "clients": clients}
    with GatewayProcess(cli.home, settings):
        for command in (["status"], ["unload"], ["delete"]):
            refused = one_line_error(cli.run(*command))
            assert "needs an admin key: set LOCALROUTER_API_KEY" in refused, refused
        wrong = cli.run("status", extra={"LOCALROUTER_API_KEY": client_key})
        assert "LOCALROUTER_API_KEY was refused" in one_line_error(wrong)
        assert client_key not in wrong.stdout + wrong.stderr

        admin = {"LOCALROUTER_API_KEY": admin_key}
        status = cli.run("status", "--json", extra=admin)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["source"] == "gateway"
        unload = cli.run("unload", extra=admin)
        assert unload.returncode == 0 and "nothing to unload" in unload.stdout, unload.stderr
        delete = cli.run("delete", extra=admin)
        assert delete.returncode == 0 and "nothing to delete" in delete.stdout, delete.stderr
        for result in (status, unload, delete):
            assert admin_key not in result.stdout + result.stderr


def test_a_stale_gateway_record_is_ignored(cli: Cli) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    record = cli.home / "gateway.json"
    record.write_text(
        json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": int(dead.stdout)})
    )
    assert cli.status()["source"] == "local"
    # A live process (this one) whose address does not answer /health: ignored too.
    record.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": os.getpid()}))
    assert cli.status()["source"] == "local"
    nothing = cli.run("unload")
    assert nothing.returncode == 0 and f"127.0.0.1:{cli.port}" in nothing.stdout


def test_delete_with_nothing_installed_says_so(cli: Cli) -> None:
    result = cli.run("delete")
    assert result.returncode == 0, result.stderr
    assert "nothing to delete" in result.stdout and "Deleted" not in result.stdout

    part = routellm_dir(cli.home) / "downloads" / ("0" * 40) / "model.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half a file")
    result = cli.run("delete")
    assert result.returncode == 0, result.stderr
    assert "removed an unfinished download" in result.stdout and "Deleted" not in result.stdout
    assert not part.exists()
