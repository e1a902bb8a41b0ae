"""Where this home's gateway listens, whatever port it was started on.

``localrouter serve`` records ``HOME/gateway.json`` (``{"url", "pid"}``) once it listens and
removes it on a clean shutdown; the CLI commands that talk to the gateway read it. A file
left by a crash is recognised as stale (its process is gone, or nothing answers /health)
and ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from localrouter.settings import Settings

GATEWAY_FILE = "gateway.json"


def gateway_file(home: Path) -> Path:
    return home / GATEWAY_FILE


def record_gateway(home: Path, url: str) -> None:
    """Write the file atomically (temp file + rename): a reader never sees half of it."""
    home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".gateway-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"url": url, "pid": os.getpid()}, handle)
        os.replace(tmp, gateway_file(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def forget_gateway(home: Path) -> None:
    """Remove the file if it is still ours (a newer gateway on this home may have replaced it)."""
    path = gateway_file(home)
    if _read(path).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: int) -> bool:
    import psutil  # portable: os.kill(pid, 0) would terminate the process on Windows

    return bool(psutil.pid_exists(pid))


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def recorded_gateway(home: Path) -> str | None:
    """The URL in HOME/gateway.json when its process runs and answers /health, else None."""
    data = _read(gateway_file(home))
    url, pid = data.get("url"), data.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or not _alive(pid):
        return None
    return url if _answers(url) else None


def local_url(host: str, port: int) -> str:
    """The address a client on this machine uses for a server listening on ``host``."""
    if host in ("0.0.0.0", "::", ""):  # every interface: loopback is one of them
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def settings_gateway(settings: Settings) -> str:
    """Where a gateway started with this home's settings (no --host/--port) listens."""
    return local_url(settings.server.host, settings.server.port)


def gateway_url(home: Path, settings: Settings, override: str | None = None) -> str:
    """Where to look for the gateway: ``--url``, else the recorded address, else settings'."""
    if override:
        return override.rstrip("/").removesuffix("/v1")  # the SDK's base URL works too
    return recorded_gateway(home) or settings_gateway(settings)
