"""Where LocalRouter keeps its files (README "Configuration": HOME and its variables).

Home: ``~/.localrouter``; ``LOCALROUTER_ENV=dev`` -> ``~/.localrouter-dev``;
``LOCALROUTER_ENV=NAME`` -> ``~/.localrouter-NAME``; ``LOCALROUTER_HOME=DIR`` overrides all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def home_dir() -> Path:
    """The home folder for this process, resolved from the environment each call."""
    explicit = os.environ.get("LOCALROUTER_HOME")
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LOCALROUTER_ENV", "").strip()
    base = Path.home()
    if not env or env in ("prod", "default"):
        return base / ".localrouter"
    if not _ENV_NAME.match(env):
        raise ValueError(
            f"LOCALROUTER_ENV={env!r} is not a valid name (letters, digits, '.', '_', '-')"
        )
    return base / f".localrouter-{env}"


def settings_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / "settings.yaml"


def routellm_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "routellm"


def logs_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "logs"
