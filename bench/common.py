"""Shared by both benchmarks: paths, interpreters, statistics, the machine's description."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
CACHE = BENCH / ".cache"  # git-ignored: checkpoint, peer venv, temp homes, raw results
RAW = CACHE / "results"
CHECKPOINT_DIR = CACHE / "checkpoint"
PEER_VENV = CACHE / "peer-venv"

# The peers, pinned: what `python bench/run.py setup` installs into the peer venv.
PEER_PACKAGES = ["routellm[serve]==0.2.0", "litellm[proxy]==1.108.7"]


def peer_python() -> Path:
    """The interpreter that has RouteLLM and LiteLLM (they pin other versions of our
    dependencies, so they live in their own venv)."""
    override = os.environ.get("BENCH_PEER_PYTHON")
    return Path(override) if override else PEER_VENV / "bin" / "python"


def worker_env(threads: int) -> dict[str, str]:
    """Environment for every measured process: same thread caps, offline, peers importable."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        # RouteLLM builds an OpenAI client at import and needs a key; nothing is sent with it.
        OPENAI_API_KEY=env.get("OPENAI_API_KEY") or "sk-bench-unused",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        PYTHONUNBUFFERED="1",
    )
    return env


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return math.nan


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def peer_versions() -> dict[str, str | None]:
    names = ["torch", "transformers", "routellm", "litellm", "tokenizers", "fastapi", "uvicorn"]
    code = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{n: v(n) for n in {names!r}}}))"
    )
    try:
        out = subprocess.run(
            [str(peer_python()), "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return dict.fromkeys(names)


def machine_info() -> dict[str, object]:
    ours = ["localrouter", "onnxruntime", "numpy", "tokenizers", "fastapi", "uvicorn", "httpx"]
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "ram_gb": round(_ram_gb(), 1),
        "os": _os_name(),
        "python": platform.python_version(),
        "ours": {name: _version(name) for name in ours},
        "peers": peer_versions(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def save_raw(name: str, data: dict[str, object]) -> Path:
    RAW.mkdir(parents=True, exist_ok=True)
    path = RAW / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def load_raw(name: str) -> dict | None:
    try:
        return json.loads((RAW / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
