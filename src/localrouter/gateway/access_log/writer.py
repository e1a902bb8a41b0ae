"""The access-log writer: requests append to a queue; one background thread writes the daily
files (and drops files older than ``retention_days``), so file I/O never runs on the event
loop. :meth:`AccessLog.close` drains the queue, so shutting down loses nothing. The newest
entries (1000) stay in memory for the dashboard's "recent requests".
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from localrouter.gateway.access_log.files import PATTERN, file_day, log_file
from localrouter.gateway.access_log.reader import parse_timestamp
from localrouter.gateway.access_log.record import AccessRecord
from localrouter.settings import AccessLogSettings

logger = logging.getLogger("localrouter.access_log")

_STOP = object()


class AccessLog:
    """Thread-safe: :meth:`write` from anywhere; one writer thread owns the files."""

    def __init__(
        self,
        folder: Path,
        settings: AccessLogSettings,
        *,
        keep_recent: int = 1000,
    ) -> None:
        self.folder = folder
        self._settings = settings
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep_recent)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._enqueued = 0
        self._written = 0
        self._cleaned_for: date | None = None
        self._thread: threading.Thread | None = None

    def configure(self, settings: AccessLogSettings) -> None:
        """Apply changed settings (enabled, retention) from the next entry on."""
        self._settings = settings

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lr-access-log", daemon=True)
            self._thread.start()

    def write(self, record: AccessRecord) -> None:
        """Record one request (never blocks on disk)."""
        entry = record.to_json()
        self._recent.append(entry)
        if not self._settings.enabled:
            return
        with self._cond:
            self._enqueued += 1
        self._queue.put(entry)

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest entries first (from memory)."""
        items = list(self._recent)
        items.reverse()
        return items[: max(0, limit)]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything written so far is on disk (then the reader sees it)."""
        with self._cond:
            target = self._enqueued
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._cleanup()
        except OSError as exc:
            logger.error("cannot clean up the access log in %s: %s", self.folder, exc)
        while True:
            item = self._queue.get()
            batch: list[dict[str, Any]] = []
            stop = item is _STOP
            if not stop:
                batch.append(item)  # type: ignore[arg-type]
            # Drain what else is waiting: one open/write per burst, not per entry.
            while not stop:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._write_batch(batch)
            if stop:
                return

    def _write_batch(self, batch: list[dict[str, Any]]) -> None:
        by_file: dict[Path, list[str]] = {}
        for entry in batch:
            stamp = parse_timestamp(entry.get("timestamp")) or datetime.now(UTC)
            path = log_file(self.folder, stamp.astimezone(UTC).date())
            by_file.setdefault(path, []).append(json.dumps(entry, ensure_ascii=False) + "\n")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for path, lines in by_file.items():
                with path.open("a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
            self._cleanup()
        except OSError as exc:
            logger.error("cannot write the access log in %s: %s", self.folder, exc)
        finally:
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()

    def _cleanup(self) -> None:
        """Delete daily files older than ``retention_days`` (checked once a day)."""
        today = datetime.now(UTC).date()
        if self._cleaned_for == today:
            return
        self._cleaned_for = today
        self.cleanup(today)

    def cleanup(self, today: date | None = None) -> list[Path]:
        today = today or datetime.now(UTC).date()
        oldest = today - timedelta(days=self._settings.retention_days - 1)
        removed = []
        for path in self.folder.glob(PATTERN):
            day = file_day(path)
            if day is not None and day < oldest:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed
