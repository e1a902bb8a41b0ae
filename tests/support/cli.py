"""``python -m localrouter ARGS`` as a real process, on a home of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_localrouter(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``LOCALROUTER_HOME=home`` (never the user's home: LOCALROUTER_ENV is
    dropped), ``env`` on top of this process's environment; ``stdin`` is all it can read."""
    full_env = {**os.environ, "LOCALROUTER_HOME": str(home), **(env or {})}
    full_env.pop("LOCALROUTER_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "localrouter", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
