"""Fetch RouteLLM's MT-Bench files when no ``--data`` folder is given (MMLU and GSM8K ship
with the package).

Files come from the RouteLLM repository (raw files at a pinned commit, so results are
reproducible) into ``HOME/cache/eval-data/mt_bench/`` with RouteLLM's own layout; a
finished download is marked and reused. ``LOCALROUTER_EVAL_DATA_URL`` points at another copy
(anything serving the ``routellm/evals`` layout over HTTP).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import httpx

from localrouter.evaluation.data import CONTAMINATED, SUBDIRS, EvalDataError

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

# MT-Bench's files (MMLU and GSM8K ship with the package).
FILES = (CONTAMINATED, "question.jsonl", "judgements.jsonl")
SUBDIR = SUBDIRS["mt-bench"]


def data_cache_dir(home: Path) -> Path:
    return home / "cache" / "eval-data"


def download_mt_bench(home: Path, base_url: str | None = None) -> Path:
    """Download (once) and return the MT-Bench folder; EvalDataError when unreachable."""
    target = data_cache_dir(home) / SUBDIR
    if (target / _DONE).is_file():
        return target
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        with httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client:
            for relative in FILES:
                name = f"{SUBDIR}/{relative}"
                urls = [f"{base}/{name}"]
                if base == DEFAULT_BASE_URL.rstrip("/") and name in _FALLBACKS:
                    urls.append(_FALLBACKS[name])
                (staging / relative).write_bytes(_fetch(client, urls))
        (staging / _DONE).write_text(base + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _fetch(client: httpx.Client, urls: list[str]) -> bytes:
    """The first of ``urls`` that answers; the last failure is reported."""
    error = EvalDataError("no address for RouteLLM's mt-bench data")
    for url in urls:
        try:
            response = client.get(url)
            response.raise_for_status()
            return response.content
        except httpx.HTTPStatusError as exc:
            error = _unreachable(url, f"HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            error = _unreachable(url, str(exc) or type(exc).__name__)
    raise error


def _unreachable(url: str, reason: str) -> EvalDataError:
    return EvalDataError(
        f"could not download RouteLLM's mt-bench data from {url} ({reason}); "
        "pass --data DIR with a copy of RouteLLM's routellm/evals folder"
    )
