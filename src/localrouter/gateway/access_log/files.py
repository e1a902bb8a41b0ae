"""Where entries live: ``HOME/logs/access-YYYY-MM-DD.jsonl``, named by the entry's UTC date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

PREFIX, SUFFIX = "access-", ".jsonl"
PATTERN = f"{PREFIX}*{SUFFIX}"


def log_file(folder: Path, day: date) -> Path:
    return folder / f"{PREFIX}{day.isoformat()}{SUFFIX}"


def file_day(path: Path) -> date | None:
    """The day of a daily file, None for any other file."""
    name = path.name
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    try:
        return date.fromisoformat(name[len(PREFIX) : -len(SUFFIX)])
    except ValueError:
        return None


def files_since(folder: Path, first_day: date, last_day: date | None = None) -> list[Path]:
    """The daily files from ``first_day`` (to ``last_day``) in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    dated = sorted(
        (day, path)
        for path in folder.glob(PATTERN)
        if (day := file_day(path)) is not None
        and day >= first_day
        and (last_day is None or day <= last_day)
    )
    return [path for _, path in dated]
