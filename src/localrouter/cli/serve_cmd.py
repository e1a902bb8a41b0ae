"""`localrouter serve [--host H] [--port P] [--config FILE] [--allow-remote]`."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from localrouter.cli.apps import app
from localrouter.cli.errors import fail
from localrouter.paths import home_dir, settings_path
from localrouter.settings import SettingsError, load_settings


def _bind(host: str, port: int) -> socket.socket:
    """Bind here (not inside uvicorn) for a one-line error and, with --port 0, the real port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot resolve host {host!r}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (0 picks a free one).", min=0, max=65535)
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default: HOME/settings.yaml).")
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Serve non-loopback callers even though no client API keys are configured.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
) -> None:
    """Run the gateway: OpenAI-compatible API, admin API and web UI."""
    import uvicorn

    from localrouter.gateway.app import create_app
    from localrouter.gateway.auth import is_loopback

    config_path = config or settings_path()
    try:
        settings = load_settings(config_path)
    except SettingsError as exc:
        fail(" ".join(str(exc).split()))  # YAML errors span lines; one line on stderr
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    remote_ok = allow_remote or settings.server.allow_remote_without_keys
    if not is_loopback(host) and not settings.clients and not remote_ok:
        fail(
            f"refusing to listen on {host} without client API keys (clients in settings.yaml); "
            "use --allow-remote or server.allow_remote_without_keys to allow it anyway"
        )
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    application = create_app(
        settings, home=home_dir(), config_path=config_path, allow_remote=allow_remote
    )
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            loop="auto",  # uvloop when installed
            http="auto",  # httptools when installed
            log_level=log_level,
            access_log=False,  # our own access log has the useful fields
            timeout_graceful_shutdown=5,
            server_header=False,
        )
    )
    print(f"LocalRouter listening on http://{_url_host(host)}:{bound_port}", flush=True)
    print(f"Settings: {config_path}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        sys.exit(1)
