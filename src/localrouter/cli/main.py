"""Entry point: wires the command modules into one Typer app and turns known errors into
one-line messages (no tracebacks for users)."""

from __future__ import annotations

import importlib
import sys

from localrouter.cli.apps import app
from localrouter.routellm.errors import RouterModelError
from localrouter.settings import SettingsError

# Each module registers its commands on import.
_COMMAND_MODULES = (
    "localrouter.cli.config_cmd",
    "localrouter.cli.serve_cmd",
    "localrouter.cli.predict_cmd",
    "localrouter.cli.model_cmd",
    "localrouter.cli.eval_cmd",
    "localrouter.cli.router_cmd",
)


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a module yet to be written
                raise


def main() -> None:
    _load_commands()
    try:
        app()
    except (RouterModelError, SettingsError, ValueError, OSError) as exc:
        message = str(exc).strip() or exc.__class__.__name__
        print(f"Error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
