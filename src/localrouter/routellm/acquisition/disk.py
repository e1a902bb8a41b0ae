"""Free disk space, checked before a download so it fails at once instead of at 90 %.

``LOCALROUTER_FAKE_FREE_BYTES`` replaces the measured figure: tests simulate a full disk
by configuration instead of filling one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.filesize import decimal

from localrouter.routellm.errors import DownloadError

FAKE_FREE_ENV = "LOCALROUTER_FAKE_FREE_BYTES"
_MARGIN = 32 * 1024 * 1024  # room for the manifest, logs and filesystem overhead


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged user on the filesystem holding ``path``."""
    fake = os.environ.get(FAKE_FREE_ENV)
    if fake:
        try:
            return int(fake)
        except ValueError:
            raise ValueError(f"{FAKE_FREE_ENV}={fake!r} is not a whole number of bytes") from None
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def conversion_bytes(safetensors_bytes: int, precision: str) -> int:
    """What converting adds: an fp32 ONNX graph about the size of the safetensors weights,
    plus an int8 copy of about a quarter of that when int8 is wanted."""
    extra = safetensors_bytes
    if precision == "int8":
        extra += safetensors_bytes // 4
    return extra


def ensure_free_space(path: Path, needed: int, free: int | None = None) -> None:
    """Raise DownloadError naming both figures when ``path``'s disk cannot hold ``needed``."""
    available = free_bytes(path) if free is None else free
    needed += _MARGIN
    if available < needed:
        raise DownloadError(
            f"not enough free disk space in {path}: the download and conversion need about "
            f"{decimal(needed)} but only {decimal(available)} is free"
        )
