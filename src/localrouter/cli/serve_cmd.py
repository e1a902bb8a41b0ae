"""`localrouter serve [--host H] [--port P] [--config FILE] [--allow-remote]`."""

from __future__ import annotations

import errno
import os
import socket
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from localrouter.cli.apps import app
from localrouter.cli.discovery import forget_gateway, local_url
from localrouter.cli.errors import fail
from localrouter.cli.router_hints import DOWNLOAD_SIZE_HINT
from localrouter.cli.settings_file import require_config
from localrouter.paths import home_dir, settings_path
from localrouter.settings import Settings, SettingsError, load_settings


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


def _router_text(status: dict[str, Any], settings: Settings) -> str:
    """What the router model's state means for `localrouter/auto` traffic."""
    strong = settings.routing.strong[0] if settings.routing.strong else "none configured"
    if not settings.routing.enabled:
        return f"routing is off (routing.enabled: false): localrouter/auto goes to {strong}."
    to_strong = f"until then, localrouter/auto goes to the strong tier ({strong})"
    state = status.get("state")
    if state == "not_downloaded":
        return (
            f"not downloaded ({DOWNLOAD_SIZE_HINT}): run `localrouter routellm download` "
            f"or download it from the dashboard; {to_strong}."
        )
    if state == "downloading":
        return f"downloading; {to_strong}."
    if state == "failed":
        error = status.get("error") or "unknown error"
        return f"failed: {error}; {to_strong}."
    return "downloaded; it loads on the first routed request."


def _print_start(base: str, config_path: Path, status: dict[str, Any], settings: Settings) -> None:
    """The facts a first request needs: where, which model name, and what is missing (the
    text is wrapped for an 80-column terminal)."""
    label = 16  # "  Router model  "
    router = textwrap.wrap(_router_text(status, settings), 80 - label, break_on_hyphens=False)
    lines = [
        f"  Base URL      {base}/v1",
        "  Model         localrouter/auto",
        f"  Dashboard     {base}/",
        f"  Router model  {router[0]}",
        *(" " * label + line for line in router[1:]),
        f"  Settings      {config_path}",
    ]
    print("\n".join(lines), flush=True)
    for provider in settings.providers:
        env = provider.api_key_env
        if env and not provider.api_key and not os.environ.get(env):
            warning = (
                f"Warning: {env} is not set, so requests to provider {provider.name!r} "
                "carry no API key."
            )
            print(textwrap.fill(warning, 80, break_on_hyphens=False), file=sys.stderr, flush=True)


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
    import uvicorn  # here: the other commands start faster without it

    from localrouter.cli.recorded_server import RecordedServer
    from localrouter.gateway.app import create_app
    from localrouter.gateway.auth import is_loopback
    from localrouter.routellm.service import RouterService

    require_config(config)
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
    home = home_dir()
    application = create_app(
        settings, home=home, config_path=config_path, allow_remote=allow_remote
    )
    base = local_url(host, bound_port)
    server = RecordedServer(
        uvicorn.Config(
            application,
            loop="auto",  # uvloop when installed
            http="auto",  # httptools when installed
            log_level=log_level,
            access_log=False,  # our own access log has the useful fields
            timeout_graceful_shutdown=5,
            server_header=False,
        ),
        home,
        base,
    )
    print(f"LocalRouter listening on http://{_url_host(host)}:{bound_port}", flush=True)
    # A read-only look at the installed model (the gateway's own service starts in the lifespan).
    model_status = RouterService(home, lambda: settings.routellm).status()
    _print_start(base, config_path, model_status, settings)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        forget_gateway(home)  # when start-up failed or an exception ended the loop
    if not server.started:
        sys.exit(1)
