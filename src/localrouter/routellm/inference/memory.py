"""Measuring and giving back memory, so "unload" is visible in the process's RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys

import psutil


def rss_bytes() -> int:
    """Resident set size of this process."""
    return int(psutil.Process().memory_info().rss)


@functools.cache
def _malloc_trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only; musl has no such symbol
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> None:
    """Collect garbage, then ask glibc to hand freed heap pages back to the OS (without
    this, the freed arenas of a 1 GB model stay in RSS)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
