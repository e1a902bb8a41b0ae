"""Reading the access log back: one timestamp parser, entries by time, and compact rows.

Used by ``GET /api/stats``, ``POST /api/calibrate``, ``routellm calibrate --from-logs`` and
the tests. Unreadable lines (a torn last line after a crash, a line being written) and
marker lines (``"type": "lost_entries"``) are skipped: only request entries come out.
:class:`LogIndex` keeps a :class:`Row` per entry and, since the daily files are append-only,
reads only the bytes added since its last look: the dashboard polls every few
seconds, and re-parsing a busy day's file each time would cost seconds of CPU.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localrouter.gateway.access_log.files import files_since


def parse_timestamp(value: object) -> datetime | None:
    """An entry's ``timestamp`` as an aware UTC datetime (ISO 8601, naive = UTC, or epoch
    seconds); None when unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _entries_of(data: bytes) -> Iterator[dict[str, Any]]:
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn line after a crash
        if isinstance(entry, dict) and "type" not in entry:  # markers have a type
            yield entry


def read_entries(
    folder: Path, since: datetime, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Entries with ``since <= timestamp (<= until)``, oldest file first. Blocking file I/O:
    call it off the event loop (and flush the writer first to see what is queued)."""
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    last_day = until.astimezone(UTC).date() if until is not None else None
    for path in files_since(folder, since.astimezone(UTC).date(), last_day):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for entry in _entries_of(data):
            stamp = parse_timestamp(entry.get("timestamp"))
            if stamp is not None and stamp >= since and (until is None or stamp <= until):
                yield entry


def win_rate_of(entry: Mapping[str, Any]) -> float | None:
    value = entry.get("routellm_win_rate")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def model_ref(entry: Mapping[str, Any]) -> str | None:
    """The ``provider/model`` that answered, however the entry spells it."""
    model = entry.get("model")
    provider = entry.get("provider")
    if not model:
        return None
    if provider and not str(model).startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return str(model)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


@dataclass(frozen=True, slots=True)
class Row:
    """What the statistics need of one entry."""

    ts: float  # epoch seconds
    tier: str  # answered: strong | weak | direct | none (failed before routing)
    routed_tier: str  # decided: strong | weak | direct | none (older entries: = tier)
    router: str | None
    win_rate: float | None
    model: str | None  # provider/model that answered
    error: bool
    input_tokens: int
    output_tokens: int
    baseline: str | None = None  # the strong chain's first model when it was routed


def row_of(entry: Mapping[str, Any]) -> Row | None:
    """The row of one entry; None when it has no readable timestamp."""
    when = parse_timestamp(entry.get("timestamp"))
    if when is None:
        return None
    tier = _text(entry.get("tier"), "none")
    router = entry.get("router")
    return Row(
        ts=when.timestamp(),
        tier=tier,
        routed_tier=_text(entry.get("routed_tier"), tier),
        router=router if isinstance(router, str) else None,
        win_rate=win_rate_of(entry),
        model=model_ref(entry),
        error=entry.get("status") == "error",
        input_tokens=_count(entry.get("input_tokens")),
        output_tokens=_count(entry.get("output_tokens")),
        baseline=baseline if isinstance(baseline := entry.get("baseline_model"), str) else None,
    )


def rows_of(entries: Iterable[Mapping[str, Any]]) -> list[Row]:
    return [row for row in map(row_of, entries) if row is not None]


def router_of(entry: Mapping[str, Any]) -> str:
    """The router that gave the entry's win rate (entries logged before routers had names
    were all routed by ``bert``)."""
    router = entry.get("router")
    return router if isinstance(router, str) else "bert"


def logged_win_rates(
    folder: Path, since: datetime, until: datetime, router: str | None = None
) -> list[float]:
    """The win rate of every routed request logged between ``since`` and ``until`` (only
    those of ``router`` when given: win rates of different routers do not mix)."""
    return [
        r
        for e in read_entries(folder, since, until)
        if (r := win_rate_of(e)) is not None and (router is None or router_of(e) == router)
    ]


@dataclass
class _File:
    offset: int = 0  # bytes consumed: always just after a newline
    rows: list[Row] = field(default_factory=list)


class LogIndex:
    """Rows of the daily files, parsed once and extended as files grow.

    Only complete lines are consumed (a line being written is read next time); a file that
    shrank was replaced and is read again; files outside the asked window are forgotten.
    Thread-safe.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[Path, _File] = {}
        self._lock = threading.Lock()

    def rows_since(self, since: datetime) -> list[Row]:
        first_day = since.astimezone(UTC).date()
        cutoff = since.timestamp()
        with self._lock:
            paths = files_since(self.folder, first_day)
            wanted = set(paths)
            for stale in [p for p in self._files if p not in wanted]:
                del self._files[stale]
            rows: list[Row] = []
            for path in paths:
                cached = self._refresh(path)
                rows.extend(r for r in cached.rows if r.ts >= cutoff)
        return rows

    def _refresh(self, path: Path) -> _File:
        cached = self._files.get(path)
        try:
            size = path.stat().st_size
            if cached is None or size < cached.offset:
                cached = self._files[path] = _File()
            if size == cached.offset:
                return cached
            with path.open("rb") as handle:
                handle.seek(cached.offset)
                data = handle.read(size - cached.offset)
        except OSError:
            return cached or _File()
        end = data.rfind(b"\n") + 1
        cached.rows.extend(rows_of(_entries_of(data[:end])))
        cached.offset += end
        return cached
