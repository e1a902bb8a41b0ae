"""`localrouter config path | show | init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localrouter.cli.apps import config_app
from localrouter.cli.errors import fail
from localrouter.cli.settings_file import load_cli_settings
from localrouter.paths import settings_path
from localrouter.settings import Settings, save_settings, settings_to_yaml

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings file (default: HOME/settings.yaml).")
]


@config_app.command("path")
def path_cmd(config: ConfigOption = None) -> None:
    """Print the settings file's path."""
    typer.echo(str(config or settings_path()))


@config_app.command("show")
def show_cmd(config: ConfigOption = None) -> None:
    """Print the effective settings (validated; creates the defaults on first run)."""
    settings = load_cli_settings(config)
    text = settings_to_yaml(
        settings.model_copy(
            update={
                "providers": [
                    p.model_copy(
                        update={
                            "api_key": "***" if p.api_key else None,
                            # Header values are often credentials too (api-key, x-org-token).
                            "headers": dict.fromkeys(p.headers, "***"),
                        }
                    )
                    for p in settings.providers
                ]
            }
        )
    )
    typer.echo(text, nl=False)


@config_app.command("init")
def init_cmd(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a settings file with the defaults."""
    path = config or settings_path()
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it")
    save_settings(Settings(), path)
    typer.echo(f"Wrote {path}")
