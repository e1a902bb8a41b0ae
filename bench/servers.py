"""Start, probe and stop the HTTP servers of the gateway benchmark (all on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil


class Server:
    """A server process in its own session (so its children, if any, stop with it)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-600:]

    def wait_ready(
        self, url: str, model: str, key: str, timeout_s: float = 180.0
    ) -> httpx.Response:
        """Poll with a real chat completion until it answers 200 (or fail with the log)."""
        deadline = time.monotonic() + timeout_s
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "ready?"}],
            "max_tokens": 8,
        }
        last = "no answer"
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}"
                    )
                try:
                    response = client.post(
                        url, json=body, headers={"Authorization": f"Bearer {key}"}
                    )
                    if response.status_code == 200 and response.json().get("choices"):
                        return response
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = str(exc) or type(exc).__name__
                time.sleep(0.25)  # polling a starting server, not synchronising a test
        raise RuntimeError(
            f"{self.name} not ready after {timeout_s:.0f} s ({last}); {self.log_tail()}"
        )

    def rss_mb(self) -> float:
        """Resident memory of the server and its children."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
