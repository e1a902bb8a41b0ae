"""The `routellm download` progress display: one row for the download (percentage, bytes,
rate, ETA), then one for the conversion (its own percentage and ETA, or the elapsed time
while a step reports no progress). Columns have fixed widths summing to less than the
terminal's (80 or more), so the unit of a number never wraps onto the next line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID
from rich.table import Column
from rich.text import Text

from localrouter.routellm.acquisition.hub import DownloadProgress

_LABEL_W = 11  # "Downloading"
_PERCENT_W = 4  # "100%"
_BYTES_W = 17  # "999.9 MB/999.9 MB"
_RATE_W = 10  # "999.9 MB/s"
_ETA_W = 11  # "ETA 1:02:03"
_MIN_BAR = 8

_LABELS = {
    "resolving": "Resolving",
    "downloading": "Downloading",
    "verifying": "Verifying",
    "converting": "Converting",
    "installing": "Installing",
    "done": "Done",
}


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from one hour."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class _Row:
    label: str = ""
    percent: str = ""
    size: str = ""
    rate: str = ""
    eta: str = ""


class _Field(ProgressColumn):
    """One text field of the task's ``_Row``, in a column of fixed width."""

    def __init__(self, name: str, width: int, justify: Literal["left", "right"]) -> None:
        super().__init__(table_column=Column(width=width, no_wrap=True, overflow="crop"))
        self.name, self.justify = name, justify

    def render(self, task: Task) -> Text:
        row = task.fields.get("row")
        return Text(str(getattr(row, self.name, "")), justify=self.justify)


class DownloadBar:
    """Feed it the install's progress snapshots (``update``); ``start``/``stop`` the display."""

    def __init__(self, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        width = console.width
        fixed = _LABEL_W + _PERCENT_W + _ETA_W
        columns: list[ProgressColumn] = [
            _Field("label", _LABEL_W, "left"),
            _Field("percent", _PERCENT_W, "right"),
        ]
        # Bytes and rate only when they fit: a narrow terminal still gets the bar and ETA.
        wide = width >= fixed + _BYTES_W + _RATE_W + 6 + _MIN_BAR + 1
        if wide:
            columns += [_Field("size", _BYTES_W, "right"), _Field("rate", _RATE_W, "right")]
            fixed += _BYTES_W + _RATE_W
        columns.append(_Field("eta", _ETA_W, "right"))
        gaps = len(columns)  # one space between columns, the bar included
        bar_width = max(_MIN_BAR, width - fixed - gaps - 1)  # -1: never the last column
        columns.insert(1, BarColumn(bar_width=min(bar_width, 40)))
        self.progress = Progress(*columns, console=console)
        self._download: TaskID = self.progress.add_task(
            "download", total=None, row=_Row(label="Resolving")
        )
        self._convert: TaskID | None = None
        self._started = time.monotonic()
        self._download_secs: float | None = None  # frozen when the bytes are all in
        self._convert_started = 0.0

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, snap: DownloadProgress) -> None:
        if snap.phase in ("resolving", "downloading", "verifying"):
            self._show_download(snap, _LABELS[snap.phase])
            return
        if self._download_secs is None:
            self._download_secs = time.monotonic() - self._started
        if snap.phase == "done" and self._convert is None:  # already installed: nothing ran
            self._show_download(snap, "Installed")
            return
        self._show_download(snap, "Downloaded")
        self._show_conversion(snap)

    def _show_download(self, snap: DownloadProgress, label: str) -> None:
        total, done = snap.total_bytes, snap.downloaded_bytes
        row = _Row(label=label)
        if total:
            row = replace(row, percent=f"{100 * done / total:.0f}%")
            row = replace(row, size=f"{decimal(done)}/{decimal(total)}")
        if self._download_secs is not None:
            row = replace(row, eta=f"in {clock(self._download_secs)}")
        else:
            if snap.bytes_per_sec > 0:
                row = replace(row, rate=f"{decimal(int(snap.bytes_per_sec))}/s")
            if snap.eta_secs is not None:
                row = replace(row, eta=f"ETA {clock(snap.eta_secs)}")
        self.progress.update(
            self._download, total=total or None, completed=min(done, total), row=row
        )

    def _show_conversion(self, snap: DownloadProgress) -> None:
        now = time.monotonic()
        if self._convert is None:
            self._convert_started = now
            self._convert = self.progress.add_task("convert", total=None, row=_Row())
        elapsed = now - self._convert_started
        step = snap.phase_progress
        row = _Row(size=f"{clock(elapsed)} elapsed")
        if snap.phase == "done":
            row = replace(row, label="Ready", percent="100%")
            self.progress.update(self._convert, total=1, completed=1, row=row)
        elif snap.phase == "converting" and step is not None and step < 1.0:
            row = replace(row, label="Converting", percent=f"{100 * step:.0f}%")
            if step >= 0.02:  # before that the estimate jumps around
                row = replace(row, eta=f"ETA {clock(elapsed * (1 - step) / step)}")
            self.progress.update(self._convert, total=1000, completed=int(1000 * step), row=row)
        else:
            # No measure of progress here (converted, loading and testing it, installing):
            # a moving bar and the elapsed time, never a full bar standing still.
            label = "Installing" if snap.phase == "installing" else "Testing"
            if snap.phase == "converting" and step is None:
                label = "Converting"
            self.progress.update(self._convert, total=None, row=replace(row, label=label))
