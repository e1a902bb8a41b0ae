"""Benchmark 2: gateway overhead against one local upstream, ours and the peers side by side.

Targets, all on 127.0.0.1, all started and stopped here:

- ``direct``: the upstream itself (``bench/upstream.py``), the baseline;
- ``ours-off`` / ``ours-on``: ``localrouter serve`` with a temp home; a direct
  ``provider/model`` (routing off) and ``localrouter/auto`` (the int8 router on the bench
  checkpoint);
- ``litellm``: LiteLLM's proxy (``litellm --config``) with one ``openai/...`` model whose
  ``api_base`` is the upstream;
- ``routellm-random`` / ``routellm-bert``: RouteLLM 0.2.0's ``openai_server`` app (routers
  ``bert`` on the bench checkpoint and ``random``; it calls the upstream through LiteLLM with
  ``--base-url``), served by uvicorn on 127.0.0.1 instead of its hard-coded 0.0.0.0.

For each: a warm-up, then ``wrk`` at concurrency 1 (latency; "added" = minus the direct
p50/p99) and at concurrency 64 (requests/s). Every request carries a different prompt.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from bench.checkpoint import ensure_checkpoint
from bench.common import (
    CACHE,
    CHECKPOINT_DIR,
    REPO,
    free_port,
    log,
    machine_info,
    peer_python,
    save_raw,
    worker_env,
)
from bench.loadgen import run_wrk, wrk_path
from bench.prompts import SHORT
from bench.servers import Server

# LiteLLM's proxy refuses to start without a master key; every client sends this one
# (our gateway and the upstream ignore it: no client keys are configured there).
BENCH_KEY = "sk-bench-3f9a1c7e5b2d4f608e1a9c3b7d5f2e4a6c8b0d1e3f5a7c9b2d4e6f8a0c1b3d5e"
WORK = CACHE / "gateway"


@dataclass
class Options:
    threads: int = 2
    duration_c1_s: float = 10.0
    duration_c64_s: float = 10.0
    warmup_s: float = 2.0
    max_duration_s: float = 60.0
    ours_python: str = sys.executable
    only: list[str] = field(default_factory=list)  # target names; empty = all


@dataclass
class Target:
    name: str
    label: str
    server: str  # key into the started servers
    model: str


TARGETS = [
    Target("direct", "upstream, called directly", "upstream", "bench-model"),
    Target("ours-off", "LocalRouter, routing off (provider/model)", "ours", "up/bench-model"),
    Target(
        "ours-on", "LocalRouter, routing on (localrouter/auto, int8)", "ours", "localrouter/auto"
    ),
    Target("litellm", "LiteLLM proxy", "litellm", "bench-model"),
    Target(
        "routellm-random", "RouteLLM openai_server, random router", "routellm", "router-random-0.5"
    ),
    Target("routellm-bert", "RouteLLM openai_server, bert router", "routellm", "router-bert-0.3"),
]


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/chat/completions"


def _start_upstream(env: dict[str, str], options: Options) -> tuple[Server, int]:
    port = free_port()
    server = Server(
        "upstream",
        [options.ours_python, "-m", "bench.upstream", "--port", str(port)],
        env,
        WORK / "upstream.log",
        cwd=REPO,
    )
    return server, port


def _start_ours(env: dict[str, str], upstream: int, options: Options) -> tuple[Server, int]:
    home = WORK / "localrouter-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    port = free_port()
    settings = {
        "server": {"host": "127.0.0.1", "port": port},
        "providers": [
            {"name": "up", "base_url": f"http://127.0.0.1:{upstream}/v1", "api_key": BENCH_KEY}
        ],
        "routing": {
            "enabled": True,
            "threshold": 0.3,
            "strong": ["up/strong"],
            "weak": ["up/weak"],
        },
        "routellm": {
            "model_dir": str(CHECKPOINT_DIR),
            "precision": "int8",
            "threads": options.threads,
        },
    }
    (home / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    server = Server(
        "localrouter",
        [
            options.ours_python,
            "-m",
            "localrouter",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env | {"LOCALROUTER_HOME": str(home)},
        WORK / "localrouter.log",
        cwd=REPO,
    )
    return server, port


def _start_litellm(env: dict[str, str], upstream: int) -> tuple[Server, int]:
    port = free_port()
    config = {
        "model_list": [
            {
                "model_name": "bench-model",
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"http://127.0.0.1:{upstream}/v1",
                    "api_key": BENCH_KEY,
                },
            }
        ],
        "general_settings": {"master_key": BENCH_KEY},
    }
    path = WORK / "litellm-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    litellm = Path(peer_python()).parent / "litellm"
    server = Server(
        "litellm",
        [str(litellm), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
        env,
        WORK / "litellm.log",
        cwd=WORK,
    )
    return server, port


# RouteLLM's server parses sys.argv at import and binds 0.0.0.0 in its __main__; this runs
# the same app object with the same arguments, bound to loopback.
_ROUTELLM_MAIN = """
import sys
sys.argv = ["routellm.openai_server", *{args!r}]
import uvicorn
from routellm import openai_server
uvicorn.run(openai_server.app, host="127.0.0.1", port={port})
"""


def _start_routellm(env: dict[str, str], upstream: int) -> tuple[Server, int]:
    port = free_port()
    config = WORK / "routellm-config.yaml"
    config.write_text(yaml.safe_dump({"bert": {"checkpoint_path": str(CHECKPOINT_DIR)}}))
    args = [
        "--routers",
        "bert",
        "random",
        "--config",
        str(config),
        "--strong-model",
        "openai/strong",
        "--weak-model",
        "openai/weak",
        "--base-url",
        f"http://127.0.0.1:{upstream}/v1",
        "--api-key",
        BENCH_KEY,
    ]
    server = Server(
        "routellm",
        [str(peer_python()), "-c", _ROUTELLM_MAIN.format(args=args, port=port)],
        env,
        WORK / "routellm.log",
        cwd=WORK,
    )
    return server, port


def _drain(url: str, model: str) -> None:
    """Block until the server has worked off what a finished wrk run left queued.

    wrk closes its connections with requests still in flight; a server that serialises
    work (RouteLLM classifies on its event loop) keeps computing those, which would
    otherwise land in the next measurement. One more request queues behind them.
    """
    body = {"model": model, "messages": [{"role": "user", "content": "drain"}], "max_tokens": 8}
    with httpx.Client(timeout=600.0, trust_env=False) as client:
        client.post(url, json=body, headers={"Authorization": f"Bearer {BENCH_KEY}"})


def _measure(target: Target, url: str, options: Options) -> dict:
    out: dict = {"label": target.label, "model": target.model}
    run_wrk(url, target.model, SHORT, 1, options.warmup_s, key=BENCH_KEY)
    _drain(url, target.model)
    c1 = run_wrk(url, target.model, SHORT, 1, options.duration_c1_s, key=BENCH_KEY)
    _drain(url, target.model)
    # At concurrency 64 a server that handles one request at a time answers the first
    # wave only after 64 service times: run long enough (3 waves, at most 60 s) that the
    # rate is a steady-state one.
    service_s = c1["mean_us"] / 1e6
    c64_s = min(max(options.duration_c64_s, 3 * 64 * service_s), options.max_duration_s)
    run_wrk(url, target.model, SHORT, 64, min(options.warmup_s, 1.0), key=BENCH_KEY)
    _drain(url, target.model)
    c64 = run_wrk(url, target.model, SHORT, 64, c64_s, key=BENCH_KEY)
    _drain(url, target.model)
    for connections, result in ((1, c1), (64, c64)):
        out[f"c{connections}"] = result
        log(
            f"[gateway]   {target.name} c{connections}: p50 {result['p50_us'] / 1000:.2f} ms, "
            f"p99 {result['p99_us'] / 1000:.2f} ms, {result['rps']:.0f} req/s, "
            f"{result['ok']} ok in {result['duration_us'] / 1e6:.0f} s, {result['errors']} errors"
        )
    return out


def _probe(server: Server, url: str, model: str) -> dict:
    response = server.wait_ready(url, model, BENCH_KEY)
    headers = {k: v for k, v in response.headers.items() if k.startswith("x-localrouter")}
    return {
        "status": response.status_code,
        "model": response.json().get("model"),
        "headers": headers,
    }


def run(options: Options) -> dict:
    wrk_path()  # fail early, with the install hint, when wrk is missing
    ensure_checkpoint(CHECKPOINT_DIR)
    WORK.mkdir(parents=True, exist_ok=True)
    env = worker_env(options.threads)
    targets = [t for t in TARGETS if not options.only or t.name in options.only]
    needed = {t.server for t in targets} | {"upstream"}
    result: dict = {
        "machine": machine_info(),
        "options": dict(options.__dict__),
        "targets": {},
        "errors": {},
    }
    upstream, upstream_port = _start_upstream(env, options)
    try:
        _probe(upstream, _url(upstream_port), "bench-model")
        starters = {
            "upstream": lambda: (upstream, upstream_port),
            "ours": lambda: _start_ours(env, upstream_port, options),
            "litellm": lambda: _start_litellm(env, upstream_port),
            "routellm": lambda: _start_routellm(env, upstream_port),
        }
        # One server at a time: only the one being measured shares the machine with the
        # upstream and wrk.
        for server_name in [name for name in starters if name in needed]:
            server_targets = [t for t in targets if t.server == server_name]
            log(f"[gateway] starting {server_name} ...")
            server, port = starters[server_name]()
            try:
                for target in server_targets:
                    try:
                        probe = _probe(server, _url(port), target.model)
                        measured = _measure(target, _url(port), options)
                        measured["probe"] = probe
                        measured["server_rss_mb"] = server.rss_mb()
                        result["targets"][target.name] = measured
                    except RuntimeError as exc:
                        result["errors"][target.name] = str(exc)
                        log(f"[gateway]   {target.name} failed: {exc}")
            finally:
                if server is not upstream:
                    server.stop()
    finally:
        upstream.stop()
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    save_raw("gateway", result)
    log(json.dumps(result["errors"]) if result["errors"] else "[gateway] done")
    return result
