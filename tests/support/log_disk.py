"""A disk for the access log that fills up, turns read-only and recovers on demand.

:class:`TmpfsDisk` is a real file system: a small tmpfs mounted on ``HOME/logs`` (needs the
right to mount, as root in a container usually has). :class:`FlakyDisk` is the writer's
``os_write`` seam doing the same (writes what fits, then ENOSPC; or EROFS), for machines
that do not allow mounting. Both: ``fill()``, ``read_only()``, ``free()``, ``close()``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path


class FlakyDisk:
    """``os.write`` with a quota: writes what fits (``room`` bytes), then fails."""

    def __init__(self) -> None:
        self.room: int | None = None  # bytes left; None = unlimited
        self.errno = errno.ENOSPC
        self._lock = threading.Lock()

    def fill(self, room: int = 0, code: int = errno.ENOSPC) -> None:
        with self._lock:
            self.room, self.errno = room, code

    def read_only(self) -> None:
        self.fill(0, errno.EROFS)

    def free(self) -> None:
        with self._lock:
            self.room = None

    def close(self) -> None:
        self.free()

    def write(self, fd: int, data: bytes) -> int:
        with self._lock:
            if self.room is None:
                return os.write(fd, data)
            if self.room == 0:
                raise OSError(self.errno, os.strerror(self.errno))
            written = os.write(fd, data[: self.room])
            self.room -= written
            return written


class TmpfsDisk:
    """A ``size`` tmpfs on ``mountpoint``; ``fill()`` takes all its free space."""

    def __init__(self, mountpoint: Path, size: str = "256k") -> None:
        self.mountpoint = mountpoint
        mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
            check=True,
            capture_output=True,
        )
        self._filler = mountpoint / ".filler"

    @staticmethod
    def allowed(scratch: Path) -> bool:
        """Whether this machine lets us mount a tmpfs (tried on ``scratch``)."""
        try:
            TmpfsDisk(scratch, "16k").close()
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)

    def read_only(self) -> None:
        self._remount("ro")

    def free(self) -> None:
        self._remount("rw")
        self._filler.unlink(missing_ok=True)

    def _remount(self, mode: str) -> None:
        subprocess.run(
            ["mount", "-o", f"remount,{mode}", str(self.mountpoint)],
            check=True,
            capture_output=True,
        )

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.mountpoint)], check=True, capture_output=True)
