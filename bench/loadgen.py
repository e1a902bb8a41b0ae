"""Load generator: ``wrk`` (C, epoll; Debian package ``wrk``) driven by a generated Lua
script, so the client spends little of the machine's CPU that the servers need.

Each request is a chat completion whose user prompt ends in a counter that starts at a
random 7-digit number per run: no two prompts are equal, so no server can answer routing
from a cache (the bench prompt plus the number: 24 tokens on the bench tokenizer). One wrk
thread, N connections, a fixed duration (bounded run); latency percentiles come from wrk's
own histogram (microsecond resolution); non-2xx answers are counted as errors.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

_SCRIPT = """
local counter = {offset}
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. counter .. suffix)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\\nWRKJSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, "
    .. "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50_us\\": %.1f, "
    .. "\\"p90_us\\": %.1f, \\"p99_us\\": %.1f, \\"mean_us\\": %.1f, \\"max_us\\": %.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return path


def request_body(model: str, prompt: str) -> tuple[str, str]:
    """The JSON body split around the place where the per-request counter goes."""
    marker = "@@COUNTER@@"
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": f"{prompt} {marker}"}],
            "max_tokens": 8,
        }
    )
    prefix, suffix = body.split(marker)
    return prefix, suffix


def run_wrk(
    url: str,
    model: str,
    prompt: str,
    connections: int,
    duration_s: float,
    timeout_s: float = 60.0,
    key: str = "sk-bench-unused",
) -> dict:
    # A random 7-digit start per run: prompts differ across runs too, and stay short.
    offset = 1_000_000 + secrets.randbelow(8_000_000)
    prefix, suffix = request_body(model, prompt)
    script = _SCRIPT.format(prefix=prefix, suffix=suffix, key=key, offset=offset)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = Path(handle.name)
    try:
        command = [
            wrk_path(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            "-s",
            str(script_path),
            url,
        ]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + timeout_s + 60
        )
    finally:
        script_path.unlink(missing_ok=True)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line.removeprefix("WRKJSON "))
            data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
            data["ok"] = data["requests"] - data["status"]
            data["rps"] = data["ok"] / (data["duration_us"] / 1e6)
            data["connections"] = connections
            return data
    raise RuntimeError(f"wrk printed no result: {out.stderr.strip()[-300:]}")
