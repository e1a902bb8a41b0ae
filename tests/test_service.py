"""RouterService: states, lazy and single loading, idle unload that gives memory back,
predictions racing unloads, settings read at run time, downloads through the service."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localrouter.routellm import service as service_module
from localrouter.routellm.acquisition.hub import HubConfig
from localrouter.routellm.acquisition.install import (
    DownloadInProgress,
    DownloadLock,
    installed_model_dir,
)
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.inference.engine import RouterEngine
from localrouter.routellm.inference.memory import release_memory, rss_bytes
from localrouter.routellm.service import RouterService
from localrouter.settings import RouteLLMSettings
from tests.support.fake_hub import FakeHub
from tests.support.polling import wait_for

REPO = "routellm/bert_gpt4_augmented"


class Settings:
    """Settings that a test changes at run time, read through a getter like the gateway's."""

    def __init__(self, **values: Any) -> None:
        self.value = RouteLLMSettings(**values)

    def __call__(self) -> RouteLLMSettings:
        return self.value

    def change(self, **values: Any) -> None:
        self.value = self.value.model_copy(update=values)


@pytest.fixture
def model_dir(checkpoint_factory: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy of a small checkpoint, used through settings.routellm.model_dir."""
    target = tmp_path / "model"
    shutil.copytree(
        checkpoint_factory(layout="xlmr"), target, ignore=shutil.ignore_patterns("onnx")
    )
    return target


def _service(home: Path, settings: Settings, hub: FakeHub | None = None) -> RouterService:
    config = (lambda: HubConfig(endpoint=hub.url, retries=2, timeout=2.0)) if hub else None
    return RouterService(home, settings, hub=config)


def test_download_through_the_service_then_lazy_load(
    home: Path, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    repo = fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr", vocab_size=20000))
    fake_hub.throttle_bps = 3_000_000
    service = _service(home, Settings())
    try:
        status = service.status()
        assert status["state"] == "not_downloaded" and status["memory_usage_mb"] is None
        with pytest.raises(RouterUnavailable, match="not downloaded"):
            service.predict(["hi"])

        started = service.start_download()
        assert started["started"] is True and started["state"] == "downloading"
        assert service.start_download()["started"] is False  # one at a time
        samples: list[dict[str, Any]] = []
        while (status := service.status())["state"] == "downloading":
            samples.append(status)
            time.sleep(0.02)
        assert status["state"] == "downloaded", status
        assert status["commit"] == repo.commit and status["error"] is None

        counted = [s for s in samples if s["phase"] == "downloading"]
        assert len(counted) > 10
        done = [s["downloaded_bytes"] for s in samples]
        assert done == sorted(done)  # monotone
        assert {s["total_bytes"] for s in counted} == {repo.total_bytes}  # known up front
        assert samples[-1]["downloaded_bytes"] == repo.total_bytes
        assert any(s["bytes_per_sec"] > 0 and s["eta_secs"] is not None for s in counted)
        assert any(s["current_file"] == "model.safetensors" for s in counted)

        assert 0.0 <= service.predict(["hello there"])[0].win_rate <= 1.0
        ready = service.status()
        assert ready["state"] == "ready" and ready["model_dir"] == str(installed_model_dir(home))
        assert ready["memory_usage_mb"] is not None and ready["memory_usage_mb"] >= 0
        assert ready["last_used_secs_ago"] < 5 and ready["idle_timeout_secs"] == 600
        assert ready["precision"] == "int8" and ready["repo_id"] == REPO
    finally:
        service.close()


def test_concurrent_first_predictions_load_once(home: Path, model_dir: Path) -> None:
    service = _service(home, Settings(model_dir=model_dir))
    try:
        assert service.status()["state"] == "downloaded"
        barrier = threading.Barrier(8)
        results: list[float] = []
        errors: list[BaseException] = []

        def first() -> None:
            barrier.wait()
            try:
                results.append(service.predict(["same prompt"])[0].win_rate)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=first) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(results) == 8 and len(set(results)) == 1
        status = service.status()
        assert status["load_count"] == 1 and status["state"] == "ready"
        assert status["model_dir"] == str(model_dir)
    finally:
        service.close()


def test_idle_unload_gives_memory_back(
    home: Path, tmp_path: Path, checkpoint_factory: Callable[..., Path]
) -> None:
    big = tmp_path / "big"
    shutil.copytree(
        checkpoint_factory(layout="xlmr", vocab_size=60000, hidden=128, intermediate=256),
        big,
        ignore=shutil.ignore_patterns("onnx"),
    )
    settings = Settings(model_dir=big, precision="fp32", idle_timeout_secs=0)
    service = _service(home, settings)
    try:
        service.predict(["warm up: convert and import onnxruntime once"])
        service.unload()
        release_memory()
        before = rss_bytes()
        settings.change(idle_timeout_secs=1)
        service.settings_changed()
        service.predict(["a long prompt " * 100] * 4)
        loaded = service.status()
        assert loaded["state"] == "ready" and loaded["memory_usage_mb"] > 1.0
        wait_for(lambda: service.status()["state"] == "downloaded", timeout=10)
        status = service.status()
        assert status["memory_usage_mb"] is None and status["last_used_secs_ago"] >= 1.0
        after = rss_bytes()
        assert after - before < 50 * 2**20, (before, after)
        assert 0.0 <= service.predict(["loads again"])[0].win_rate <= 1.0
        assert service.status()["load_count"] == 3
    finally:
        service.close()


def test_status_answers_while_a_prediction_runs(
    home: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(home, Settings(model_dir=model_dir))
    entered, release = threading.Event(), threading.Event()
    real_predict = RouterEngine.predict

    def slow_predict(engine: RouterEngine, texts: Any) -> Any:
        if list(texts) == ["slow"]:
            entered.set()
            release.wait(30)
        return real_predict(engine, texts)

    monkeypatch.setattr(RouterEngine, "predict", slow_predict)
    worker = threading.Thread(target=service.predict, args=(["slow"],))
    try:
        worker.start()
        assert entered.wait(30)
        status = service.status()  # the prediction holds the model, not the lock
        assert status["state"] == "ready" and status["load_count"] == 1
    finally:
        release.set()
        worker.join(30)
        service.close()


def test_predictions_do_not_wait_for_the_disk_reads_of_status(
    home: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(home, Settings(model_dir=model_dir))
    try:
        service.predict(["load first"])
        entered, release = threading.Event(), threading.Event()
        real_probe = service_module.download_running

        def slow_probe(home_dir: Path) -> bool:  # a file-lock probe on a slow disk
            entered.set()
            release.wait(90)  # longer than the prediction is given below
            return real_probe(home_dir)

        monkeypatch.setattr(service_module, "download_running", slow_probe)
        reader = threading.Thread(target=service.status)
        reader.start()
        assert entered.wait(30)
        done = threading.Event()
        predictor = threading.Thread(target=lambda: (service.predict(["go on"]), done.set()))
        predictor.start()
        try:
            assert done.wait(30), "a prediction waited for status()'s disk reads"
            assert reader.is_alive()  # status is still in its probe
        finally:
            release.set()
            reader.join(30)
            predictor.join(30)
    finally:
        service.close()


def test_idle_timeout_changed_at_run_time(home: Path, model_dir: Path) -> None:
    settings = Settings(model_dir=model_dir, idle_timeout_secs=600)
    service = _service(home, settings)
    try:
        service.predict(["x"])
        assert service.status()["state"] == "ready"
        settings.change(idle_timeout_secs=1)
        service.settings_changed()  # wakes the timer, which re-reads the timeout
        wait_for(lambda: service.status()["state"] == "downloaded", timeout=10)
    finally:
        service.close()


def test_predictions_racing_unloads_never_fail(home: Path, model_dir: Path) -> None:
    service = _service(home, Settings(model_dir=model_dir, idle_timeout_secs=0))
    try:
        expected = service.predict(["race"])[0].win_rate
        stop = threading.Event()
        errors: list[BaseException] = []
        counts = [0] * 4

        def hammer(n: int) -> None:
            while not stop.is_set():
                try:
                    assert service.predict(["race"])[0].win_rate == expected
                    counts[n] += 1
                except BaseException as exc:
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for _ in range(8):
            service.unload()
            wait_for(lambda: service.status()["state"] == "ready" or bool(errors), 10)
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert min(counts) > 0 and service.status()["load_count"] >= 6
    finally:
        service.close()


def test_precision_and_model_dir_follow_settings(
    home: Path, model_dir: Path, checkpoint_factory: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings(model_dir=model_dir, precision="int8")
    service = _service(home, settings)
    try:
        service.predict(["x"])
        assert service.status()["precision"] == "int8"
        settings.change(precision="fp32")
        service.predict(["x"])
        status = service.status()
        assert status["precision"] == "fp32" and status["load_count"] == 2
        other = tmp_path / "other"
        shutil.copytree(
            checkpoint_factory(layout="roberta"), other, ignore=shutil.ignore_patterns("onnx")
        )
        settings.change(model_dir=other)
        service.predict(["x"])
        assert service.status()["model_dir"] == str(other)
        assert service.status()["load_count"] == 3
    finally:
        service.close()


def test_a_configured_folder_that_is_not_a_checkpoint_is_failed(home: Path, tmp_path: Path) -> None:
    service = _service(home, Settings(model_dir=tmp_path / "nothing-here"))
    try:
        status = service.status()
        assert status["state"] == "failed" and "no config.json" in status["error"]
        with pytest.raises(RouterUnavailable):
            service.predict(["x"])
    finally:
        service.close()


def test_a_model_that_cannot_load_is_failed_without_a_reload_storm(
    home: Path, model_dir: Path
) -> None:
    config = model_dir / "config.json"
    good = config.read_text(encoding="utf-8")
    config.write_text("{not json", encoding="utf-8")
    service = _service(home, Settings(model_dir=model_dir))
    try:
        with pytest.raises(RouterUnavailable, match="could not be loaded"):
            service.predict(["x"])
        status = service.status()
        assert status["state"] == "failed" and "could not be loaded" in status["error"]
        # Repaired on disk: a service that tried to load again on every request would now
        # succeed. The next requests are answered with the remembered error instead.
        config.write_text(good, encoding="utf-8")
        for _ in range(3):
            with pytest.raises(RouterUnavailable, match="could not be loaded"):
                service.predict(["x"])
        status = service.status()
        assert status["state"] == "failed" and status["load_count"] == 0
    finally:
        service.close()


def test_failed_update_keeps_serving_the_previous_model(
    home: Path, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    first = fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    service = _service(home, Settings(), fake_hub)
    try:
        service.start_download()
        wait_for(lambda: service.status()["state"] != "downloading")
        before = service.predict(["keep me"])[0].win_rate

        fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr", seed=1))
        fake_hub.die_at["model.safetensors"] = 2048  # the hub goes away mid-file
        assert service.start_download()["started"] is True
        wait_for(lambda: service.status()["state"] != "downloading")
        status = service.status()
        assert status["state"] == "ready" and status["commit"] == first.commit
        assert "cannot reach the hub" in status["error"]
        assert service.predict(["keep me"])[0].win_rate == before
    finally:
        service.close()


def test_failed_first_download_is_failed_state(
    home: Path, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr"))
    fake_hub.missing.add("config.json")
    service = _service(home, Settings(), fake_hub)
    try:
        service.start_download()
        wait_for(lambda: service.status()["state"] != "downloading")
        status = service.status()
        assert status["state"] == "failed" and "config.json" in status["error"]
    finally:
        service.close()


def test_cancel_and_delete(
    home: Path, fake_hub: FakeHub, checkpoint_factory: Callable[..., Path]
) -> None:
    fake_hub.add_repo(REPO, checkpoint_factory(layout="xlmr", vocab_size=20000))
    fake_hub.throttle_bps = 1_000_000
    service = _service(home, Settings(), fake_hub)
    try:
        service.start_download()
        wait_for(lambda: (service.status().get("downloaded_bytes") or 0) > 0)
        with pytest.raises(DownloadInProgress, match="cancel it before deleting"):
            service.delete()
        status = service.cancel_download()
        assert status["state"] == "not_downloaded" and status["error"] is None
        assert DownloadLock(home).try_acquire()

        fake_hub.throttle_bps = None
        service.start_download()
        wait_for(lambda: service.status()["state"] != "downloading")
        service.predict(["x"])
        assert service.status()["state"] == "ready"
        status = service.delete()
        assert status["state"] == "not_downloaded" and status["memory_usage_mb"] is None
        assert installed_model_dir(home) is None
        assert not (home / "routellm" / "versions").exists()
    finally:
        service.close()
