"""Benchmark 1: our RouterEngine (fp32, int8) against RouteLLM 0.2.0's BERTRouter.

Same checkpoint, same prompts, same thread cap. Every engine runs in its own process
(``bench/engine_worker.py``): latency is timed inside the worker per call, the workers take
turns in rounds (so background load on the machine hits each alike), peak RSS is each
worker's ``ru_maxrss``, and each cold start is a fresh process timed from spawn to its
first win rate, runs interleaved across engines, median reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import prompts
from bench.checkpoint import ensure_checkpoint
from bench.common import (
    CACHE,
    CHECKPOINT_DIR,
    REPO,
    log,
    machine_info,
    peer_python,
    percentile,
    save_raw,
    worker_env,
)

IMPLS = ("routellm", "fp32", "int8")


@dataclass
class Options:
    threads: int = 2
    cold_runs: int = 5
    rounds: int = 6
    short_per_round: int = 25
    long_per_round: int = 3
    turn_warmup: int = 3
    ours_python: str = sys.executable


def _interpreter(impl: str, options: Options) -> str:
    return str(peer_python()) if impl == "routellm" else options.ours_python


def _command(impl: str, mode: str, prompts_file: Path, options: Options) -> list[str]:
    return [
        _interpreter(impl, options),
        "-m",
        "bench.engine_worker",
        impl,
        mode,
        "--model-dir",
        str(CHECKPOINT_DIR),
        "--threads",
        str(options.threads),
        "--prompts",
        str(prompts_file),
    ]


def _last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line")


def _log_path(impl: str, mode: str) -> Path:
    folder = CACHE / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"engine-{impl}-{mode}.log"


def _error_tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "exited without output"


def cold_start(impl: str, prompts_file: Path, options: Options) -> dict:
    """One fresh process: wall seconds from spawn to its first win rate line."""
    log_path = _log_path(impl, "cold")
    with log_path.open("w") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(
            _command(impl, "cold", prompts_file, options),
            cwd=REPO,
            env=worker_env(options.threads),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        proc.communicate(timeout=600)
    if proc.returncode != 0 or not line.startswith("{"):
        raise RuntimeError(f"{impl} cold start failed: {_error_tail(log_path.read_text())}")
    result = json.loads(line)
    result["wall_s"] = elapsed
    return result


class Worker:
    """A live engine process answering JSON-line commands (``engine_worker serve``)."""

    def __init__(self, impl: str, prompts_file: Path, options: Options) -> None:
        self.impl = impl
        self.log_path = _log_path(impl, "serve")
        self._stderr = self.log_path.open("w")
        self.proc = subprocess.Popen(
            _command(impl, "serve", prompts_file, options),
            cwd=REPO,
            env=worker_env(options.threads),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.ready = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=60)
                tail = _error_tail(self.log_path.read_text())
                raise RuntimeError(f"{self.impl} worker died: {tail}")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, **command: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "mean_ms": statistics.fmean(ms),
    }


def _write_prompts() -> Path:
    path = CACHE / "prompts.json"
    CACHE.mkdir(parents=True, exist_ok=True)
    data = {
        "short": prompts.SHORT,
        "long": prompts.long_prompt(),
        "agreement": prompts.agreement_prompts(),
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def run(options: Options) -> dict:
    ensure_checkpoint(CHECKPOINT_DIR)
    prompts_file = _write_prompts()
    result: dict = {
        "machine": machine_info(),
        "options": options.__dict__ | {"ours_python": options.ours_python},
        "checkpoint": {
            "dir": str(CHECKPOINT_DIR.relative_to(REPO)),
            "safetensors_bytes": (CHECKPOINT_DIR / "model.safetensors").stat().st_size,
        },
        "errors": {},
        "engines": {impl: {} for impl in IMPLS},
    }
    errors: dict[str, str] = result["errors"]

    # Untimed first run of each engine: ours converts to ONNX and caches its runtime files
    # (the cold start is measured "model already converted"); all read the weights once,
    # so every timed cold start sees the same warm page cache.
    for impl in IMPLS:
        log(f"[engine] preparing {impl} ...")
        try:
            cold_start(impl, prompts_file, options)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            errors[impl] = str(exc)
            log(f"[engine]   {impl} unavailable: {exc}")
    live = [impl for impl in IMPLS if impl not in errors]

    # Cold starts, interleaved across engines.
    colds: dict[str, list[dict]] = {impl: [] for impl in live}
    for run_index in range(options.cold_runs):
        for impl in live:
            if impl in errors:
                continue
            try:
                colds[impl].append(cold_start(impl, prompts_file, options))
                log(
                    f"[engine] cold start {run_index + 1}/{options.cold_runs} {impl}: "
                    f"{colds[impl][-1]['wall_s']:.2f} s"
                )
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                errors[impl] = str(exc)
    for impl, runs in colds.items():
        if runs:
            result["engines"][impl]["cold_start"] = {
                "runs_s": [r["wall_s"] for r in runs],
                "median_s": statistics.median(r["wall_s"] for r in runs),
                "median_load_s": statistics.median(r["load_s"] for r in runs),
                "median_first_predict_s": statistics.median(r["first_predict_s"] for r in runs),
            }

    # Latency, agreement, memory: all engines alive, taking turns.
    workers: dict[str, Worker] = {}
    try:
        for impl in [i for i in IMPLS if i not in errors]:
            log(f"[engine] starting {impl} worker ...")
            try:
                workers[impl] = Worker(impl, prompts_file, options)
            except (RuntimeError, OSError) as exc:
                errors[impl] = str(exc)
        for worker in workers.values():  # warm-up: allocator, thread pools, kernels
            worker.ask(cmd="time", prompt="short", n=5)
            worker.ask(cmd="time", prompt="long", n=2)
        times = {impl: {"short": [], "long": []} for impl in workers}
        order = list(workers)
        for round_index in range(options.rounds):
            log(f"[engine] latency round {round_index + 1}/{options.rounds}")
            for impl in order[round_index % len(order) :] + order[: round_index % len(order)]:
                # Untimed calls first: each turn then starts from this engine's own steady
                # state, not from the caches and idle threads the previous engine left.
                workers[impl].ask(cmd="time", prompt="short", n=options.turn_warmup)
                times[impl]["short"] += workers[impl].ask(
                    cmd="time", prompt="short", n=options.short_per_round
                )["ms"]
                times[impl]["long"] += workers[impl].ask(
                    cmd="time", prompt="long", n=options.long_per_round
                )["ms"]
        for impl, worker in workers.items():
            agreement = worker.ask(cmd="agreement")
            memory = worker.ask(cmd="rss")
            result["engines"][impl].update(
                short=_summary(times[impl]["short"]),
                long=_summary(times[impl]["long"]),
                short_tokens=agreement["short_tokens"],
                long_tokens=agreement["long_tokens"],
                agreement=agreement,
                rss_after_load_mb=worker.ready["rss_after_load_mb"],
                rss_end_mb=memory["rss_mb"],
                peak_rss_mb=memory["peak_rss_mb"],
            )
    finally:
        for worker in workers.values():
            worker.close()

    result["agreement"] = _agreement(result["engines"])
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    save_raw("engine", result)
    return result


def _agreement(engines: dict) -> dict:
    ref = engines["routellm"].get("agreement")
    out: dict = {}
    if not ref:
        return out
    for impl in ("fp32", "int8"):
        mine = engines[impl].get("agreement")
        if not mine:
            continue
        deltas = [abs(a - b) for a, b in zip(mine["win_rates"], ref["win_rates"], strict=True)]
        out[impl] = {
            "prompts": len(deltas),
            "max_abs_delta": max(deltas),
            "mean_abs_delta": statistics.fmean(deltas),
            "tokens_equal": mine["tokens"] == ref["tokens"],
        }
    return out
