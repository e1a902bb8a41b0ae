"""How the CLI reports failure: one clear sentence on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    message = message.strip()
    if not message.endswith((".", "!", "?")):
        message += "."
    print(f"Error: {message}", file=sys.stderr)
    raise typer.Exit(code)
