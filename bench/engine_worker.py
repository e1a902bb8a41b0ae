"""One engine in its own process: ``python -m bench.engine_worker IMPL MODE ...``.

IMPL: ``routellm`` (RouteLLM 0.2.0's BERTRouter on torch/transformers), ``fp32`` or ``int8``
(our RouterEngine on ONNX Runtime). MODE:

- ``cold``: import, load, one win rate, print, exit; the parent times the whole process.
  (Also used once per engine beforehand so our engine converts and caches its files.)
- ``serve``: load, then answer JSON-line commands on stdin, one JSON line each on stdout:
  ``{"cmd": "time", "prompt": "short"|"long", "n": N}`` -> per-call ms;
  ``{"cmd": "agreement"}`` -> win rates and token counts on the agreement prompts;
  ``{"cmd": "rss"}`` -> current and peak RSS. EOF ends the process.
  The parent drives several engines in alternating rounds, so load from other processes
  on the machine hits them alike.

Imports happen inside the functions on purpose: the cold start must count them.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402  (after _T0: the cold start counts every import)
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402


class Engine:
    def __init__(
        self,
        predict: Callable[[str], tuple[float, int]],
        tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.predict = predict  # text -> (win_rate, tokens fed to the model or -1)
        self.tokens = tokens  # text -> tokens, when predict cannot tell

    def count(self, text: str) -> int:
        return self.tokens(text) if self.tokens else self.predict(text)[1]


def load_routellm(model_dir: Path, threads: int) -> Engine:
    import torch

    torch.set_num_threads(threads)
    from routellm.routers.routers import BERTRouter

    router = BERTRouter(checkpoint_path=str(model_dir))

    def predict(text: str) -> tuple[float, int]:
        # Exactly the call RouteLLM's controller makes per request.
        return float(router.calculate_strong_win_rate(text)), -1

    def tokens(text: str) -> int:
        return len(router.tokenizer(text, truncation=True)["input_ids"])

    return Engine(predict, tokens)


def load_ours(model_dir: Path, precision: str, threads: int) -> Engine:
    from localrouter.routellm.inference.engine import RouterEngine

    engine = RouterEngine.load(model_dir, precision=precision, threads=threads)  # type: ignore[arg-type]

    def predict(text: str) -> tuple[float, int]:
        prediction = engine.predict([text])[0]
        return prediction.win_rate, prediction.tokens

    return Engine(predict)


def load(impl: str, model_dir: Path, threads: int) -> Engine:
    if impl == "routellm":
        return load_routellm(model_dir, threads)
    return load_ours(model_dir, impl, threads)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _time_calls(engine: Engine, text: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        engine.predict(text)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _serve(engine: Engine, prompts: dict) -> None:
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command["cmd"]
        reply: dict[str, object]
        if cmd == "time":
            reply = {"ms": _time_calls(engine, prompts[command["prompt"]], int(command["n"]))}
        elif cmd == "agreement":
            reply = {
                "win_rates": [engine.predict(text)[0] for text in prompts["agreement"]],
                "tokens": [engine.count(text) for text in prompts["agreement"]],
                "short_tokens": engine.count(prompts["short"]),
                "long_tokens": engine.count(prompts["long"]),
            }
        elif cmd == "rss":
            reply = {"rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb()}
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(reply), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=["routellm", "fp32", "int8"])
    parser.add_argument("mode", choices=["cold", "serve"])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=Path, required=True)
    args = parser.parse_args(argv)
    prompts = json.loads(args.prompts.read_text(encoding="utf-8"))

    t_start = time.perf_counter()
    engine = load(args.impl, args.model_dir, args.threads)
    t_loaded = time.perf_counter()
    first, _ = engine.predict(prompts["short"])
    t_first = time.perf_counter()
    print(
        json.dumps(
            {
                "impl": args.impl,
                "first_win_rate": first,
                "imports_s": t_start - _T0,
                "load_s": t_loaded - t_start,
                "first_predict_s": t_first - t_loaded,
                "rss_after_load_mb": current_rss_mb(),
            }
        ),
        flush=True,
    )
    if args.mode == "serve":
        _serve(engine, prompts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
