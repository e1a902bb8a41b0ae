"""`localrouter routellm download | status | unload | delete`: the router model's files.

``download`` runs here, in this process, with a progress bar; the download lock makes it
refuse (showing the other one's progress) while a gateway or another CLI downloads.
``unload`` and ``status`` ask a running gateway (the admin API at settings' host:port),
because only the gateway's process holds a loaded model.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.filesize import decimal

from localrouter.cli.apps import routellm_app
from localrouter.cli.errors import fail
from localrouter.paths import home_dir
from localrouter.routellm.acquisition.hub import DownloadProgress, ProgressTracker
from localrouter.routellm.errors import RouterModelError
from localrouter.settings import Settings, load_settings

_JOIN_SECS = 60.0  # after Ctrl-C, how long to wait for the download to stop and clean up


def _settings() -> Settings:
    return load_settings()


# --------------------------------------------------------------------------- gateway


def _gateway_url(settings: Settings) -> str:
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def _gateway_call(
    settings: Settings, method: str, path: str, timeout: float = 5.0
) -> dict[str, Any] | None:
    """The JSON answer of the running gateway, or None when none listens there.
    Raises RuntimeError with the gateway's own message when it answers with an error."""
    import httpx

    try:
        response = httpx.request(method, _gateway_url(settings) + path, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        return None
    except httpx.HTTPError as exc:
        raise RuntimeError(
            f"the gateway at {_gateway_url(settings)} did not answer: {exc}"
        ) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        message = ""
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = str(data["error"].get("message") or "")
        raise RuntimeError(message or f"the gateway answered HTTP {response.status_code}")
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


class _Bar:
    """A rich progress bar (bytes, rate, ETA) fed from the tracker's snapshots."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description:<36}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]:>11}"),
            TextColumn("ETA {task.fields[eta]:>8}"),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("Resolving", total=None, rate="", eta="")

    def update(self, snap: DownloadProgress) -> None:
        if snap.phase in ("downloading", "verifying"):
            label = f"{snap.phase.capitalize()} {snap.current_file or ''}".strip()
        else:
            label = snap.phase.capitalize()
            if snap.phase_progress is not None:
                label += f" {100 * snap.phase_progress:.0f}%"
        rate = f"{decimal(int(snap.bytes_per_sec))}/s" if snap.bytes_per_sec > 0 else ""
        eta = "-"
        if snap.eta_secs is not None:
            minutes, seconds = divmod(int(snap.eta_secs + 0.5), 60)
            eta = f"{minutes}:{seconds:02d}"
        self.progress.update(
            self.task,
            description=label[:36],
            total=snap.total_bytes or None,
            completed=snap.downloaded_bytes,
            rate=rate,
            eta=eta,
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
    bar = _Bar()
    print(f"Downloading {repo_id} ({revision}) into {home / 'routellm'}", file=sys.stderr)
    bar.progress.start()
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            bar.update(tracker.snapshot())
        bar.update(tracker.snapshot())
    except KeyboardInterrupt:
        cancel.set()
        bar.progress.stop()
        print("Cancelling the download…", file=sys.stderr)
        worker.join(_JOIN_SECS)  # the worker removes its staging folder and releases the lock
        print(
            "Interrupted: nothing was installed; run the command again to resume.", file=sys.stderr
        )
        raise typer.Exit(130) from None
    finally:
        bar.progress.stop()

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
        typer.echo(
            f"Installed {repo_id} at {revision} (commit {short}) in {result.model_dir} "
            f"({decimal(result.downloaded_bytes)} downloaded)."
        )


# --------------------------------------------------------------------------- status


def _local_status(settings: Settings, home: Path) -> dict[str, Any]:
    from localrouter.routellm.service import RouterService

    service = RouterService(home, lambda: settings.routellm)
    try:
        return service.status()
    finally:
        service.close()


@routellm_app.command("status")
def status_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the state object as JSON.")
    ] = False,
) -> None:
    """The router model's state: not_downloaded, downloading, downloaded, loading, ready,
    failed; from the running gateway when there is one (it holds the loaded model)."""
    settings = _settings()
    home = home_dir()
    status: dict[str, Any] | None = None
    try:
        answer = _gateway_call(settings, "GET", "/api/router/status", timeout=2.0)
    except RuntimeError:
        answer = None
    if _same_home(answer, home):
        status = answer
        status["source"] = "gateway"  # type: ignore[index]
    if status is None:
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


# --------------------------------------------------------------------------- unload, delete


@routellm_app.command("unload")
def unload_cmd() -> None:
    """Unload the router model from the running gateway's memory."""
    settings = _settings()
    home = home_dir()
    try:
        running = _gateway_call(settings, "GET", "/api/router/status", timeout=2.0)
        if running is not None and not _same_home(running, home):
            fail(
                f"the gateway at {_gateway_url(settings)} serves another home "
                f"({running.get('home', 'unknown')}), not {home}"
            )
        status = None
        if running is not None:
            status = _gateway_call(settings, "POST", "/api/router/unload", timeout=60.0)
    except RuntimeError as exc:
        fail(str(exc))
    if status is None:
        typer.echo(
            f"No gateway is running at {_gateway_url(settings)}, so no router model is loaded."
        )
        return
    typer.echo(
        f"Unloaded the router model from the gateway at {_gateway_url(settings)} "
        f"(state: {status.get('state')})."
    )


@routellm_app.command("delete")
def delete_cmd() -> None:
    """Remove the downloaded router model (refused while a download runs)."""
    from localrouter.routellm.acquisition.install import (
        DownloadInProgress,
        installed_model_dir,
        read_shared_progress,
        uninstall,
    )

    settings = _settings()
    home = home_dir()
    try:
        running = _gateway_call(settings, "GET", "/api/router/status", timeout=2.0)
    except RuntimeError:
        running = None
    if _same_home(running, home):
        try:  # the gateway unloads the model before removing it
            _gateway_call(settings, "DELETE", "/api/router", timeout=60.0)
        except RuntimeError as exc:
            fail(str(exc))
        typer.echo(f"Deleted the router model (through the gateway at {_gateway_url(settings)}).")
        return
    had = installed_model_dir(home)
    try:
        removed = uninstall(home)
    except DownloadInProgress:
        fail(
            "a download of the router model is running"
            f"{_describe_progress(read_shared_progress(home))}; cancel it before deleting"
        )
    if had is not None:
        typer.echo(f"Deleted the router model from {home / 'routellm'}.")
    elif removed:
        typer.echo("No router model was installed; removed an unfinished download.")
    else:
        typer.echo("No router model is installed.")
    if settings.routellm.model_dir is not None:
        typer.echo(
            f"routellm.model_dir ({settings.routellm.model_dir}) is yours and was left untouched."
        )
