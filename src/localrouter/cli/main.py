"""Entry point: wires the command modules into one Typer app and turns known errors into
one-line messages (no tracebacks for users)."""

from __future__ import annotations

import sys

# Each command module registers its commands on the app when imported.
from localrouter.cli import (  # noqa: F401
    config_cmd,
    eval_cmd,
    model_cmd,
    predict_cmd,
    router_cmd,
    serve_cmd,
)
from localrouter.cli.apps import app
from localrouter.routellm.errors import RouterModelError
from localrouter.settings import SettingsError


def main() -> None:
    try:
        app()
    except (RouterModelError, SettingsError, ValueError, OSError) as exc:
        message = str(exc).strip() or exc.__class__.__name__
        print(f"Error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
