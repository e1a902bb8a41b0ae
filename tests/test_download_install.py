"""install.py end to end against the fake hub: staging, conversion, smoke prediction,
atomic swap, and what every kind of failure leaves behind (nothing but the old model)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localrouter.paths import routellm_dir
from localrouter.routellm.acquisition.hub import DownloadCancelled, HubConfig, ProgressTracker
from localrouter.routellm.acquisition.install import (
    DownloadInProgress,
    DownloadLock,
    InstallResult,
    install_model,
    installed_info,
    installed_model_dir,
    request_cancel,
)
from localrouter.routellm.errors import DownloadError, RouterModelError
from localrouter.routellm.service import RouterService
from localrouter.settings import RouteLLMSettings
from tests.support.fake_hub import FakeHub, FakeRepo
from tests.support.polling import Background, wait_for

REPO = "routellm/bert_gpt4_augmented"


def _install(home: Path, hub: FakeHub, timeout: float = 2.0, **kwargs: Any) -> InstallResult:
    config = HubConfig(endpoint=hub.url, retries=2, timeout=timeout)
    return install_model(
        home, repo_id=REPO, revision="main", precision="int8", hub=config, **kwargs
    )


def _leftovers(home: Path) -> list[str]:
    root = routellm_dir(home)
    return sorted(
        p.name
        for p in root.iterdir()
        if p.name.startswith((".staging-", ".trash-", ".current-", ".download-"))
    )


def _versions(home: Path) -> list[str]:
    folder = routellm_dir(home) / "versions"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_install_end_to_end(home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path) -> None:
    repo = fake_hub.add_repo(REPO, xlmr_checkpoint)
    seen: list[int] = []
    result = _install(home, fake_hub, on_progress=lambda s: seen.append(s.downloaded_bytes))
    assert result.commit == repo.commit and not result.reused
    assert result.downloaded_bytes == repo.total_bytes
    model_dir = installed_model_dir(home)
    assert model_dir == result.model_dir == routellm_dir(home) / "versions" / repo.commit
    assert (routellm_dir(home) / "current").is_symlink()
    info = installed_info(home)
    assert info is not None and info["commit"] == repo.commit and info["repo_id"] == REPO
    for name, data in repo.files.items():
        assert (model_dir / name).read_bytes() == data
    assert (model_dir / "onnx" / "model.int8.onnx").exists()  # converted during install
    assert not (routellm_dir(home) / "downloads").exists()  # resume cache no longer needed
    assert _leftovers(home) == [] and not (routellm_dir(home) / "download.json").exists()
    assert seen == sorted(seen) and seen[-1] == repo.total_bytes

    gets = sum(1 for m, _, _ in fake_hub.requests if m == "GET")
    again = _install(home, fake_hub)  # same commit: nothing downloaded
    assert again.reused and again.model_dir == model_dir
    assert sum(1 for m, p, _ in fake_hub.requests if m == "GET" and "/api/" not in p) == gets - 1


def test_not_enough_disk_is_refused_before_downloading(
    home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    monkeypatch.setenv("LOCALROUTER_FAKE_FREE_BYTES", "1000000")
    with pytest.raises(
        DownloadError,
        match=r"not enough free disk space .* need about "
        r"[\d.]+ MB but only 1\.0 MB is free",
    ):
        _install(home, fake_hub)
    with pytest.raises(DownloadError, match="not enough free disk space"):
        _install(home, fake_hub, free_bytes=10)  # or by parameter
    assert not [r for r in fake_hub.requests if r[0] == "GET" and "/api/" not in r[1]]
    assert installed_model_dir(home) is None and _leftovers(home) == []


def test_failures_keep_the_previous_model(
    home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path, checkpoint_factory: Callable[..., Path]
) -> None:
    first = fake_hub.add_repo(REPO, xlmr_checkpoint)
    _install(home, fake_hub)
    before = installed_model_dir(home)
    service = RouterService(home, lambda: RouteLLMSettings())
    try:
        expected = service.predict(["hello"])[0].win_rate

        second = fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr", seed=1))
        assert second.commit != first.commit
        fake_hub.corrupt = {"model.safetensors"}
        with pytest.raises(DownloadError, match=r"model\.safetensors failed its checksum"):
            _install(home, fake_hub)
        fake_hub.corrupt = set()
        fake_hub.die_at["model.safetensors"] = 1000
        with pytest.raises(DownloadError, match="cannot reach the hub"):
            _install(home, fake_hub)

        assert installed_model_dir(home) == before
        assert installed_info(home)["commit"] == first.commit  # type: ignore[index]
        assert _versions(home) == [first.commit] and _leftovers(home) == []
        assert service.predict(["hello"])[0].win_rate == expected
        assert service.status()["state"] == "ready"
    finally:
        service.close()


def test_conversion_failure_installs_nothing(
    home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path
) -> None:
    files = {p.name: p.read_bytes() for p in xlmr_checkpoint.iterdir() if p.is_file()}
    files["model.safetensors"] = b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"
    fake_hub.add_repo(REPO, files=files)
    with pytest.raises(RouterModelError, match="could not be prepared"):
        _install(home, fake_hub)
    assert installed_model_dir(home) is None
    assert _versions(home) == [] and _leftovers(home) == []


def test_one_download_at_a_time(home: Path, fake_hub: FakeHub, big_checkpoint: Path) -> None:
    repo = fake_hub.add_repo(REPO, big_checkpoint)
    fake_hub.hang_at["model.safetensors"] = 100_000  # the first download stalls there
    tracker = ProgressTracker()
    outcome: list[object] = []
    worker = Background(
        lambda: outcome.append(_install(home, fake_hub, timeout=60, tracker=tracker))
    )
    try:
        wait_for(lambda: fake_hub.served("model.safetensors") >= 100_000, timeout=10)
        with pytest.raises(DownloadInProgress) as info:
            _install(home, fake_hub)
        assert info.value.progress is not None
        assert info.value.progress["total_bytes"] == repo.total_bytes
        service = RouterService(home, lambda: RouteLLMSettings())
        try:
            status = service.start_download()
            assert status["started"] is False and status["state"] == "downloading"
            assert status["total_bytes"] == repo.total_bytes
        finally:
            service.close()
    finally:
        fake_hub.release.set()
        worker.join(30)
    assert outcome and installed_model_dir(home) is not None


def test_cancel_then_resume_without_downloading_again(
    home: Path, fake_hub: FakeHub, big_checkpoint: Path
) -> None:
    repo = fake_hub.add_repo(REPO, big_checkpoint)
    size = len(repo.files["model.safetensors"])
    fake_hub.throttle_bps = 2_000_000
    cancel, tracker = threading.Event(), ProgressTracker()
    worker = Background(lambda: _install(home, fake_hub, cancel=cancel, tracker=tracker))
    wait_for(lambda: fake_hub.served("model.safetensors") >= size // 4, timeout=10)
    cancel.set()
    assert worker.join(10) and isinstance(worker.errors[0], DownloadCancelled)
    assert installed_model_dir(home) is None and _leftovers(home) == []
    partial = routellm_dir(home) / "downloads" / repo.commit / "model.safetensors.part"
    kept = partial.stat().st_size
    assert 0 < kept < size
    assert DownloadLock(home).try_acquire()  # released

    fake_hub.throttle_bps = None
    first_new = len(fake_hub.requests)
    result = _install(home, fake_hub)
    assert result.downloaded_bytes == size - kept
    gets = [
        (path, rng)
        for method, path, rng in fake_hub.requests[first_new:]
        if method == "GET" and "/api/" not in path
    ]
    # Only the unfinished file was asked for, from where it stopped; the others were
    # complete and verified, so they were not fetched again.
    assert gets and all(path.endswith("/model.safetensors") for path, _ in gets)
    assert all(rng == f"bytes={kept}-" for _, rng in gets)
    assert installed_model_dir(home) is not None


_STALL_AT = 100_000  # bytes of model.safetensors sent before the fake hub goes silent


def _stalled_part(home: Path, commit: str) -> Path:
    return routellm_dir(home) / "downloads" / commit / "model.safetensors.part"


def _already(repo: FakeRepo) -> int:
    """Bytes of the files fetched before the weights (the small files come first)."""
    return sum(len(data) for name, data in repo.files.items() if name != "model.safetensors")


def _assert_cancelled_and_resumable(home: Path, part: Path) -> None:
    assert installed_model_dir(home) is None and _versions(home) == []
    assert _leftovers(home) == [] and not (routellm_dir(home) / "download.json").exists()
    assert part.stat().st_size == _STALL_AT  # kept for resume, as after any cancel
    assert DownloadLock(home).try_acquire()  # released


def test_ui_cancel_stops_a_stalled_read_within_a_second(
    home: Path, fake_hub: FakeHub, big_checkpoint: Path
) -> None:
    """The hub sent headers and some bytes, then holds the connection open in silence. The
    UI's Cancel (POST /router/download/cancel: ``cancel_download``) ends the gateway's own
    download well before the 10 s stall limit would."""
    repo = fake_hub.add_repo(REPO, big_checkpoint)
    fake_hub.hang_at["model.safetensors"] = _STALL_AT
    assert HubConfig.from_env().timeout == 10.0  # the service's real stall limit
    part = _stalled_part(home, repo.commit)
    service = RouterService(home, lambda: RouteLLMSettings())
    try:
        assert service.start_download()["started"] is True
        wait_for(
            lambda: (
                fake_hub.stalled("model.safetensors")
                and service.status().get("downloaded_bytes") == _already(repo) + _STALL_AT
            ),
            timeout=20,
        )
        started = time.monotonic()
        status = service.cancel_download()
        elapsed = time.monotonic() - started
        assert status["state"] == "not_downloaded" and status["error"] is None, status
        assert elapsed < 3, f"the cancel took {elapsed:.1f} s"
    finally:
        fake_hub.release.set()
        service.close()
    _assert_cancelled_and_resumable(home, part)


def test_cancel_from_another_process_stops_a_stalled_read_within_a_second(
    home: Path, fake_hub: FakeHub, big_checkpoint: Path
) -> None:
    """A download run by the CLI (here: install_model in a thread, as the CLI runs it),
    cancelled from the gateway's UI through the cancel file (``request_cancel``)."""
    repo = fake_hub.add_repo(REPO, big_checkpoint)
    fake_hub.hang_at["model.safetensors"] = _STALL_AT
    part = _stalled_part(home, repo.commit)
    tracker = ProgressTracker()
    # HubConfig from the environment: the real 10 s stall limit
    worker = Background(lambda: install_model(home, repo_id=REPO, revision="main", tracker=tracker))
    errors = worker.errors
    try:
        wait_for(
            lambda: (
                fake_hub.stalled("model.safetensors")
                and tracker.snapshot().downloaded_bytes == _already(repo) + _STALL_AT
            ),
            timeout=20,
        )
        started = time.monotonic()
        assert request_cancel(home) is True
        worker.done.wait(3)
        elapsed = time.monotonic() - started
    finally:
        fake_hub.release.set()
        worker.join(30)
    assert elapsed < 3, f"the cancel took {elapsed:.1f} s"
    assert len(errors) == 1 and isinstance(errors[0], DownloadCancelled), errors
    _assert_cancelled_and_resumable(home, part)


def test_offline_mode(
    home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE is set and no router model"):
        install_model(home, repo_id=REPO, revision="main")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    repo = fake_hub.add_repo(REPO, xlmr_checkpoint)
    _install(home, fake_hub)
    fake_hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = install_model(home, repo_id=REPO, revision="main")  # HubConfig from the env
    assert result.offline and result.commit == repo.commit
    assert install_model(home, repo_id=REPO, revision=repo.commit).offline
    with pytest.raises(DownloadError, match="installed commit is"):
        install_model(home, repo_id=REPO, revision="0" * 40)
    with pytest.raises(DownloadError, match="installed model is routellm/bert_gpt4_augmented"):
        install_model(home, repo_id="other/repo", revision="main")
    service = RouterService(home, lambda: RouteLLMSettings(idle_timeout_secs=0))
    try:
        assert 0.0 <= service.predict(["offline?"])[0].win_rate <= 1.0
    finally:
        service.close()


def test_interrupted_runs_are_cleaned_at_the_next_start(
    home: Path, fake_hub: FakeHub, xlmr_checkpoint: Path
) -> None:
    repo = fake_hub.add_repo(REPO, xlmr_checkpoint)
    _install(home, fake_hub)
    root = routellm_dir(home)
    (root / ".staging-abc-123").mkdir()
    (root / ".staging-abc-123" / "model.safetensors").write_bytes(b"half")
    (root / ".trash-1234").mkdir()
    (root / ".current-5678").symlink_to("versions/nothing")
    (root / "versions" / "old-commit").mkdir()
    (root / "download.json").write_text(json.dumps({"pid": 1}))
    (root / "downloads" / repo.commit).mkdir(parents=True)
    (root / "downloads" / repo.commit / "model.safetensors.part").write_bytes(b"resume me")

    service = RouterService(home, lambda: RouteLLMSettings())
    assert service.status()["state"] == "downloaded"
    # Creating a service and asking its status is read-only: nothing is removed yet.
    assert (root / ".staging-abc-123").is_dir() and (root / "versions" / "old-commit").is_dir()
    service.start()
    service.close()
    assert _leftovers(home) == [] and not (root / "download.json").exists()
    assert _versions(home) == [repo.commit]
    assert (root / "downloads" / repo.commit / "model.safetensors.part").exists()  # kept
    assert installed_model_dir(home) == root / "versions" / repo.commit
