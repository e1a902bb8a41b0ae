"""hub.py against a real HTTP server speaking the hub protocol: metadata before bytes,
verification, resume, and the errors users see."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from localrouter.routellm.acquisition.hub import (
    DownloadCancelled,
    HubConfig,
    ProgressTracker,
    RemoteCheckpoint,
    RemoteFile,
    download_file,
    resolve_checkpoint,
)
from localrouter.routellm.errors import DownloadError
from tests.support.fake_hub import FakeHub
from tests.support.polling import Background, wait_for

REPO = "routellm/bert_gpt4_augmented"


def _hub(fake: FakeHub, **kwargs: object) -> HubConfig:
    return HubConfig(endpoint=fake.url, **kwargs)  # type: ignore[arg-type]


def _remote_file(hub: HubConfig, name: str = "model.safetensors") -> RemoteFile:
    remote_file = resolve_checkpoint(REPO, "main", hub).file(name)
    assert remote_file is not None
    return remote_file


def _download(
    remote_file: RemoteFile,
    folder: Path,
    hub: HubConfig,
    tracker: ProgressTracker | None = None,
    cancel: threading.Event | None = None,
) -> None:
    tracker = tracker or ProgressTracker()
    cancel = cancel or threading.Event()
    download_file(remote_file, folder, hub, tracker, cancel, repo_id=REPO, revision="main")


def _download_all(
    remote: RemoteCheckpoint, folder: Path, hub: HubConfig, tracker: ProgressTracker | None = None
) -> ProgressTracker:
    tracker = tracker or ProgressTracker()
    tracker.set_total(remote.total_bytes)
    for f in remote.files:
        _download(f, folder, hub, tracker)
    return tracker


def test_sizes_and_hashes_are_known_before_the_first_byte(
    fake_hub: FakeHub, xlmr_checkpoint: Path
) -> None:
    repo = fake_hub.add_repo(REPO, xlmr_checkpoint)
    remote = resolve_checkpoint(REPO, "main", HubConfig.from_env())  # HF_ENDPOINT is honoured
    assert remote.commit == repo.commit
    assert remote.total_bytes == repo.total_bytes
    assert {f.name for f in remote.files} == set(repo.files)
    weights = remote.file("model.safetensors")
    assert weights is not None and weights.sha256 == repo.sha256["model.safetensors"]
    config = remote.file("config.json")
    assert config is not None and config.sha256 is None and config.git_sha1
    assert all(repo.commit in f.url for f in remote.files)  # pinned to the commit
    assert not [r for r in fake_hub.requests if r[0] == "GET" and "/resolve/" in r[1]]


def test_download_verifies_and_reports_every_byte(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    hub = _hub(fake_hub)
    remote = resolve_checkpoint(REPO, "main", hub)
    (tmp_path / "out").mkdir()
    tracker = _download_all(remote, tmp_path / "out", hub)
    snap = tracker.snapshot()
    assert snap.downloaded_bytes == snap.total_bytes == remote.total_bytes
    for name in fake_hub.repos[REPO].files:
        assert (tmp_path / "out" / name).read_bytes() == (xlmr_checkpoint / name).read_bytes()
    assert not list((tmp_path / "out").glob("*.part"))


def test_missing_optional_tokenizer_file_is_fine(fake_hub: FakeHub, xlmr_checkpoint: Path) -> None:
    fake_hub.add_repo(
        REPO, xlmr_checkpoint, only=("config.json", "model.safetensors", "sentencepiece.bpe.model")
    )
    remote = resolve_checkpoint(REPO, "main", _hub(fake_hub))
    assert [f.name for f in remote.files] == [
        "config.json",
        "sentencepiece.bpe.model",
        "model.safetensors",
    ]


@pytest.mark.parametrize(
    ("only", "named"),
    [
        (("config.json", "tokenizer.json"), "model.safetensors"),
        (("model.safetensors", "tokenizer.json"), "config.json"),
        (("config.json", "model.safetensors"), "tokenizer.json or sentencepiece.bpe.model"),
    ],
)
def test_missing_required_file_is_named(
    fake_hub: FakeHub, xlmr_checkpoint: Path, only: tuple[str, ...], named: str
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint, only=only)
    with pytest.raises(DownloadError, match=named):
        resolve_checkpoint(REPO, "main", _hub(fake_hub))


def test_404_on_a_listed_required_file_is_a_clear_error(
    fake_hub: FakeHub, xlmr_checkpoint: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    fake_hub.missing.add("model.safetensors")
    with pytest.raises(DownloadError) as info:
        resolve_checkpoint(REPO, "main", _hub(fake_hub))
    message = str(info.value)
    assert "model.safetensors" in message and "needs" in message
    assert "Traceback" not in message and "\n" not in message


def test_unknown_repo_and_revision(fake_hub: FakeHub, xlmr_checkpoint: Path) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    with pytest.raises(DownloadError, match="repository nobody/nothing was not found"):
        resolve_checkpoint("nobody/nothing", "main", _hub(fake_hub))
    with pytest.raises(DownloadError, match="revision 'v9' does not exist"):
        resolve_checkpoint(REPO, "v9", _hub(fake_hub))


def test_gated_repo_with_and_without_hf_token(
    fake_hub: FakeHub, xlmr_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint, gated_token="hf_right")
    with pytest.raises(DownloadError, match=r"gated repository.*set HF_TOKEN"):
        resolve_checkpoint(REPO, "main", HubConfig.from_env())
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(DownloadError, match="HF_TOKEN has no access"):
        resolve_checkpoint(REPO, "main", HubConfig.from_env())
    monkeypatch.setenv("HF_TOKEN", "hf_right")  # read at call time, not at import
    remote = resolve_checkpoint(REPO, "main", HubConfig.from_env())
    assert remote.total_bytes == fake_hub.repos[REPO].total_bytes


def test_flipped_byte_fails_the_checksum_and_keeps_nothing(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    hub = _hub(fake_hub)
    remote = resolve_checkpoint(REPO, "main", hub)
    for name in ("model.safetensors", "config.json"):  # sha256 (LFS) and git blob id
        fake_hub.corrupt = {name}
        remote_file = remote.file(name)
        assert remote_file is not None
        with pytest.raises(DownloadError, match=f"{name} failed its checksum"):
            _download(remote_file, tmp_path, hub)
        assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()


def test_dropped_connection_resumes_with_range(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    size = (xlmr_checkpoint / "model.safetensors").stat().st_size
    fake_hub.drop_once["model.safetensors"] = size // 2
    hub = _hub(fake_hub)
    _download(_remote_file(hub), tmp_path, hub)
    assert (tmp_path / "model.safetensors").read_bytes() == (
        xlmr_checkpoint / "model.safetensors"
    ).read_bytes()
    assert fake_hub.served("model.safetensors") == size  # the first half was not sent again
    assert any(rng == f"bytes={size // 2}-" for _, _, rng in fake_hub.requests)


def test_part_file_from_an_earlier_run_is_resumed(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    data = (xlmr_checkpoint / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors.part").write_bytes(data[:1000])
    hub = _hub(fake_hub)
    remote_file = _remote_file(hub)
    tracker = ProgressTracker()
    tracker.set_total(len(data), already=1000)
    _download(remote_file, tmp_path, hub, tracker)
    assert (tmp_path / "model.safetensors").read_bytes() == data
    assert fake_hub.served("model.safetensors") == len(data) - 1000
    assert tracker.snapshot().downloaded_bytes == len(data)


def test_server_gone_mid_file_is_a_clear_error(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    fake_hub.die_at["model.safetensors"] = 5000
    hub = _hub(fake_hub, retries=2, timeout=2.0)
    remote_file = _remote_file(hub)
    started = time.monotonic()
    with pytest.raises(
        DownloadError,
        match=r"cannot reach the hub while fetching "
        r"model\.safetensors",
    ):
        _download(remote_file, tmp_path, hub)
    assert time.monotonic() - started < 15
    assert (tmp_path / "model.safetensors.part").stat().st_size == 5000  # kept for resume


def test_cancel_stops_a_stalled_download(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    """The server sent headers and 4 KB, then holds the connection open in silence: a
    cancel (the UI's button, Ctrl-C) is seen within half a second, not at the 10 s stall
    limit."""
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    fake_hub.hang_at["model.safetensors"] = 4096
    hub = _hub(fake_hub)
    assert hub.timeout == 10.0  # the real stall limit, not a shortened one
    remote_file = _remote_file(hub)
    tracker, cancel = ProgressTracker(), threading.Event()
    worker = Background(lambda: _download(remote_file, tmp_path, hub, tracker, cancel))
    errors = worker.errors
    try:
        wait_for(
            lambda: (
                fake_hub.stalled("model.safetensors")
                and tracker.snapshot().downloaded_bytes == 4096
            ),
            timeout=10,
        )
        started = time.monotonic()
        cancel.set()
        worker.join(3)
        elapsed = time.monotonic() - started
    finally:
        fake_hub.release.set()
        worker.join(15)
    assert elapsed < 0.5, f"the cancel took {elapsed:.2f} s"
    assert len(errors) == 1 and isinstance(errors[0], DownloadCancelled)
    assert (tmp_path / "model.safetensors.part").stat().st_size == 4096  # kept for resume
    assert not (tmp_path / "model.safetensors").exists()


def test_a_silent_connection_is_dropped_at_the_stall_limit_and_resumed(
    fake_hub: FakeHub, xlmr_checkpoint: Path, tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, xlmr_checkpoint)
    data = (xlmr_checkpoint / "model.safetensors").read_bytes()
    fake_hub.hang_at["model.safetensors"] = 4096  # until release, which never comes
    hub = _hub(fake_hub, timeout=1.0)
    remote_file = _remote_file(hub)
    started = time.monotonic()
    _download(remote_file, tmp_path, hub)
    elapsed = time.monotonic() - started
    assert (tmp_path / "model.safetensors").read_bytes() == data
    assert any(rng == "bytes=4096-" for _, _, rng in fake_hub.requests)
    assert fake_hub.served("model.safetensors") == len(data)  # nothing sent twice
    assert 1.0 <= elapsed < 5  # waited the whole stall limit, not one cancel-check slice


def test_pauses_shorter_than_the_stall_limit_do_not_drop_the_connection(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    """Three pauses of 0.5 s (1.5 s in all) against a 1 s stall limit: the limit is per
    silence, so the one connection carries the whole file."""
    data = bytes(range(256)) * 256  # 64 KB: four 16 KB writes
    files = {"config.json": b"{}", "tokenizer.json": b"{}", "model.safetensors": data}
    fake_hub.add_repo(REPO, files=files)
    fake_hub.throttle_bps = 16 * 1024 / 0.5
    hub = _hub(fake_hub, timeout=1.0)
    _download(_remote_file(hub), tmp_path, hub)
    assert (tmp_path / "model.safetensors").read_bytes() == data
    gets = [r for r in fake_hub.requests if r[0] == "GET" and "model.safetensors" in r[1]]
    assert [rng for _, _, rng in gets if rng] == []  # never resumed: no drop


def test_rate_and_eta_follow_the_bytes() -> None:
    tracker = ProgressTracker(window_secs=1.0)
    tracker.set_total(1000)
    tracker.set_phase("downloading", "model.safetensors")
    assert tracker.snapshot().eta_secs is None  # no rate yet
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        tracker.add(1)
        time.sleep(0.002)
    snap = tracker.snapshot()
    assert 0 < snap.downloaded_bytes < 1000
    assert snap.bytes_per_sec > 0
    assert snap.eta_secs is not None and snap.eta_secs > 0
    assert snap.current_file == "model.safetensors"
