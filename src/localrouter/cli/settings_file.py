"""The settings a command runs with: HOME/settings.yaml (written with the defaults on first
run), or the file named by ``--config``, which must exist (a typo must not silently start
from defaults; only `config init` creates it)."""

from __future__ import annotations

from pathlib import Path

from localrouter.cli.errors import fail
from localrouter.settings import Settings, load_settings


def require_config(config: Path | None) -> None:
    if config is not None and not config.exists():
        fail(
            f"the settings file {config} does not exist; create it with "
            f"`localrouter config init --config {config}` or leave out --config"
        )


def load_cli_settings(config: Path | None) -> Settings:
    require_config(config)
    return load_settings(config)
