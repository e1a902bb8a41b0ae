"""The router model's lifecycle inside a process: states, lazy load, idle unload, downloads.

Contract used by the gateway, the admin API and the CLI:

    service = RouterService(home, settings_getter)   # settings_getter() -> RouteLLMSettings
    service.start()                         # clean-up + idle timer (else on first use)
    service.status() -> dict                # README "Router model states"
    service.predict(texts) -> list[Prediction]   # lazy load; raises RouterUnavailable
    service.start_download(repo_id=None, revision=None) -> dict   # status + "started"
    service.cancel_download() -> dict
    service.unload() -> dict
    service.delete() -> dict
    service.settings_changed()              # call after settings change (idle timeout)
    service.close()

Settings are read through the getter at each use, so precision, model_dir and the idle
timeout can change at run time: a prediction whose (model folder, precision, threads)
differs from the loaded engine's loads a new one.

Creating a service has no side effects (a read-only ``status`` deletes nothing): clean-up of
what interrupted runs left and the idle timer start in ``start()``, which the first
prediction or download calls when the owner did not.

Concurrency: one condition variable guards the engine slot; ``status()`` reads the disk
(installed version, another process's download) before taking it. The first prediction loads
(others wait for it); predictions hold a reference while they run, so an unload (by idle
timer, request or settings change) never closes an engine under a running prediction:
the engine is detached at once and closed when its last user is done, and a prediction
arriving after the detach loads a fresh one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrouter.routellm.acquisition.hub import DownloadCancelled, HubConfig, ProgressTracker
from localrouter.routellm.acquisition.install import (
    LOCK_WAIT,
    DownloadInProgress,
    DownloadLock,
    cleanup_stale,
    download_running,
    install_model,
    installed_info,
    read_shared_progress,
    request_cancel,
    uninstall,
)
from localrouter.routellm.acquisition.install import installed_model_dir as _installed_model_dir
from localrouter.routellm.errors import RouterModelError, RouterUnavailable
from localrouter.routellm.inference.engine import Precision, RouterEngine
from localrouter.routellm.inference.memory import release_memory, rss_bytes
from localrouter.routellm.prediction import Prediction
from localrouter.settings import RouteLLMSettings

log = logging.getLogger(__name__)

_LOAD_RETRY_SECS = 30.0  # after a failed load, answer at once with the error for this long
_CANCEL_WAIT_SECS = 5.0  # how long cancel_download() waits for the download to stop
_UNLOAD_WAIT_SECS = 30.0  # how long unload() waits for running predictions to finish
_DOWNLOAD_FIELDS = (
    "downloaded_bytes",
    "total_bytes",
    "current_file",
    "bytes_per_sec",
    "eta_secs",
    "phase",
    "phase_progress",
)

_Key = tuple[Path, Precision, int]  # model folder, precision, threads


def installed_model_dir(home: Path) -> Path | None:
    """The installed checkpoint folder under HOME/routellm (``current`` resolved), or None."""
    return _installed_model_dir(home)


@dataclass(eq=False)
class _Loaded:
    engine: RouterEngine
    key: _Key
    rss_delta: int
    users: int = 0
    detached: bool = False
    closed: bool = False  # closing has been claimed (under the lock), exactly once
    released: threading.Event = field(default_factory=threading.Event)  # memory given back


@dataclass(eq=False)
class _Download:
    repo_id: str
    revision: str
    cancel: threading.Event
    tracker: ProgressTracker
    lock: DownloadLock
    thread: threading.Thread | None = None


@dataclass(frozen=True)
class _DiskFacts:
    """What status() reads from the disk, before it takes the lock."""

    settings: RouteLLMSettings
    model_dir: Path | None
    installed: bool
    info: dict[str, Any]
    is_checkpoint: bool
    other_download: dict[str, Any] | None  # another process's progress, if it downloads


class RouterService:
    def __init__(
        self,
        home: Path,
        settings: Callable[[], RouteLLMSettings],
        hub: Callable[[], HubConfig] | None = None,
    ) -> None:
        self._home = Path(home)
        self._settings = settings
        self._hub = hub or HubConfig.from_env
        self._cond = threading.Condition()
        self._loaded: _Loaded | None = None
        self._loading = False
        self._load_error: tuple[_Key, str, float] | None = None
        self._last_used: float | None = None
        self._download: _Download | None = None
        self._download_error: str | None = None
        self._closed = False
        self._load_count = 0  # engines loaded by this service (status: "load_count")
        self._started = False
        self._timer: threading.Thread | None = None

    def start(self) -> None:
        """Clean up what interrupted runs left behind and start the idle timer; once."""
        with self._cond:
            if self._started or self._closed:
                return
            self._started = True
            self._timer = threading.Thread(
                target=self._idle_loop, name="router-idle-unload", daemon=True
            )
            self._timer.start()  # waits for the condition, released below
        try:
            cleanup_stale(self._home)
        except OSError as exc:
            log.warning("could not clean up %s: %s", self._home, exc)

    # ----------------------------------------------------------------- model folder

    def _model_dir(self) -> Path | None:
        configured = self._settings().model_dir
        if configured is not None:
            return Path(configured).expanduser()
        return installed_model_dir(self._home)

    def _wanted_key(self) -> _Key:
        cfg = self._settings()
        model_dir = self._model_dir()
        if model_dir is None:
            raise RouterUnavailable(
                "the router model is not downloaded; run `localrouter routellm download`"
            )
        return (model_dir, cfg.precision, cfg.threads)

    # ----------------------------------------------------------------- prediction

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Win rates in input order; loads the model on first use."""
        if not self._started:  # unlocked peek; start() checks again under the lock
            self.start()
        loaded = self._acquire(self._wanted_key())
        try:
            return loaded.engine.predict(texts)
        finally:
            self._release(loaded)

    def load(self) -> dict[str, Any]:
        """Load the installed model now (the dashboard's "Load now"); its status after."""
        if not self._started:
            self.start()
        self._release(self._acquire(self._wanted_key()))
        return self.status()

    def _acquire(self, key: _Key) -> _Loaded:
        with self._cond:
            while True:
                if self._closed:
                    raise RouterUnavailable("the router service is shut down")
                current = self._loaded
                if current is not None and current.key == key:
                    current.users += 1
                    self._last_used = time.monotonic()
                    return current
                if self._loading:  # someone else loads: wait, then look again
                    self._cond.wait()
                    continue
                failed = self._load_error
                if failed and failed[0] == key and time.monotonic() - failed[2] < _LOAD_RETRY_SECS:
                    raise RouterUnavailable(failed[1])
                self._loading = True
                stale = self._detach_locked()
                break
        if stale is not None:
            self._close(stale)
        return self._load(key)

    def _load(self, key: _Key) -> _Loaded:
        model_dir, precision, threads = key
        try:
            release_memory()
            before = rss_bytes()
            engine = RouterEngine.load(model_dir, precision, threads, spin=False)
            # One short prediction pages the weights in, so the figure below is what the
            # model really costs (and the first request does not pay for it).
            engine.predict(["warm up"])
            delta = max(rss_bytes() - before, 0)
        except BaseException as exc:
            message = f"the router model could not be loaded: {exc}"
            with self._cond:
                self._loading = False
                if isinstance(exc, Exception):
                    self._load_error = (key, message, time.monotonic())
                self._cond.notify_all()
            if isinstance(exc, RouterModelError | OSError | ValueError | MemoryError):
                raise RouterUnavailable(message) from exc
            raise
        loaded = _Loaded(engine, key, delta, users=1)
        with self._cond:
            self._loading = False
            self._load_error = None
            self._load_count += 1
            self._cond.notify_all()
            if self._closed:
                loaded.detached = True
            else:
                self._loaded = loaded
                self._last_used = time.monotonic()
        return loaded

    def _release(self, loaded: _Loaded) -> None:
        with self._cond:
            loaded.users -= 1
            self._last_used = time.monotonic()
            close_now = loaded.detached and loaded.users == 0 and not loaded.closed
            if close_now:
                loaded.closed = True
            # No notify: nothing waits for a release (the idle timer looks again on its own,
            # see _idle_loop), and waking it here cost every prediction a thread switch.
        if close_now:
            self._close(loaded)

    def _detach_locked(self) -> _Loaded | None:
        """Take the engine out of the slot; return it if it can be closed right away."""
        loaded, self._loaded = self._loaded, None
        if loaded is None:
            return None
        loaded.detached = True
        if loaded.users == 0 and not loaded.closed:
            loaded.closed = True
            return loaded
        return None  # the last running prediction closes it

    def _close(self, loaded: _Loaded) -> None:
        try:
            loaded.engine.close()
        except Exception:  # closing must not take the caller down
            log.exception("closing the router engine failed")
        loaded.engine = None  # type: ignore[assignment]  # drop the last reference
        release_memory()
        loaded.released.set()

    # ----------------------------------------------------------------- unload & idle

    def unload(self) -> dict[str, Any]:
        """Drop the loaded model and give its memory back; running predictions finish."""
        with self._cond:
            while self._loading:
                self._cond.wait()
            target = self._loaded
            closable = self._detach_locked()
        if closable is not None:
            self._close(closable)
        elif target is not None:
            # Running predictions close it when they finish; wait so that the memory is
            # really given back when this returns.
            target.released.wait(_UNLOAD_WAIT_SECS)
        return self.status()

    def settings_changed(self) -> None:
        """Wake the idle timer: the timeout may have changed."""
        with self._cond:
            self._cond.notify_all()

    def _idle_loop(self) -> None:
        with self._cond:
            while not self._closed:
                loaded = self._loaded
                try:
                    timeout = float(self._settings().idle_timeout_secs)
                except Exception:  # settings being replaced: look again when woken
                    timeout = 0.0
                if loaded is None or timeout <= 0 or self._loading:
                    self._cond.wait()  # woken by a load, settings or close
                    continue
                if loaded.users > 0:  # in use: releases do not wake us, look again later
                    self._cond.wait(timeout)
                    continue
                idle = time.monotonic() - (self._last_used or 0.0)
                if idle < timeout:
                    self._cond.wait(timeout - idle)
                    continue
                closable = self._detach_locked()
                if closable is not None:
                    log.info("router model unloaded after %.0f s idle", idle)
                    self._cond.release()
                    try:
                        self._close(closable)
                    finally:
                        self._cond.acquire()
                    self._cond.notify_all()

    # ----------------------------------------------------------------- downloads

    def start_download(
        self, repo_id: str | None = None, revision: str | None = None
    ) -> dict[str, Any]:
        """Start downloading and installing in the background. Returns the status plus
        ``started``: False when a download (here or in another process) already runs, in
        which case the status shows that download's progress."""
        cfg = self._settings()
        repo_id = repo_id or cfg.repo_id
        revision = revision or cfg.revision
        self.start()  # clean up before the download lock is ours (clean-up takes it)
        with self._cond:
            if self._closed:
                raise RouterUnavailable("the router service is shut down")
            running = self._download is not None
        if running:
            return {**self.status(), "started": False}
        # Outside the condition: waiting for the file lock must not block status().
        lock = DownloadLock(self._home)
        if not lock.try_acquire(LOCK_WAIT):
            return {**self.status(), "started": False}
        with self._cond:
            lost = self._download is not None or self._closed  # a race in this process
            if not lost:
                job = _Download(repo_id, revision, threading.Event(), ProgressTracker(), lock)
                job.thread = threading.Thread(
                    target=self._run_download, args=(job,), name="router-download", daemon=True
                )
                self._download = job
                self._download_error = None
                job.thread.start()
        if lost:
            lock.release()
        return {**self.status(), "started": not lost}

    def _run_download(self, job: _Download) -> None:
        error: str | None = None
        try:
            cfg = self._settings()
            install_model(
                self._home,
                repo_id=job.repo_id,
                revision=job.revision,
                precision=cfg.precision,
                threads=cfg.threads,
                hub=self._hub(),
                cancel=job.cancel,
                tracker=job.tracker,
                lock=job.lock,
            )
        except DownloadCancelled:
            error = None
        except RouterModelError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("router model download failed")
            error = f"the download failed: {exc}"
        finally:
            job.lock.release()
            with self._cond:
                self._download = None
                self._download_error = error
                self._cond.notify_all()

    def cancel_download(self) -> dict[str, Any]:
        """Ask the running download (this process's, or another's: a CLI download) to stop;
        waits a few seconds so that the answer is final."""
        deadline = time.monotonic() + _CANCEL_WAIT_SECS
        with self._cond:
            job = self._download
            if job is not None:
                job.cancel.set()
                while self._download is job and time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())
        if job is None and request_cancel(self._home):
            pause = threading.Event()
            while download_running(self._home) and time.monotonic() < deadline:
                pause.wait(0.05)  # another process: nothing to be woken by
        return self.status()

    def delete(self) -> dict[str, Any]:
        """Unload and remove the installed model. Refuses while a download runs."""
        with self._cond:
            if self._download is not None:
                raise DownloadInProgress(
                    "a download of the router model is running; cancel it before deleting"
                )
        installed = installed_model_dir(self._home)
        with self._cond:
            loaded = self._loaded
            uses_installed = (
                loaded is not None and installed is not None and (loaded.key[0] == installed)
            )
        if uses_installed:
            self.unload()
        uninstall(self._home)
        with self._cond:
            self._download_error = None
            self._load_error = None
        return self.status()

    # ----------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        # Disk first, without the lock every prediction takes: a slow disk or a file-lock
        # probe must not hold predictions up.
        disk = self._read_disk()
        with self._cond:
            return self._status_locked(disk)

    def _read_disk(self) -> _DiskFacts:
        cfg = self._settings()
        installed = installed_model_dir(self._home)
        configured = cfg.model_dir is not None
        model_dir = Path(cfg.model_dir).expanduser() if cfg.model_dir is not None else installed
        shared: dict[str, Any] | None = None
        # Unlocked peek: this process's own download is reported from memory.
        if self._download is None and download_running(self._home):
            shared = read_shared_progress(self._home) or {}
        return _DiskFacts(
            settings=cfg,
            model_dir=model_dir,
            installed=installed is not None,
            info=(None if configured else installed_info(self._home)) or {},
            is_checkpoint=model_dir is not None and (model_dir / "config.json").is_file(),
            other_download=shared,
        )

    def _status_locked(self, disk: _DiskFacts) -> dict[str, Any]:
        cfg = disk.settings
        model_dir = disk.model_dir
        configured = cfg.model_dir is not None
        loaded = self._loaded
        download: dict[str, Any] | None = None
        if self._download is not None:
            download = self._download.tracker.snapshot().as_dict()
            download.update(repo_id=self._download.repo_id, revision=self._download.revision)
        elif disk.other_download is not None:  # another process (CLI or gateway) downloads
            shared = disk.other_download
            download = {k: shared.get(k) for k in (*_DOWNLOAD_FIELDS, "repo_id", "revision")}
            download["pid"] = shared.get("pid")

        error: str | None = None
        if download is not None:
            state = "downloading"
        elif self._loading:
            state = "loading"
        elif loaded is not None:
            state = "ready"
        elif self._load_error is not None and model_dir is not None:
            state, error = "failed", self._load_error[1]
        elif configured and model_dir is not None and not disk.is_checkpoint:
            state = "failed"
            error = f"routellm.model_dir {model_dir} is not a checkpoint folder (no config.json)"
        elif model_dir is not None:
            state = "downloaded"
        elif self._download_error is not None:
            state, error = "failed", self._download_error
        else:
            state = "not_downloaded"
        if error is None and self._download_error is not None:
            error = f"the last download failed: {self._download_error}"

        if loaded is not None:
            shown_dir: Path | None = loaded.key[0]
            precision = loaded.key[1]
        else:
            shown_dir, precision = model_dir, cfg.precision
        info = disk.info
        status: dict[str, Any] = {
            "state": state,
            "model_dir": str(shown_dir) if shown_dir else None,
            "repo_id": info.get("repo_id", cfg.repo_id),
            "revision": info.get("revision", cfg.revision),
            "commit": info.get("commit"),
            "precision": precision,
            "memory_usage_mb": round(loaded.rss_delta / 2**20, 1) if loaded else None,
            "last_used_secs_ago": (
                round(time.monotonic() - self._last_used, 1)
                if self._last_used is not None
                else None
            ),
            "idle_timeout_secs": cfg.idle_timeout_secs,
            "error": error,
            "installed": disk.installed,
            "load_count": self._load_count,
            "configured_model_dir": configured,
            "home": str(self._home),
        }
        if download is not None:
            status.update(download)
        return status

    # ----------------------------------------------------------------- shutdown

    def close(self) -> None:
        with self._cond:
            job = self._download
            if job is not None:
                job.cancel.set()
        if job is not None and job.thread is not None:
            job.thread.join(timeout=30)
        self.unload()
        with self._cond:
            self._closed = True
            timer = self._timer
            self._cond.notify_all()
        if timer is not None:
            timer.join(timeout=5)
