"""Waiting on a condition with a deadline: the tests' one way to synchronise (no bare sleeps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it is true; AssertionError once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


class Background:
    """``fn()`` running in a thread: what it raised lands in ``errors``, ``done`` is set when
    it ends either way."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self._fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.done.set()

    def join(self, timeout: float) -> bool:
        """True when the thread ended within ``timeout`` seconds."""
        self.thread.join(timeout)
        return not self.thread.is_alive()
