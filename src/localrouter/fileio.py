"""File helpers shared by the whole package: content hashes and atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def hash_file(path: Path, algorithm: str = "sha256", prefix: bytes = b"") -> str:
    """Hex digest of ``prefix`` + the file's content (read in blocks, not whole)."""
    seeded = hashlib.new(algorithm, prefix)
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, lambda: seeded).hexdigest()


def sha256_file(path: Path) -> str:
    return hash_file(path, "sha256")


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never
    half of one: a temporary file in the same folder, fsynced, then renamed over it.
    ``fsync=False`` for files that need not survive a power cut (progress reports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)
