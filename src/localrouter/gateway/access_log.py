"""The access log (SPEC "Access log entry"): ``HOME/logs/access-YYYY-MM-DD.jsonl``.

One JSON object per request, in daily files named by the entry's UTC date. Requests only
append to a queue; a background thread writes (and drops files older than
``retention_days``), so file I/O never runs on the event loop. :meth:`AccessLog.close`
drains the queue, so shutting down loses nothing. The newest entries (1000) stay in memory
for the UI's "recent requests". The entry's fields are set by the request pipeline
(``pipeline._new_entry``); this module only stores entries.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from localrouter.settings import AccessLogSettings

logger = logging.getLogger("localrouter.access_log")

_PREFIX, _SUFFIX = "access-", ".jsonl"
_STOP = object()


def log_file(folder: Path, day: date) -> Path:
    return folder / f"{_PREFIX}{day.isoformat()}{_SUFFIX}"


def file_day(path: Path) -> date | None:
    name = path.name
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    try:
        return date.fromisoformat(name[len(_PREFIX) : -len(_SUFFIX)])
    except ValueError:
        return None


def files_since(folder: Path, first_day: date) -> list[Path]:
    """The daily files of ``first_day`` and later in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    dated = sorted(
        (day, path)
        for path in folder.glob(f"{_PREFIX}*{_SUFFIX}")
        if (day := file_day(path)) is not None and day >= first_day
    )
    return [path for _, path in dated]


def now_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class AccessLog:
    """Thread-safe: :meth:`write` from anywhere; one writer thread owns the files."""

    def __init__(
        self,
        folder: Path,
        settings: Callable[[], AccessLogSettings],
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

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lr-access-log", daemon=True)
            self._thread.start()

    def write(self, entry: dict[str, Any]) -> None:
        """Record ``entry`` (never blocks on disk)."""
        self._recent.append(entry)
        if not self._settings().enabled:
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
        """Wait until everything written so far is on disk."""
        with self._cond:
            target = self._enqueued
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def entries_since(self, since: datetime) -> Iterator[dict[str, Any]]:
        """Entries with ``timestamp >= since``, oldest first, read from the files (after a
        flush, so nothing queued is missed). Blocking file I/O: call it off the event loop."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        self.flush()
        first_day = since.astimezone(UTC).date()
        for path in files_since(self.folder, first_day):
            try:
                handle = path.open(encoding="utf-8")
            except OSError:
                continue
            with handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash
                    stamp = _parse_time(entry.get("timestamp", ""))
                    if stamp is not None and stamp >= since:
                        yield entry

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
            stamp = _parse_time(entry.get("timestamp", "")) or datetime.now(UTC)
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
        oldest = today - timedelta(days=self._settings().retention_days - 1)
        removed = []
        for path in self.folder.glob(f"{_PREFIX}*{_SUFFIX}"):
            day = file_day(path)
            if day is not None and day < oldest:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed
