"""RouteLLM's benchmark files: find them, read them, drop contaminated prompts.

Layout (RouteLLM's ``routellm/evals``, also the shared copy's ``data/routellm-evals``):

- ``mmlu/responses/mmlu_<domain>.csv``: ``prompt`` and one boolean column per model.
- ``gsm8k/gsm8k_responses.csv``: the same columns (cells may span lines) plus responses.
- ``mt_bench/question.jsonl`` (``question_id``, ``category``, ``turns``) and
  ``mt_bench/judgements.jsonl`` (``question_id``, ``model``, ``judge``, ``score``, ``turn``).
- ``<benchmark>/contaminated_prompts.jsonl``: ``eval_prompt`` strings to drop, compared
  exactly, as RouteLLM's ``isin`` does (MT-Bench: a question goes if either turn matches).

Every benchmark becomes a list of routed prompts with the strong and the weak model's score
on each, so one set of metrics serves all three.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

Benchmark = Literal["mmlu", "gsm8k", "mt-bench"]
BENCHMARKS: tuple[Benchmark, ...] = ("mmlu", "gsm8k", "mt-bench")

# RouteLLM's routed pair for these files.
STRONG_MODEL = "gpt-4-1106-preview"
WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"

# Folder of each benchmark inside RouteLLM's routellm/evals.
SUBDIRS: dict[Benchmark, str] = {"mmlu": "mmlu", "gsm8k": "gsm8k", "mt-bench": "mt_bench"}
CONTAMINATED = "contaminated_prompts.jsonl"

# csv's default field limit (128 KiB) is below some long prompts with responses.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class EvalDataError(ValueError):
    """Benchmark files are missing or malformed; the message names the file."""


@dataclass(frozen=True)
class BenchmarkData:
    name: Benchmark
    prompts: list[str]  # the text the router sees (MT-Bench: the first turn)
    strong_scores: np.ndarray  # per prompt, in quality units
    weak_scores: np.ndarray
    quality_label: str
    source: Path
    total_prompts: int  # before decontamination
    contaminated_dropped: int
    contamination_file: Path | None
    strong_model: str = STRONG_MODEL
    weak_model: str = WEAK_MODEL
    sampled_from: int | None = None  # prompts before --sample, when sampled
    sample_seed: int | None = None

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def strong_quality(self) -> float:
        return float(self.strong_scores.mean())

    @property
    def weak_quality(self) -> float:
        return float(self.weak_scores.mean())

    def sample(self, size: int, seed: int = 0) -> BenchmarkData:
        """A reproducible random subset of ``size`` prompts (kept in their original order)."""
        if size <= 0:
            raise ValueError("the sample size must be positive")
        if size >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), size=size, replace=False))
        return replace(
            self,
            prompts=[self.prompts[i] for i in keep],
            strong_scores=self.strong_scores[keep],
            weak_scores=self.weak_scores[keep],
            sampled_from=len(self),
            sample_seed=seed,
        )


# --- finding the files -------------------------------------------------------------------


def _has_benchmark(folder: Path, benchmark: Benchmark) -> bool:
    if benchmark == "mmlu":
        responses = folder / "responses"
        return responses.is_dir() and any(responses.glob("mmlu_*.csv"))
    if benchmark == "gsm8k":
        return (folder / "gsm8k_responses.csv").is_file()
    return (folder / "question.jsonl").is_file() and (folder / "judgements.jsonl").is_file()


def locate(data_dir: Path, benchmark: Benchmark) -> Path:
    """The benchmark's folder under ``data_dir``: a RouteLLM ``evals`` folder, a clone of
    RouteLLM, the shared folder (``data/routellm-evals``), or the benchmark folder itself."""
    data_dir = data_dir.expanduser()
    if not data_dir.is_dir():
        raise EvalDataError(f"data folder {data_dir} does not exist")
    sub = SUBDIRS[benchmark]
    roots = [
        data_dir,
        data_dir / "routellm-evals",
        data_dir / "data" / "routellm-evals",
        data_dir / "shared" / "data" / "routellm-evals",
        data_dir / "routellm" / "evals",
        data_dir / "evals",
    ]
    candidates = [data_dir]
    for root in roots:
        candidates += [root / sub, root / benchmark]
    for folder in candidates:
        if _has_benchmark(folder, benchmark):
            return folder
    expected = {
        "mmlu": "mmlu/responses/mmlu_*.csv",
        "gsm8k": "gsm8k/gsm8k_responses.csv",
        "mt-bench": "mt_bench/question.jsonl and mt_bench/judgements.jsonl",
    }[benchmark]
    raise EvalDataError(f"no {benchmark} data found in {data_dir} (expected {expected})")


# --- reading -----------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(item, dict):
                    raise EvalDataError(f"{path}:{number}: expected a JSON object")
                yield number, item
    except OSError as exc:
        raise EvalDataError(f"cannot read {path}: {exc.strerror}") from None


def read_contaminated(folder: Path) -> tuple[set[str], Path | None]:
    path = folder / CONTAMINATED
    if not path.is_file():
        return set(), None
    prompts = set()
    for number, item in _jsonl(path):
        prompt = item.get("eval_prompt")
        if not isinstance(prompt, str):
            raise EvalDataError(f"{path}:{number}: no eval_prompt string")
        prompts.add(prompt)
    return prompts, path


_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


def _boolean(value: str | None, path: Path, row: int, column: str) -> float:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return 100.0
    if text in _FALSE:
        return 0.0
    raise EvalDataError(f"{path}: row {row}: column {column!r} is {value!r}, not True/False")


def _read_outcomes(paths: list[Path]) -> tuple[list[str], list[float], list[float]]:
    """Prompts and 0/100 correctness of each model from RouteLLM's response csvs."""
    prompts: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    for path in paths:
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                columns = reader.fieldnames or []
                for column in ("prompt", STRONG_MODEL, WEAK_MODEL):
                    if column not in columns:
                        raise EvalDataError(f"{path}: no {column!r} column")
                for row_number, row in enumerate(reader, 1):
                    prompts.append(row["prompt"])
                    strong.append(_boolean(row[STRONG_MODEL], path, row_number, STRONG_MODEL))
                    weak.append(_boolean(row[WEAK_MODEL], path, row_number, WEAK_MODEL))
        except OSError as exc:
            raise EvalDataError(f"cannot read {path}: {exc.strerror}") from None
        except csv.Error as exc:
            raise EvalDataError(f"{path}: not a valid CSV file ({exc})") from None
    return prompts, strong, weak


def _decontaminated(
    name: Benchmark,
    folder: Path,
    prompts: list[str],
    strong: list[float],
    weak: list[float],
    label: str,
    dropped_if: list[bool] | None = None,
) -> BenchmarkData:
    contaminated, contamination_file = read_contaminated(folder)
    if dropped_if is None:
        dropped_if = [p in contaminated for p in prompts]
    keep = [i for i, drop in enumerate(dropped_if) if not drop]
    if not keep:
        raise EvalDataError(f"no {name} prompts left in {folder} after decontamination")
    return BenchmarkData(
        name=name,
        prompts=[prompts[i] for i in keep],
        strong_scores=np.asarray([strong[i] for i in keep], dtype=np.float64),
        weak_scores=np.asarray([weak[i] for i in keep], dtype=np.float64),
        quality_label=label,
        source=folder,
        total_prompts=len(prompts),
        contaminated_dropped=len(prompts) - len(keep),
        contamination_file=contamination_file,
    )


def load_mmlu(folder: Path) -> BenchmarkData:
    paths = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not paths:
        raise EvalDataError(f"no mmlu_*.csv files in {folder / 'responses'}")
    prompts, strong, weak = _read_outcomes(paths)
    return _decontaminated("mmlu", folder, prompts, strong, weak, "accuracy (%)")


def load_gsm8k(folder: Path) -> BenchmarkData:
    prompts, strong, weak = _read_outcomes([folder / "gsm8k_responses.csv"])
    return _decontaminated("gsm8k", folder, prompts, strong, weak, "accuracy (%)")


def load_mtbench(folder: Path) -> BenchmarkData:
    """Route on the first turn; score a question by the mean of its judged turns, as
    RouteLLM's mean over the merged judgement rows does (two turns per question)."""
    questions_path = folder / "question.jsonl"
    judgements_path = folder / "judgements.jsonl"
    scores: dict[tuple[object, str], list[float]] = {}
    for number, item in _jsonl(judgements_path):
        model, score = item.get("model"), item.get("score")
        if model not in (STRONG_MODEL, WEAK_MODEL):
            continue
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise EvalDataError(f"{judgements_path}:{number}: score is not a number")
        scores.setdefault((item.get("question_id"), str(model)), []).append(float(score))

    contaminated, _ = read_contaminated(folder)
    prompts: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    dropped: list[bool] = []
    for number, item in _jsonl(questions_path):
        turns = item.get("turns")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise EvalDataError(f"{questions_path}:{number}: turns must be a list of strings")
        qid = item.get("question_id")
        per_model = []
        for model in (STRONG_MODEL, WEAK_MODEL):
            judged = scores.get((qid, model))
            if not judged:
                raise EvalDataError(
                    f"{judgements_path}: no judgement of question {qid} for model {model}"
                )
            per_model.append(sum(judged) / len(judged))
        prompts.append(turns[0])
        strong.append(per_model[0])
        weak.append(per_model[1])
        dropped.append(any(turn in contaminated for turn in turns[:2]))
    return _decontaminated(
        "mt-bench", folder, prompts, strong, weak, "MT-Bench score (1-10)", dropped
    )


def load_benchmark(data_dir: Path, benchmark: Benchmark) -> BenchmarkData:
    folder = locate(data_dir, benchmark)
    loader = {"mmlu": load_mmlu, "gsm8k": load_gsm8k, "mt-bench": load_mtbench}[benchmark]
    return loader(folder)
