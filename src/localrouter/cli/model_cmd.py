"""`localrouter routellm download | status | unload | delete`: the router model's files.

``download`` runs here, in this process, with a progress bar; the download lock makes it
refuse (showing the other one's progress) while a gateway or another CLI downloads.
``status``, ``unload`` and ``delete`` ask a running gateway (found through HOME/gateway.json,
or ``--url``), because only the gateway's process holds a loaded model.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.filesize import decimal

from localrouter.cli.apps import routellm_app
from localrouter.cli.download_bar import DownloadBar
from localrouter.cli.errors import fail
from localrouter.paths import home_dir, routellm_dir
from localrouter.routellm.acquisition.hub import ProgressTracker
from localrouter.routellm.errors import RouterModelError
from localrouter.settings import Settings, load_settings

_JOIN_SECS = 60.0  # after Ctrl-C, how long to wait for the download to stop and clean up


def _settings() -> Settings:
    return load_settings()


def _find_gateway(settings: Settings, home: Path, url: str | None) -> str:
    from localrouter.cli.discovery import gateway_url

    return gateway_url(home, settings, url)


# --------------------------------------------------------------------------- gateway

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="The gateway's address, e.g. http://127.0.0.1:3625 (default: the one "
        "`localrouter serve` recorded in HOME, else settings' server.host:port).",
    ),
]


# A gateway with `clients` keys answers /api only to an admin key, taken from here.
ADMIN_KEY_ENV = "LOCALROUTER_API_KEY"


class GatewayAuthError(RuntimeError):
    """The gateway refused the CLI's call for want of an (admin) key."""


def _gateway_call(base: str, method: str, path: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The JSON answer of the gateway at ``base``, or None when none listens there.
    Raises GatewayAuthError on 401/403, else RuntimeError with the gateway's own message
    when it answers with an error."""
    import httpx

    key = os.environ.get(ADMIN_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(method, base + path, headers=headers, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        return None
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the gateway at {base} did not answer: {exc}") from None
    if response.status_code in (401, 403):
        which = "an admin key" if not key else f"an admin key ({ADMIN_KEY_ENV} was refused)"
        raise GatewayAuthError(
            f"the gateway at {base} needs {which}: set {ADMIN_KEY_ENV} to a key of a client "
            "with role: admin"
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        message = ""
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = str(data["error"].get("message") or "")
        raise RuntimeError(message or f"the gateway at {base} answered HTTP {response.status_code}")
    return data if isinstance(data, dict) else None


def _same_home(status: dict[str, Any] | None, home: Path) -> bool:
    if not status or "home" not in status:
        return False
    try:
        return Path(str(status["home"])).resolve() == home.resolve()
    except OSError:
        return False


# --------------------------------------------------------------------------- download


def _describe_progress(progress: dict[str, Any] | None) -> str:
    if not progress:
        return ""
    done, total = progress.get("downloaded_bytes") or 0, progress.get("total_bytes") or 0
    if not total:
        return " (starting)"
    return f" ({decimal(done)} of {decimal(total)}, {100 * done / total:.0f}%)"


def _refuse_running(progress: dict[str, Any] | None) -> None:
    pid = (progress or {}).get("pid")
    who = f" (process {pid})" if pid else ""
    fail(
        f"a download of the router model is already running{who}"
        f"{_describe_progress(progress)}; wait for it or cancel it"
    )


@routellm_app.command("download")
def download_cmd(
    repo_id: Annotated[
        str | None, typer.Option("--repo-id", help="Hub repository (default: routellm.repo_id).")
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="Branch, tag or commit (default: routellm.revision)."),
    ] = None,
) -> None:
    """Download, verify and convert the router model; exit 0 only when it is usable."""
    from localrouter.routellm.acquisition.install import (
        DownloadInProgress,
        InstallResult,
        download_running,
        install_model,
        read_shared_progress,
    )

    settings = _settings()
    cfg = settings.routellm
    home = home_dir()
    if download_running(home):
        _refuse_running(read_shared_progress(home))
    repo_id = repo_id or cfg.repo_id
    revision = revision or cfg.revision
    tracker = ProgressTracker()
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = install_model(
                home,
                repo_id=repo_id,
                revision=revision,
                precision=cfg.precision,
                threads=cfg.threads,
                cancel=cancel,
                tracker=tracker,
            )
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="router-download", daemon=True)
    bar = DownloadBar()
    print(f"Downloading {repo_id} ({revision})", file=sys.stderr)
    bar.start()
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            bar.update(tracker.snapshot())
        if "result" in outcome:
            bar.update(tracker.snapshot())
    except KeyboardInterrupt:
        cancel.set()
        bar.stop()
        print("Cancelling the download…", file=sys.stderr)
        worker.join(_JOIN_SECS)  # the worker removes its staging folder and releases the lock
        print(
            "Interrupted: nothing was installed; run the command again to resume.", file=sys.stderr
        )
        raise typer.Exit(130) from None
    finally:
        bar.stop()

    error = outcome.get("error")
    if isinstance(error, DownloadInProgress):
        pid = (error.progress or {}).get("pid")
        who = f" (process {pid})" if pid else ""
        fail(
            f"a download of the router model is already running{who}"
            f"{_describe_progress(error.progress)}; wait for it or cancel it"
        )
    if isinstance(error, RouterModelError):
        fail(str(error))
    if error is not None:
        raise error
    result: InstallResult = outcome["result"]
    short = (result.commit or "unknown")[:12]
    if result.offline:
        typer.echo(
            f"HF_HUB_OFFLINE is set: kept the installed model (commit {short}) without "
            "asking the hub for updates."
        )
    elif result.reused:
        typer.echo(
            f"{repo_id} at {revision} (commit {short}) is already installed in {result.model_dir}."
        )
    else:
        typer.echo(f"Installed {repo_id} at {revision} (commit {short}).")
        typer.echo(
            f"Downloaded {decimal(result.downloaded_bytes)}; model folder: {result.model_dir}"
        )


# --------------------------------------------------------------------------- status


def _local_status(settings: Settings, home: Path) -> dict[str, Any]:
    from localrouter.routellm.service import RouterService

    service = RouterService(home, lambda: settings.routellm)
    try:
        return service.status()
    finally:
        service.close()


def _gateway_status(base: str, home: Path) -> dict[str, Any] | None:
    """The status of the gateway at ``base`` when it serves this home, else None."""
    try:
        answer = _gateway_call(base, "GET", "/api/router/status", timeout=2.0)
    except GatewayAuthError:
        raise  # a gateway runs but refuses us: say so rather than read the files behind it
    except RuntimeError:
        return None
    return answer if _same_home(answer, home) else None


@routellm_app.command("status")
def status_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the state object as JSON.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """The router model's state: not_downloaded, downloading, downloaded, loading, ready,
    failed; from the running gateway when there is one (it holds the loaded model)."""
    from localrouter.cli.router_hints import next_step

    settings = _settings()
    home = home_dir()
    base = _find_gateway(settings, home, url)
    try:
        status = _gateway_status(base, home)
    except GatewayAuthError as exc:
        fail(str(exc))
    if status is not None:
        status["source"] = "gateway"
        status["gateway_url"] = base
    else:
        status = _local_status(settings, home)
        status["source"] = "local"
    if as_json:
        typer.echo(json.dumps(status))
        return
    width = max(len(k) for k in status)
    for key, value in status.items():
        if value is None:
            continue
        if key in ("downloaded_bytes", "total_bytes"):
            value = f"{value} ({decimal(value)})"
        typer.echo(f"{key:<{width}}  {value}")
    notes = [next_step(status)]
    if not settings.routing.enabled:
        notes.insert(
            0,
            "Routing is off (routing.enabled: false): localrouter/auto requests go to the "
            "strong tier.",
        )
    columns = min(shutil.get_terminal_size().columns, 100)
    for note in filter(None, notes):
        typer.echo(textwrap.fill(note, columns, break_on_hyphens=False))


# --------------------------------------------------------------------------- unload, delete


@routellm_app.command("unload")
def unload_cmd(url: UrlOption = None) -> None:
    """Unload the router model from the running gateway's memory."""
    settings = _settings()
    home = home_dir()
    base = _find_gateway(settings, home, url)
    try:
        running = _gateway_call(base, "GET", "/api/router/status", timeout=2.0)
        if running is None:
            typer.echo(f"No gateway is running at {base}, so no router model is loaded.")
            return
        if not _same_home(running, home):
            fail(
                f"the gateway at {base} serves another home "
                f"({running.get('home', 'unknown')}), not {home}"
            )
        if running.get("state") not in ("ready", "loading"):
            typer.echo(
                f"The router model is not loaded in the gateway at {base} "
                f"(state: {running.get('state')}); nothing to unload."
            )
            return
        status = _gateway_call(base, "POST", "/api/router/unload", timeout=60.0) or {}
    except RuntimeError as exc:
        fail(str(exc))
    typer.echo(
        f"Unloaded the router model from the gateway at {base} (state: {status.get('state')})."
    )


@routellm_app.command("delete")
def delete_cmd(url: UrlOption = None) -> None:
    """Remove the downloaded router model (refused while a download runs)."""
    from localrouter.routellm.acquisition.install import (
        DownloadInProgress,
        installed_model_dir,
        read_shared_progress,
        uninstall,
    )

    settings = _settings()
    home = home_dir()
    had = installed_model_dir(home)
    partial = any(p.is_file() for p in (routellm_dir(home) / "downloads").rglob("*"))
    base = _find_gateway(settings, home, url)
    through = ""
    try:
        running = _gateway_status(base, home)
        if running is not None:  # the gateway unloads the model before removing it
            _gateway_call(base, "DELETE", "/api/router", timeout=60.0)
    except RuntimeError as exc:
        fail(str(exc))
    if running is not None:
        through = f" (through the gateway at {base})"
    else:
        try:
            uninstall(home)
        except DownloadInProgress:
            fail(
                "a download of the router model is running"
                f"{_describe_progress(read_shared_progress(home))}; cancel it before deleting"
            )
    if had is not None:
        typer.echo(f"Deleted the router model from {routellm_dir(home)}{through}.")
    elif partial:
        typer.echo(f"No router model was installed; removed an unfinished download{through}.")
    else:
        typer.echo(f"No router model is installed in {home}; nothing to delete.")
    if settings.routellm.model_dir is not None:
        typer.echo(
            f"routellm.model_dir ({settings.routellm.model_dir}) is yours and was left untouched."
        )
