"""Installing the router model: download, verify, convert, smoke-test, swap in atomically.

Layout of ``HOME/routellm/``::

    current -> versions/<commit>     the installed model (a relative symlink, replaced with
                                     os.replace, so readers see the old or the new one)
    versions/<commit>/               checkpoint files, converted runtime files, install.json
    downloads/<commit>/              verified files and ``.part`` files of an unfinished
                                     download, kept so a re-run resumes instead of restarting
    .staging-*/  .current-*  .trash-*  .download.json.*.tmp
                                     work in progress; removed at the next start
    download.lock                    one download per home, across processes
    download.json                    the running download's progress, for other processes

Whatever fails (network, checksum, disk, conversion, cancel, Ctrl-C), ``current`` is only
ever replaced by a folder that converted and answered a smoke prediction.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from localrouter.fileio import atomic_write_text
from localrouter.paths import routellm_dir
from localrouter.routellm.acquisition.disk import conversion_bytes, ensure_free_space
from localrouter.routellm.acquisition.hub import (
    DownloadCancelled,
    DownloadProgress,
    HubConfig,
    ProgressTracker,
    RemoteCheckpoint,
    download_file,
    resolve_checkpoint,
)
from localrouter.routellm.errors import ConversionError, DownloadError, RouterModelError
from localrouter.routellm.inference.memory import release_memory
from localrouter.routellm.precision import Precision

log = logging.getLogger(__name__)

INSTALL_INFO = "install.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
SMOKE_PROMPT = "Write a haiku about routing prompts between a strong and a weak model."
_REPORT_EVERY = 0.5  # seconds between progress reports (CLI bar, download.json)
CANCEL_FILE = "download.cancel"  # another process's request to cancel the running download
LOCK_WAIT = 1.0  # seconds a downloader waits for the lock before saying one is running


class DownloadInProgress(DownloadError):
    """Another download for this home is running; ``progress`` is its last report."""

    def __init__(self, message: str, progress: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.progress = progress


@dataclass(frozen=True)
class InstallResult:
    model_dir: Path
    repo_id: str
    revision: str
    commit: str | None
    downloaded_bytes: int  # fetched by this run (resumed and cached bytes not counted)
    reused: bool = False  # the same commit was already installed: nothing fetched
    offline: bool = False  # HF_HUB_OFFLINE: kept the installed model without asking the hub


# --------------------------------------------------------------------------- paths


def _current(home: Path) -> Path:
    return routellm_dir(home) / "current"


def installed_model_dir(home: Path) -> Path | None:
    """The installed checkpoint folder (``current`` resolved), or None."""
    try:
        target = _current(home).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if (target / "config.json").is_file() else None


def installed_info(home: Path) -> dict[str, Any] | None:
    """install.json of the installed model (repo_id, revision, commit, files), or None."""
    model_dir = installed_model_dir(home)
    if model_dir is None:
        return None
    try:
        data = json.loads((model_dir / INSTALL_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # installed by hand: a checkpoint without our record
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- lock & progress


class DownloadLock:
    """``HOME/routellm/download.lock``: at most one download per home, across processes.
    Not thread-bound, so a request thread can take it and a worker thread release it."""

    def __init__(self, home: Path) -> None:
        root = routellm_dir(home)
        root.mkdir(parents=True, exist_ok=True)
        # The file stays after release: deleting lock files races with new lockers.
        self._lock = filelock.FileLock(
            root / "download.lock", thread_local=False, preserve_lock_file=True
        )

    def try_acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock; False if it stays held for ``timeout`` seconds. Downloaders wait
        a little: status probes (:func:`download_running`) hold it for microseconds."""
        try:
            self._lock.acquire(timeout=timeout, poll_interval=0.02)
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


def download_running(home: Path) -> bool:
    """Whether some process (this one included) holds the download lock right now."""
    if not (routellm_dir(home) / "download.lock").exists():
        return False
    probe = DownloadLock(home)
    if probe.try_acquire():
        probe.release()
        return False
    return True


def read_shared_progress(home: Path) -> dict[str, Any] | None:
    """The running download's last report (written by whichever process runs it)."""
    try:
        data = json.loads((routellm_dir(home) / "download.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def request_cancel(home: Path) -> bool:
    """Ask the download running in another process to stop (it looks every 0.5 s).
    Returns False when no download runs."""
    if not download_running(home):
        return False
    with contextlib.suppress(OSError):
        (routellm_dir(home) / CANCEL_FILE).touch()
    return True


class _Reporter:
    """Every 0.5 s: hand the tracker's snapshot to ``on_progress`` and to download.json."""

    def __init__(
        self,
        home: Path,
        tracker: ProgressTracker,
        on_progress: Callable[[DownloadProgress], None] | None,
        meta: dict[str, Any],
        cancel: threading.Event,
    ) -> None:
        self._path = routellm_dir(home) / "download.json"
        self._cancel_file = routellm_dir(home) / CANCEL_FILE
        self._cancel = cancel
        self._tracker = tracker
        self._on_progress = on_progress
        self.meta = meta
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="router-download-report", daemon=True
        )

    def __enter__(self) -> _Reporter:
        self.report()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._path.unlink(missing_ok=True)

    def report(self) -> None:
        snap = self._tracker.snapshot()
        if self._on_progress is not None:
            try:
                self._on_progress(snap)
            except Exception:  # a broken display must not break the download
                log.exception("progress callback failed")
        data = {**self.meta, **snap.as_dict(), "updated_at": time.time()}
        with contextlib.suppress(OSError):
            atomic_write_text(self._path, json.dumps(data), fsync=False)  # ephemeral

    def _run(self) -> None:
        while not self._stop.wait(_REPORT_EVERY):
            self.report()
            if self._cancel_file.exists():  # another process asked (request_cancel)
                self._cancel.set()


# --------------------------------------------------------------------------- cleanup


def _remove(path: Path, root: Path) -> None:
    """Remove a file, link or folder. Folders are first renamed to ``root/.trash-*`` so a
    crash midway leaves trash (cleaned at the next start), never a half-deleted model."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    trash = root / f".trash-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


def cleanup_stale(home: Path) -> None:
    """Remove what interrupted runs left behind: staging folders, temporary links, trash,
    versions no longer current, a stale progress file. Does nothing while a download runs
    (its work in progress looks the same); the resume cache in ``downloads/`` is kept."""
    root = routellm_dir(home)
    if not root.is_dir():
        return
    lock = DownloadLock(home)
    if not lock.try_acquire():
        return
    try:
        _cleanup_locked(home)
    finally:
        lock.release()


def _cleanup_locked(home: Path) -> None:
    root = routellm_dir(home)
    for entry in root.iterdir():
        if entry.name.startswith((".staging-", ".trash-", ".current-", ".download")):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    (root / "download.json").unlink(missing_ok=True)
    (root / CANCEL_FILE).unlink(missing_ok=True)
    keep = installed_model_dir(home)
    versions = root / "versions"
    if versions.is_dir():
        for entry in versions.iterdir():
            if keep is None or entry.resolve() != keep:
                _remove(entry, root)
    for folder in (versions, root / "downloads"):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def uninstall(home: Path) -> bool:
    """Remove the installed model, its versions and any download cache. Refuses (raises
    DownloadInProgress) while a download runs. Returns whether anything was removed."""
    root = routellm_dir(home)
    if not root.is_dir():
        return False
    lock = DownloadLock(home)
    if not lock.try_acquire(LOCK_WAIT):
        raise DownloadInProgress(
            "a download of the router model is running; cancel it before deleting the model",
            read_shared_progress(home),
        )
    try:
        removed = False
        current = _current(home)
        if current.is_symlink() or current.exists():
            _remove(current, root)  # first, atomically: from here on nothing is installed
            removed = True
        for name in ("versions", "downloads"):
            if (root / name).exists():
                _remove(root / name, root)
                removed = True
        _cleanup_locked(home)
        return removed
    finally:
        lock.release()


# --------------------------------------------------------------------------- install


def _prepare_cache(cache: Path, remote: RemoteCheckpoint) -> int:
    """Bytes already on disk for this commit; drops anything that cannot be resumed."""
    have = 0
    for f in remote.files:
        final, part = cache / f.name, cache / (f.name + ".part")
        if final.exists():
            if final.stat().st_size == f.size:
                have += f.size
                part.unlink(missing_ok=True)
                continue
            final.unlink()
        if part.exists():
            size = part.stat().st_size
            if size > f.size:
                part.unlink()
            else:
                have += size
    return have


def _drop_other_caches(root: Path, keep: str) -> None:
    downloads = root / "downloads"
    if downloads.is_dir():
        for entry in downloads.iterdir():
            if entry.name != keep:
                _remove(entry, root)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same disk: no second copy of a 1 GB file
    except OSError:
        shutil.copy2(src, dst)


def prepare_model(
    model_dir: Path,
    precision: Precision,
    threads: int = 0,
    weights_sha256: str | None = None,
    on_step: Callable[[float, float], None] | None = None,
) -> float:
    """Convert ``model_dir`` for ``precision``, load it and predict once; returns the win
    rate. Raises a RouterModelError whose message says the model could not be prepared."""
    from localrouter.routellm.conversion.runtime_files import ensure_runtime_file
    from localrouter.routellm.inference.engine import RouterEngine

    try:
        ensure_runtime_file(
            model_dir,
            precision,
            on_step,
            source_sha256=weights_sha256,
        )
        engine = RouterEngine.load(model_dir, precision, threads)
    except RouterModelError as exc:
        raise exc.__class__(f"the downloaded model could not be prepared: {exc}") from exc
    except Exception as exc:
        raise ConversionError(f"the downloaded model could not be prepared: {exc}") from exc
    try:
        win_rate = float(engine.predict([SMOKE_PROMPT])[0].win_rate)
    except Exception as exc:
        raise ConversionError(f"the downloaded model failed its test prediction: {exc}") from exc
    finally:
        engine.close()
        del engine
        release_memory()
    if not (math.isfinite(win_rate) and 0.0 <= win_rate <= 1.0):
        raise ConversionError(
            f"the downloaded model failed its test prediction (win rate {win_rate})"
        )
    return win_rate


def _activate(home: Path, staging: Path, commit: str) -> Path:
    """Move staging into versions/ and point ``current`` at it with one atomic rename."""
    root = routellm_dir(home)
    versions = root / "versions"
    versions.mkdir(exist_ok=True)
    name = commit if not (versions / commit).exists() else f"{commit}-{uuid.uuid4().hex[:8]}"
    target = versions / name
    os.rename(staging, target)
    current = _current(home)
    if current.is_dir() and not current.is_symlink():  # a folder put there by hand
        os.rename(current, root / f".trash-{uuid.uuid4().hex[:8]}")
    link = root / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(Path("versions") / name, link, target_is_directory=True)
    os.replace(link, current)
    return target


def _offline_result(
    home: Path, installed: dict[str, Any] | None, repo_id: str, revision: str
) -> InstallResult:
    """HF_HUB_OFFLINE: the hub cannot be asked, so the installed model is the answer if it
    is the one asked for (same repo; the same commit when a commit was named)."""
    if installed is None:
        raise DownloadError(
            "HF_HUB_OFFLINE is set and no router model is installed; unset it to download one"
        )
    have_repo, have_commit = installed.get("repo_id", repo_id), installed.get("commit")
    if have_repo != repo_id:
        raise DownloadError(
            f"HF_HUB_OFFLINE is set and the installed model is {have_repo}, not {repo_id}"
        )
    if _COMMIT.match(revision) and have_commit and have_commit != revision:
        raise DownloadError(
            f"HF_HUB_OFFLINE is set and the installed commit is {have_commit[:12]}, "
            f"not {revision[:12]}"
        )
    model_dir = installed_model_dir(home) or _current(home)
    return InstallResult(model_dir, repo_id, revision, have_commit, 0, reused=True, offline=True)


def install_model(
    home: Path,
    *,
    repo_id: str,
    revision: str,
    precision: Precision = "int8",
    threads: int = 0,
    hub: HubConfig | None = None,
    cancel: threading.Event | None = None,
    tracker: ProgressTracker | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    lock: DownloadLock | None = None,
    free_bytes: int | None = None,
) -> InstallResult:
    """Download, verify, convert, smoke-test and install ``repo_id`` at ``revision``.

    ``lock``: an already acquired DownloadLock (the service takes it in the request
    thread); otherwise it is taken here, and DownloadInProgress is raised when another
    download holds it. ``free_bytes`` overrides the measured free space (tests).
    """
    root = routellm_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    own_lock = lock is None
    if lock is None:
        lock = DownloadLock(home)
        if not lock.try_acquire(LOCK_WAIT):
            raise DownloadInProgress(
                "a download of the router model is already running", read_shared_progress(home)
            )
    cancel = cancel or threading.Event()
    tracker = tracker or ProgressTracker()
    meta = {"pid": os.getpid(), "repo_id": repo_id, "revision": revision, "commit": None}
    staging: Path | None = None
    try:
        _cleanup_locked(home)
        hub = hub or HubConfig.from_env()
        installed = installed_info(home)
        if hub.offline:
            return _offline_result(home, installed, repo_id, revision)
        with _Reporter(home, tracker, on_progress, meta, cancel) as reporter:
            remote = resolve_checkpoint(repo_id, revision, hub)
            reporter.meta["commit"] = remote.commit
            model_dir = installed_model_dir(home)
            if (
                installed
                and model_dir
                and installed.get("commit") == remote.commit
                and installed.get("repo_id") == repo_id
            ):
                tracker.set_total(remote.total_bytes, remote.total_bytes)
                tracker.set_phase("done")
                return InstallResult(model_dir, repo_id, revision, remote.commit, 0, reused=True)

            _drop_other_caches(root, keep=remote.commit)
            cache = root / "downloads" / remote.commit
            cache.mkdir(parents=True, exist_ok=True)
            already = _prepare_cache(cache, remote)
            tracker.set_total(remote.total_bytes, already)
            weights = remote.file("model.safetensors")
            needed = (
                remote.total_bytes
                - already
                + conversion_bytes(weights.size if weights else remote.total_bytes, precision)
            )
            ensure_free_space(root, needed, free_bytes)
            reporter.report()

            for remote_file in remote.files:
                if not (cache / remote_file.name).exists():
                    download_file(
                        remote_file, cache, hub, tracker, cancel, repo_id=repo_id, revision=revision
                    )
            fetched = tracker.snapshot().downloaded_bytes - already

            if cancel.is_set():
                raise DownloadCancelled("the download was cancelled")
            tracker.set_phase("converting")
            reporter.report()
            staging = root / f".staging-{remote.commit[:12]}-{uuid.uuid4().hex[:8]}"
            staging.mkdir()
            for remote_file in remote.files:
                _link_or_copy(cache / remote_file.name, staging / remote_file.name)
            info = {
                "repo_id": repo_id,
                "revision": revision,
                "commit": remote.commit,
                "endpoint": hub.endpoint,
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "precision": precision,
                "files": [
                    {"name": f.name, "size": f.size, "sha256": f.sha256, "git_sha1": f.git_sha1}
                    for f in remote.files
                ],
            }
            (staging / INSTALL_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
            prepare_model(
                staging,
                precision,
                threads,
                weights.sha256 if weights else None,
                tracker.set_phase_progress,
            )
            if cancel.is_set():
                raise DownloadCancelled("the download was cancelled")

            tracker.set_phase("installing")
            target = _activate(home, staging, remote.commit)
            staging = None
            _remove(cache, root)
            _cleanup_locked(home)  # the previous version, now unused
            tracker.set_phase("done")
            return InstallResult(target, repo_id, revision, remote.commit, max(fetched, 0))
    finally:
        if staging is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(staging, ignore_errors=True)
        (root / CANCEL_FILE).unlink(missing_ok=True)
        if own_lock:
            lock.release()
