"""Run ``localrouter serve`` as a real process for tests.

Usage::

    with GatewayProcess(home, settings_dict) as gw:     # writes HOME/settings.yaml, starts
        gw.base_url      # "http://127.0.0.1:PORT"
        gw.v1_url        # base_url + "/v1" (for the openai SDK's base_url)
        gw.home          # the LOCALROUTER_HOME of the process
        gw.log_entries() # access-log entries on disk (flushes nothing: poll or stop first)
        gw.wait_for_log(n)  # poll until at least n entries are on disk, return them
    # leaving the block stops it with SIGTERM (a clean shutdown: the access log is flushed)

``settings`` is a plain dict in settings.yaml's shape (None keeps the file already in
``home``, or lets the gateway write the defaults). The port is chosen by the OS
(``--port 0``) and read from the process's first output line, so parallel gateways never
race for a port. ``env`` adds environment variables (e.g. provider keys); ``args`` adds
command-line arguments. stdout/stderr go to ``HOME/gateway.out`` for debugging;
:meth:`output` returns them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

_LISTENING = re.compile(r"listening on (http://\S+)")


class GatewayProcess:
    def __init__(
        self,
        home: Path,
        settings: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.home = Path(home)
        self.settings = settings
        self.env = env or {}
        self.args = args or []
        self.start_timeout = start_timeout
        self.base_url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._out_path = self.home / "gateway.out"

    @property
    def v1_url(self) -> str:
        return self.base_url + "/v1"

    def start(self) -> GatewayProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.settings is not None:
            (self.home / "settings.yaml").write_text(yaml.safe_dump(self.settings), "utf-8")
        env = {**os.environ, "LOCALROUTER_HOME": str(self.home), **self.env}
        env.pop("LOCALROUTER_ENV", None)
        out = self._out_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localrouter", "serve", "--port", "0", *self.args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited at start:\n{self.output()}")
            if not self.base_url:
                match = _LISTENING.search(self.output())
                if match:
                    self.base_url = match.group(1)
            if self.base_url and self._healthy():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not become healthy:\n{self.output()}")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.base_url + "/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        try:
            return self._out_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit status (0 after a
        clean shutdown)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for path in sorted((self.home / "logs").glob("access-*.jsonl")):
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    entries.append(json.loads(line))
        return entries

    def wait_for_log(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            entries = self.log_entries()
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.02)

    def entry(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The access-log entry of one request (by its x-request-id), polling until written."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.log_entries():
                if entry.get("request_id") == request_id:
                    return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"no access-log entry for {request_id}")
            time.sleep(0.02)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
