"""Fetch RouteLLM's public evaluation files when no ``--data`` folder is given.

Files come from the RouteLLM repository (raw files at a pinned commit, so results are
reproducible) into ``HOME/cache/eval-data/<benchmark>/`` with RouteLLM's own layout; a
finished download is marked and reused. ``LOCALROUTER_EVAL_DATA_URL`` points at another copy
(anything serving the ``routellm/evals`` layout over HTTP).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import httpx

from localrouter.evaluation.data import CONTAMINATED, SUBDIRS, Benchmark, EvalDataError

ROUTELLM_COMMIT = "0b64fdafe049e596a3f5657c219329f24af24198"
DEFAULT_BASE_URL = (
    f"https://raw.githubusercontent.com/lm-sys/RouteLLM/{ROUTELLM_COMMIT}/routellm/evals"
)
BASE_URL_ENV = "LOCALROUTER_EVAL_DATA_URL"
# MT-Bench's questions are FastChat's file; RouteLLM reads a copy of it. Second source for it.
_FALLBACKS = {
    "mt_bench/question.jsonl": "https://raw.githubusercontent.com/lm-sys/FastChat/main/"
    "fastchat/llm_judge/data/mt_bench/question.jsonl",
}
_DONE = ".complete"
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

MMLU_DOMAINS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology "
    "college_chemistry college_computer_science college_mathematics college_medicine "
    "college_physics computer_security conceptual_physics econometrics electrical_engineering "
    "elementary_mathematics formal_logic global_facts high_school_biology "
    "high_school_chemistry high_school_computer_science high_school_european_history "
    "high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_mathematics high_school_microeconomics high_school_physics "
    "high_school_psychology high_school_statistics high_school_us_history "
    "high_school_world_history human_aging human_sexuality international_law jurisprudence "
    "logical_fallacies machine_learning management marketing medical_genetics miscellaneous "
    "moral_disputes moral_scenarios nutrition philosophy prehistory professional_accounting "
    "professional_law professional_medicine professional_psychology public_relations "
    "security_studies sociology us_foreign_policy virology world_religions"
).split()


def benchmark_files(benchmark: Benchmark) -> list[str]:
    """Paths relative to the benchmark's folder."""
    if benchmark == "mmlu":
        return [CONTAMINATED] + [f"responses/mmlu_{d}.csv" for d in MMLU_DOMAINS]
    if benchmark == "gsm8k":
        return [CONTAMINATED, "gsm8k_responses.csv"]
    return [CONTAMINATED, "question.jsonl", "judgements.jsonl"]


def data_cache_dir(home: Path) -> Path:
    return home / "cache" / "eval-data"


def cached_data(home: Path, benchmark: Benchmark) -> Path | None:
    folder = data_cache_dir(home) / SUBDIRS[benchmark]
    return folder if (folder / _DONE).is_file() else None


def download_benchmark(home: Path, benchmark: Benchmark, base_url: str | None = None) -> Path:
    """Download (once) and return the benchmark's folder; EvalDataError when unreachable."""
    done = cached_data(home, benchmark)
    if done is not None:
        return done
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    target = data_cache_dir(home) / SUBDIRS[benchmark]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        with httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client:
            for relative in benchmark_files(benchmark):
                name = f"{SUBDIRS[benchmark]}/{relative}"
                urls = [f"{base}/{name}"]
                if base == DEFAULT_BASE_URL.rstrip("/") and name in _FALLBACKS:
                    urls.append(_FALLBACKS[name])
                path = staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_fetch(client, benchmark, urls))
        (staging / _DONE).write_text(base + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _fetch(client: httpx.Client, benchmark: str, urls: list[str]) -> bytes:
    """The first of ``urls`` that answers; the last failure is reported."""
    error = EvalDataError(f"no address for RouteLLM's {benchmark} data")
    for url in urls:
        try:
            response = client.get(url)
            response.raise_for_status()
            return response.content
        except httpx.HTTPStatusError as exc:
            error = _unreachable(benchmark, url, f"HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            error = _unreachable(benchmark, url, str(exc) or type(exc).__name__)
    raise error


def _unreachable(benchmark: str, url: str, reason: str) -> EvalDataError:
    return EvalDataError(
        f"could not download RouteLLM's {benchmark} data from {url} ({reason}); "
        "pass --data DIR with a copy of RouteLLM's routellm/evals folder"
    )
