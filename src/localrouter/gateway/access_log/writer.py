"""The access-log writer: requests append to a queue; one background thread writes the daily
files (and drops files older than ``retention_days``), so file I/O never runs on the event
loop. :meth:`AccessLog.close` drains the queue, so shutting down loses nothing. The newest
entries (1000) stay in memory for the dashboard's "recent requests".

Durability. Each file's share of a batch goes out as one buffer through ``os.write`` on an
``O_APPEND`` descriptor; a failed or short write is cut back (``ftruncate``) to the size
before it, and a file that still ends mid-line (a crash, a failed cut) gets a newline before
the next entry: a line is whole or absent. While writes fail (ENOSPC, EROFS, any OSError)
entries wait in memory, at most ``max_pending`` of them (the oldest are dropped and
counted), and are retried with a growing pause (no busy loop); after recovery a
``{"type": "lost_entries", ...}`` line records what was dropped. :meth:`AccessLog.health`
tells ``/health`` and the metrics.

A SIGKILL loses only entries not yet handed to the kernel: the writer wakes on each entry
(no flush interval), so that is the last fraction of a millisecond of traffic.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from localrouter.gateway.access_log.files import PATTERN, file_day, log_file
from localrouter.gateway.access_log.reader import parse_timestamp
from localrouter.gateway.access_log.record import LOST_ENTRIES, AccessRecord, now_timestamp
from localrouter.settings import AccessLogSettings

logger = logging.getLogger("localrouter.access_log")

WriteFn = Callable[[int, bytes], int]  # os.write's shape

MAX_PENDING = 10_000  # entries kept in memory while the disk fails (about 10 MB at most)
_BATCH = 1000  # entries per write while healthy: a burst is written, never dropped
_RETRY_FIRST, _RETRY_MAX = 0.2, 5.0  # seconds between attempts while writes fail

_STOP = object()


@dataclass(frozen=True, slots=True)
class LogHealth:
    """The writer's state for ``/health`` and ``/metrics``."""

    error: str | None  # why writes fail right now; None when they work
    pending: int  # entries waiting in memory for the disk
    write_failures: int  # failed write attempts since start
    lost: int  # entries dropped because the in-memory queue was full


@dataclass(slots=True)
class _Line:
    path: Path
    data: bytes
    timestamp: str


class AccessLog:
    """Thread-safe: :meth:`write` from anywhere; one writer thread owns the files.

    ``os_write`` is the one seam for tests that simulate a failing disk (it gets the file
    descriptor and the buffer, like :func:`os.write`)."""

    def __init__(
        self,
        folder: Path,
        settings: AccessLogSettings,
        *,
        keep_recent: int = 1000,
        max_pending: int = MAX_PENDING,
        os_write: WriteFn = os.write,
    ) -> None:
        self.folder = folder
        self.os_write = os_write
        self._settings = settings
        self._max_pending = max_pending
        self._batch = min(_BATCH, max_pending)  # a healthy disk never drops an entry
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep_recent)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._enqueued = 0
        self._handled = 0  # taken by the writer: written, or parked because writes fail
        self._cleaned_for: date | None = None
        self._thread: threading.Thread | None = None
        # Writer thread's (read under ``_cond`` by health()):
        self._pending: deque[_Line] = deque()
        self._error: str | None = None
        self._failures = 0
        self._lost = 0
        self._unreported = 0  # dropped since the last "lost_entries" line
        self._lost_first: str | None = None  # timestamps of the first and last of them
        self._lost_last: str | None = None
        self._retry_at: float | None = None
        self._backoff = _RETRY_FIRST

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
        """Wait until the writer has handled everything logged so far; True when it is all on
        disk (False while writes fail: the rest waits in memory)."""
        with self._cond:
            target = self._enqueued
            done = self._cond.wait_for(lambda: self._handled >= target, timeout)
            return done and not self._pending

    def health(self) -> LogHealth:
        with self._cond:
            return LogHealth(self._error, len(self._pending), self._failures, self._lost)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued (one last attempt if writes fail), then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        self._cleanup_quietly()
        while True:
            taken, stop = self._take()
            if stop or self._retry_at is None or time.monotonic() >= self._retry_at:
                self._write_pending()
            with self._cond:
                self._handled += taken
                self._cond.notify_all()
            if stop:
                if self._pending:
                    logger.error(
                        "access log: %d entries could not be written before shutdown: %s",
                        len(self._pending),
                        self._error,
                    )
                return

    def _take(self) -> tuple[int, bool]:
        """Move entries from the queue to ``_pending``: wait for the first (until the next
        retry while writes fail), then what else is there (up to a batch while healthy).
        Returns how many, and whether the stop mark was taken (then everything is taken)."""
        wait = None if self._retry_at is None else max(0.0, self._retry_at - time.monotonic())
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return 0, False
        count = 0
        stop = False
        while True:
            if item is _STOP:
                stop = True
            else:
                self._park(item)  # type: ignore[arg-type]
                count += 1
            if not stop and self._retry_at is None and count >= self._batch:
                return count, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return count, stop

    def _park(self, entry: dict[str, Any]) -> None:
        stamp = parse_timestamp(entry.get("timestamp")) or datetime.now(UTC)
        path = log_file(self.folder, stamp.astimezone(UTC).date())
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        with self._cond:
            self._pending.append(_Line(path, data, str(entry.get("timestamp"))))
            if len(self._pending) > self._max_pending:  # only while writes fail
                dropped = self._pending.popleft()
                self._lost += 1
                self._unreported += 1
                self._lost_first = self._lost_first or dropped.timestamp
                self._lost_last = dropped.timestamp

    def _write_pending(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._unreported:
                self._write_file(*self._lost_line())
                with self._cond:
                    self._unreported = 0
                    self._lost_first = self._lost_last = None
            while self._pending:
                path = self._pending[0].path
                lines: list[bytes] = []
                for line in self._pending:  # this file's run of lines, in order
                    if line.path != path or len(lines) >= _BATCH * 10:
                        break
                    lines.append(line.data)
                self._write_file(path, b"".join(lines))
                with self._cond:
                    for _ in lines:
                        self._pending.popleft()
        except OSError as exc:
            self._failed(exc)
            return
        if self._error is not None:
            logger.warning("access log: writes to %s work again", self.folder)
        with self._cond:
            self._error = None
            self._retry_at = None
            self._backoff = _RETRY_FIRST
        self._cleanup_quietly()

    def _lost_line(self) -> tuple[Path, bytes]:
        """The record of what was dropped, in today's file."""
        line = {
            "type": LOST_ENTRIES,
            "timestamp": now_timestamp(),
            "count": self._unreported,
            "first_timestamp": self._lost_first,
            "last_timestamp": self._lost_last,
            "reason": self._error,
        }
        path = log_file(self.folder, datetime.now(UTC).date())
        return path, (json.dumps(line) + "\n").encode()

    def _write_file(self, path: Path, data: bytes) -> None:
        """Append ``data`` (whole lines) to ``path``: all of it, or nothing."""
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn line from before: end it, keep ours whole
            try:
                done = 0
                while done < len(data):  # a short write is retried; it fails on a full disk
                    written = self.os_write(fd, data[done:] if done else data)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    done += written
            except OSError:
                try:
                    os.ftruncate(fd, size)  # take back a partial line
                except OSError as exc:
                    logger.error("access log: cannot cut a partial line from %s: %s", path, exc)
                raise
        finally:
            os.close(fd)

    def _failed(self, exc: OSError) -> None:
        # No path in the reason: /health is public; the server's log names the folder.
        reason = f"cannot write the access log: {exc.strerror or exc}"
        if self._error is None:
            logger.error(
                "cannot write the access log in %s: %s; entries wait in memory (at most %d)",
                self.folder,
                exc,
                self._max_pending,
            )
        with self._cond:
            self._error = reason
            self._failures += 1
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _RETRY_MAX)

    def _cleanup_quietly(self) -> None:
        try:
            self._cleanup()
        except OSError as exc:
            logger.error("cannot clean up the access log in %s: %s", self.folder, exc)

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
