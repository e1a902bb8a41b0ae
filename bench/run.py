"""Benchmarks against RouteLLM 0.2.0 and LiteLLM: ``python bench/run.py [COMMAND]``.

Commands: ``all`` (default: engine, then gateway), ``engine``, ``gateway``, ``trained`` (a
trained router's decision beside the BERT router; not part of ``all``), ``setup`` (peer
venv with RouteLLM and LiteLLM), ``checkpoint`` (build the full-size bench checkpoint
only), ``report`` (rewrite bench/RESULTS.md from the last raw results). Not a test; never
run by CI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import engine_bench, gateway_bench, report, trained_bench
from bench.checkpoint import ensure_checkpoint
from bench.common import CHECKPOINT_DIR, PEER_PACKAGES, PEER_VENV, log, peer_python, save_raw


def setup() -> None:
    """A venv that sees the project's packages (torch, transformers from the dev extra) and
    adds the peers, whose own pins (huggingface_hub, rich, ...) must not touch ours."""
    if not peer_python().exists():
        log(f"creating {PEER_VENV} ...")
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(PEER_VENV)], check=True
        )
    subprocess.run(
        [str(peer_python()), "-m", "pip", "install", *PEER_PACKAGES],
        check=True,
    )
    ensure_checkpoint(CHECKPOINT_DIR)


def _check_peers() -> None:
    if not peer_python().exists():
        sys.exit(
            f"no peer interpreter at {peer_python()}: run `python bench/run.py setup` "
            "first (or set BENCH_PEER_PYTHON)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="all",
        choices=["all", "engine", "gateway", "trained", "setup", "checkpoint", "report"],
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="intra-op threads for every engine (torch and ONNX Runtime)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs and shorter loads: a smoke run, not for RESULTS.md",
    )
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds of load per gateway target and concurrency",
    )
    parser.add_argument(
        "--targets",
        nargs="*",
        default=[],
        help=f"gateway targets to run (default all: "
        f"{' '.join(t.name for t in gateway_bench.TARGETS)})",
    )
    args = parser.parse_args(argv)

    if args.command == "setup":
        setup()
        return 0
    if args.command == "checkpoint":
        ensure_checkpoint(CHECKPOINT_DIR)
        return 0
    if args.command == "trained":
        trained = trained_bench.Options(threads=args.threads)
        if args.quick:
            trained.stored, trained.queries = 20_000, 50
        result = trained_bench.run(trained)
        print(json.dumps(result, indent=2))
        if not args.quick:
            save_raw("trained", result)
            report.write()
        return 0
    if args.command in ("all", "engine"):
        _check_peers()
        options = engine_bench.Options(
            threads=args.threads, cold_runs=args.cold_runs, rounds=args.rounds
        )
        if args.quick:
            options.cold_runs, options.rounds = 2, 2
            options.short_per_round, options.long_per_round = 10, 1
        engine_bench.run(options)
    if args.command in ("all", "gateway"):
        _check_peers()
        gw = gateway_bench.Options(
            threads=args.threads,
            duration_c1_s=args.duration,
            duration_c64_s=args.duration,
            only=args.targets,
        )
        if args.quick:
            gw.duration_c1_s = gw.duration_c64_s = 3.0
            gw.warmup_s = 1.0
        gateway_bench.run(gw)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
