"""Tables for the terminal and bench/RESULTS.md, from the raw results of the last runs
(``bench/.cache/results/{engine,gateway}.json``)."""

from __future__ import annotations

import math

from bench.common import BENCH, load_raw

RESULTS = BENCH / "RESULTS.md"

ENGINE_NAMES = {
    "routellm": "RouteLLM 0.2.0 BERTRouter (torch)",
    "fp32": "LocalRouter fp32 (ONNX Runtime)",
    "int8": "LocalRouter int8 (ONNX Runtime)",
}
# (what, ratio needed, how the ratio is formed)
ENGINE_TARGETS = {
    "short": 8.0,  # RouteLLM p50 / ours p50
    "long": 3.0,
    "cold": 8.0,
    "rss": 0.40,  # ours / RouteLLM, at most
}


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return numerator / denominator


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def machine_lines(machine: dict) -> list[str]:
    ours, peers = machine.get("ours", {}), machine.get("peers", {})
    load = machine.get("loadavg_at_start") or []
    end = machine.get("loadavg_at_end") or []
    return [
        f"- Date: {machine.get('date_utc')}",
        f"- CPU: {machine.get('cpu')}, {machine.get('logical_cpus')} logical CPUs; "
        f"RAM {machine.get('ram_gb')} GiB; OS: {machine.get('os')}",
        f"- Python {machine.get('python')}; ours: onnxruntime {ours.get('onnxruntime')}, "
        f"tokenizers {ours.get('tokenizers')}, numpy {ours.get('numpy')}, "
        f"fastapi {ours.get('fastapi')}, uvicorn {ours.get('uvicorn')}",
        f"- Peers (own venv): torch {peers.get('torch')}, transformers "
        f"{peers.get('transformers')}, routellm {peers.get('routellm')}, litellm "
        f"{peers.get('litellm')}, fastapi {peers.get('fastapi')}, uvicorn {peers.get('uvicorn')}",
        "- Load average (1/5/15 min) at start "
        + "/".join(f"{x:.2f}" for x in load)
        + (", at end " + "/".join(f"{x:.2f}" for x in end) if end else ""),
    ]


def engine_section(data: dict | None) -> list[str]:
    lines = ["## Benchmark 1: router engine (issue 2)", ""]
    if not data:
        return [*lines, "Not run yet: `python bench/run.py engine`.", ""]
    engines = data["engines"]
    ref = engines.get("routellm", {})
    opts = data["options"]
    lines += machine_lines(data["machine"])
    lines += [
        f"- Checkpoint: the real RouteLLM shape (XLM-R base, 12 layers, hidden 768, vocab "
        f"250,002, 3 labels), random weights, "
        f"{data['checkpoint']['safetensors_bytes'] / 1e9:.2f} GB safetensors; the small "
        "trained SentencePiece tokenizer of tests/support/checkpoints.py.",
        f"- Threads: torch `set_num_threads({opts['threads']})` for RouteLLM, ONNX Runtime "
        f"`intra_op_num_threads={opts['threads']}` for ours; OMP/MKL_NUM_THREADS="
        f"{opts['threads']} for both.",
        f"- Latency: one prompt per call, timed inside each engine's own process; the engines "
        f"take turns in {opts['rounds']} rounds ({opts['short_per_round']} short + "
        f"{opts['long_per_round']} long calls each per round, each turn opened by "
        f"{opts.get('turn_warmup', 0)} untimed short calls) after a warm-up. Cold start: "
        f"a fresh process from spawn to its first win rate (imports, load, one prediction), "
        f"model already converted, page cache warm, {opts['cold_runs']} runs per engine "
        "interleaved, median. Peak RSS: `ru_maxrss` of the engine's process after all its "
        "calls.",
        "",
    ]
    short_tokens = ref.get("short_tokens") or engines.get("fp32", {}).get("short_tokens")
    long_tokens = ref.get("long_tokens") or engines.get("fp32", {}).get("long_tokens")
    impls = [i for i in ("routellm", "fp32", "int8") if engines.get(i)]
    header = ["", *[ENGINE_NAMES[i] for i in impls]]

    def row(label: str, get: callable, digits: int = 1, unit: str = "") -> list[str]:
        return [label, *[_fmt(get(engines[i]), digits, unit) for i in impls]]

    rows = [
        row(
            f"short prompt ({short_tokens} tokens) p50",
            lambda e: e.get("short", {}).get("p50_ms"),
            2,
            " ms",
        ),
        row("short prompt p95", lambda e: e.get("short", {}).get("p95_ms"), 2, " ms"),
        row(f"{long_tokens}-token prompt p50", lambda e: e.get("long", {}).get("p50_ms"), 1, " ms"),
        row(f"{long_tokens}-token prompt p95", lambda e: e.get("long", {}).get("p95_ms"), 1, " ms"),
        row("cold start (median)", lambda e: e.get("cold_start", {}).get("median_s"), 2, " s"),
        row(
            "  of which load (in process)",
            lambda e: e.get("cold_start", {}).get("median_load_s"),
            2,
            " s",
        ),
        row("peak RSS", lambda e: e.get("peak_rss_mb"), 0, " MB"),
        row("RSS after load", lambda e: e.get("rss_after_load_mb"), 0, " MB"),
    ]
    lines += _table(header, rows)
    lines += [
        "",
        "Against RouteLLM (higher is better for speed; RSS as a share of RouteLLM's):",
        "",
    ]
    ratio_rows = []
    for impl in ("fp32", "int8"):
        mine = engines.get(impl)
        if not mine or not ref:
            continue
        short = _ratio(ref.get("short", {}).get("p50_ms"), mine.get("short", {}).get("p50_ms"))
        long = _ratio(ref.get("long", {}).get("p50_ms"), mine.get("long", {}).get("p50_ms"))
        cold = _ratio(
            ref.get("cold_start", {}).get("median_s"), mine.get("cold_start", {}).get("median_s")
        )
        rss = _ratio(mine.get("peak_rss_mb"), ref.get("peak_rss_mb"))
        ratio_rows.append(
            [
                ENGINE_NAMES[impl],
                f"{_fmt(short, 1, '×')} ({_met(short and short >= ENGINE_TARGETS['short'])})",
                f"{_fmt(long, 1, '×')} ({_met(long and long >= ENGINE_TARGETS['long'])})",
                f"{_fmt(cold, 1, '×')} ({_met(cold and cold >= ENGINE_TARGETS['cold'])})",
                f"{_fmt(rss and rss * 100, 0, '%')} ({_met(rss and rss <= ENGINE_TARGETS['rss'])})",
            ]
        )
    lines += _table(
        [
            "",
            "short p50 (target ≥ 8×)",
            "512 tokens p50 (target ≥ 3×)",
            "cold start (target ≥ 8×)",
            "peak RSS (target ≤ 40%)",
        ],
        ratio_rows,
    )
    agreement = data.get("agreement", {})
    if agreement:
        lines += [
            "",
            "Agreement with RouteLLM on the same weights and prompts "
            f"({next(iter(agreement.values()))['prompts']} prompts, 4 to 512 tokens, "
            "several scripts):",
            "",
        ]
        lines += _table(
            ["", "max abs Δ win rate", "mean abs Δ win rate", "same token counts"],
            [
                [
                    ENGINE_NAMES[i],
                    f"{a['max_abs_delta']:.2e}",
                    f"{a['mean_abs_delta']:.2e}",
                    "yes" if a["tokens_equal"] else "no",
                ]
                for i, a in agreement.items()
            ],
        )
    if data.get("errors"):
        lines += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in data["errors"].items())]
    return [*lines, ""]


GATEWAY_ORDER = ["direct", "ours-off", "ours-on", "litellm", "routellm-random", "routellm-bert"]


def gateway_section(data: dict | None) -> list[str]:
    lines = ["## Benchmark 2: gateway overhead (issue 4)", ""]
    if not data:
        return [*lines, "Not run yet: `python bench/run.py gateway`.", ""]
    targets = data["targets"]
    opts = data["options"]
    lines += machine_lines(data["machine"])
    lines += [
        "- Upstream: `bench/upstream.py`, a raw-ASGI OpenAI-compatible server on uvicorn "
        "(uvloop, httptools) answering a fixed chat completion, in its own process.",
        f"- Load: `wrk` (one thread), a POST /v1/chat/completions per request with a distinct "
        "short prompt (the engine bench's short prompt plus a 7-digit counter, 24 tokens); "
        f"{opts['warmup_s']:.0f} s warm-up, then {opts['duration_c1_s']:.0f} s "
        f"at concurrency 1 and at least {opts['duration_c64_s']:.0f} s at concurrency 64 "
        f"(3 × 64 × the mean c1 latency for slow targets, at most "
        f"{opts.get('max_duration_s', 60):.0f} s; see the c64 s column). After every run one "
        "more request waits for the server to finish what wrk left in flight. Everything on "
        "127.0.0.1; one gateway running at a time beside the upstream.",
        "- Added latency = the target's p50/p99 at concurrency 1 minus the direct upstream's.",
        f"- Routing on: int8 router on the bench checkpoint, {opts['threads']} ONNX Runtime "
        f"threads; RouteLLM's bert router: torch with OMP_NUM_THREADS={opts['threads']} (torch "
        "default = cores = 2).",
        "",
    ]
    direct = targets.get("direct", {}).get("c1", {})
    rows = []
    for name in GATEWAY_ORDER:
        t = targets.get(name)
        if not t:
            continue
        c1, c64 = t["c1"], t["c64"]
        added50 = (c1["p50_us"] - direct["p50_us"]) / 1000 if direct and name != "direct" else None
        added99 = (c1["p99_us"] - direct["p99_us"]) / 1000 if direct and name != "direct" else None
        rows.append(
            [
                t["label"],
                _fmt(c1["p50_us"] / 1000, 2),
                _fmt(c1["p99_us"] / 1000, 2),
                "—" if added50 is None else _fmt(added50, 2),
                "—" if added99 is None else _fmt(added99, 2),
                _fmt(c1["rps"], 0),
                _fmt(c64["rps"], 0),
                _fmt(c64["p50_us"] / 1000, 1),
                _fmt(c64["p99_us"] / 1000, 1),
                _fmt(c64["duration_us"] / 1e6, 0),
                str(c64["ok"]),
                str(c1["errors"] + c64["errors"]),
                _fmt(t.get("server_rss_mb"), 0),
            ]
        )
    lines += _table(
        [
            "target",
            "c1 p50 ms",
            "c1 p99 ms",
            "added p50 ms",
            "added p99 ms",
            "c1 req/s",
            "c64 req/s",
            "c64 p50 ms",
            "c64 p99 ms",
            "c64 s",
            "c64 answers",
            "errors",
            "server RSS MB",
        ],
        rows,
    )
    lines += ["", "Targets:", ""]
    off, on = targets.get("ours-off"), targets.get("ours-on")
    if off and direct:
        added = (off["c1"]["p50_us"] - direct["p50_us"]) / 1000
        lines.append(f"- Added p50 with routing off ≤ 1 ms: {added:.2f} ms ({_met(added <= 1.0)})")
    # Like for like: without classification against the peers that do not classify
    # (LiteLLM; RouteLLM's random router), with it against RouteLLM's bert router.
    pairs = [
        ("routing off", off, "litellm"),
        ("routing off", off, "routellm-random"),
        ("routing on", on, "routellm-bert"),
    ]
    for mine_name, mine, peer in pairs:
        p = targets.get(peer)
        if not mine or not p:
            continue
        ratio = _ratio(mine["c64"]["rps"], p["c64"]["rps"])
        lines.append(
            f"- c64 req/s, ours {mine_name} vs {p['label']}: {_fmt(ratio, 1, '×')} "
            f"(target ≥ 3×: {_met(ratio and ratio >= 3.0)})"
        )
    probes = {n: t.get("probe") for n, t in targets.items() if t.get("probe", {}).get("headers")}
    if probes:
        lines += [
            "",
            "Routing check (first answer's headers): "
            + "; ".join(
                f"{n}: " + ", ".join(f"{k}={v}" for k, v in p["headers"].items())
                for n, p in probes.items()
            ),
        ]
    if data.get("errors"):
        lines += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in data["errors"].items())]
    return [*lines, ""]


def trained_section(data: dict | None) -> list[str]:
    if data is None:
        return []
    lines = [
        "## Benchmark 3: a trained router's decision (issue 13)",
        "",
        *machine_lines(data["machine"]),
        f"- {data['stored']:,} stored examples (2,000 embedded prompts repeated with small "
        "noise), all-MiniLM-L6-v2 embedder (first 128 tokens), k-nearest-neighbour vote; one "
        "short prompt per call, beside the BERT router (int8) on the bench checkpoint.",
        f"- Stored examples: {data['stored_examples_file_mb']} MB on disk (float16).",
        "",
    ]
    rows = []
    for name, r in data["routers"].items():
        rows.append(
            [
                name,
                _fmt(r["p50_ms"], 2),
                _fmt(r["p95_ms"], 2),
                _fmt(r.get("embedding_p50_ms"), 2),
                _fmt(r.get("stored_examples_memory_mb"), 1),
                _fmt(r.get("recall_at_k_vs_exact"), 3),
            ]
        )
    lines += _table(
        [
            "router",
            "p50 ms",
            "p95 ms",
            "embedding p50 ms",
            "examples in memory MB",
            "neighbours found vs exact search",
        ],
        rows,
    )
    best = data["routers"].get("trained-minilm-int8", {}).get("p50_ms")
    met = _met(best is not None and best <= 3)
    lines += ["", f"- Trained router (int8 queries) p50 ≤ 3 ms: {_fmt(best, 2)} ms ({met})", ""]
    return lines


ANALYSIS = BENCH / "analysis.md"  # hand-written reading of the numbers, appended if present


def render() -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python bench/run.py` (see bench/README.md) from the last run of each "
        "benchmark on the machine described in its section. Numbers are from that machine "
        "only; rerun to compare on yours.",
        "",
        *engine_section(load_raw("engine")),
        *gateway_section(load_raw("gateway")),
        *trained_section(load_raw("trained")),
    ]
    if ANALYSIS.exists():
        lines += [ANALYSIS.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def write() -> str:
    text = render()
    RESULTS.write_text(text, encoding="utf-8")
    return text
