"""RouteLLM's benchmark files: read them, drop contaminated prompts.

MMLU and GSM8K ship with the package (``routellm_data/``: RouteLLM's per-prompt outcomes,
packed by scripts/pack_routellm_data.py; see its README), so they need no download. A
RouteLLM checkout (``--data``) is read in RouteLLM's own layout (``routellm/evals``):

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
import gzip
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np

Benchmark = Literal["mmlu", "gsm8k", "mt-bench"]
PackagedBenchmark = Literal["mmlu", "gsm8k"]
PACKAGED: tuple[PackagedBenchmark, ...] = ("mmlu", "gsm8k")

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
    subjects: list[str] | None = None  # MMLU: each prompt's domain (e.g. "anatomy")
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
            subjects=None if self.subjects is None else [self.subjects[i] for i in keep],
            sampled_from=len(self),
            sample_seed=seed,
        )


@dataclass
class Outcomes:
    """Every row of a benchmark's response files, in file order, before decontamination;
    scores are 0/100 (correct or not)."""

    prompts: list[str] = field(default_factory=list)
    strong: list[float] = field(default_factory=list)
    weak: list[float] = field(default_factory=list)
    subjects: list[str] | None = None


# --- finding RouteLLM's files ------------------------------------------------------------


def _has_benchmark(folder: Path, benchmark: Benchmark) -> bool:
    if benchmark == "mmlu":
        responses = folder / "responses"
        return responses.is_dir() and any(responses.glob("mmlu_*.csv"))
    if benchmark == "gsm8k":
        return (folder / "gsm8k_responses.csv").is_file()
    return (folder / "question.jsonl").is_file() and (folder / "judgements.jsonl").is_file()


def locate(data_dir: Path, benchmark: Benchmark) -> Path:
    """The benchmark's folder under ``data_dir``: a clone of RouteLLM, its ``routellm``
    package folder, its ``evals`` folder, or the benchmark folder itself."""
    data_dir = data_dir.expanduser()
    if not data_dir.is_dir():
        raise EvalDataError(f"data folder {data_dir} does not exist")
    sub = SUBDIRS[benchmark]
    roots = [data_dir, data_dir / "routellm" / "evals", data_dir / "evals"]
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


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects of a JSON-lines file (gzip'd when its name ends in .gz), with line numbers."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
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
        raise EvalDataError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_contaminated(path: Path) -> set[str]:
    prompts = set()
    for number, item in _jsonl(path):
        prompt = item.get("eval_prompt")
        if not isinstance(prompt, str):
            raise EvalDataError(f"{path}:{number}: no eval_prompt string")
        prompts.add(prompt)
    return prompts


_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


def _boolean(value: str | None, path: Path, row: int, column: str) -> float:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return 100.0
    if text in _FALSE:
        return 0.0
    raise EvalDataError(f"{path}: row {row}: column {column!r} is {value!r}, not True/False")


def _read_csvs(paths: list[Path], subjects: list[str] | None) -> Outcomes:
    """Prompts and 0/100 correctness of each model from RouteLLM's response csvs;
    ``subjects``: one per path, repeated for each of its rows."""
    outcomes = Outcomes(subjects=None if subjects is None else [])
    for index, path in enumerate(paths):
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                columns = reader.fieldnames or []
                for column in ("prompt", STRONG_MODEL, WEAK_MODEL):
                    if column not in columns:
                        raise EvalDataError(f"{path}: no {column!r} column")
                for row_number, row in enumerate(reader, 1):
                    outcomes.prompts.append(row["prompt"])
                    outcomes.strong.append(
                        _boolean(row[STRONG_MODEL], path, row_number, STRONG_MODEL)
                    )
                    outcomes.weak.append(_boolean(row[WEAK_MODEL], path, row_number, WEAK_MODEL))
                    if outcomes.subjects is not None and subjects is not None:
                        outcomes.subjects.append(subjects[index])
        except OSError as exc:
            raise EvalDataError(f"cannot read {path}: {exc.strerror}") from None
        except csv.Error as exc:
            raise EvalDataError(f"{path}: not a valid CSV file ({exc})") from None
    return outcomes


def read_outcomes(folder: Path, benchmark: PackagedBenchmark) -> Outcomes:
    """All rows of RouteLLM's MMLU (files in name order) or GSM8K responses in ``folder``
    (the benchmark's own folder, as ``locate`` returns it)."""
    if benchmark == "gsm8k":
        return _read_csvs([folder / "gsm8k_responses.csv"], None)
    paths = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not paths:
        raise EvalDataError(f"no mmlu_*.csv files in {folder / 'responses'}")
    return _read_csvs(paths, [path.stem.removeprefix("mmlu_") for path in paths])


def _decontaminated(
    name: Benchmark,
    source: Path,
    outcomes: Outcomes,
    contamination_file: Path | None,
    label: str = "accuracy (%)",
    dropped_if: list[bool] | None = None,
) -> BenchmarkData:
    contaminated = read_contaminated(contamination_file) if contamination_file else set()
    prompts = outcomes.prompts
    if dropped_if is None:
        dropped_if = [p in contaminated for p in prompts]
    keep = [i for i, drop in enumerate(dropped_if) if not drop]
    if not keep:
        raise EvalDataError(f"no {name} prompts left in {source} after decontamination")
    subjects = outcomes.subjects
    return BenchmarkData(
        name=name,
        prompts=[prompts[i] for i in keep],
        strong_scores=np.asarray([outcomes.strong[i] for i in keep], dtype=np.float64),
        weak_scores=np.asarray([outcomes.weak[i] for i in keep], dtype=np.float64),
        quality_label=label,
        source=source,
        total_prompts=len(prompts),
        contaminated_dropped=len(prompts) - len(keep),
        contamination_file=contamination_file,
        subjects=None if subjects is None else [subjects[i] for i in keep],
    )


def _contamination_file(folder: Path) -> Path | None:
    path = folder / CONTAMINATED
    return path if path.is_file() else None


def load_mmlu(folder: Path) -> BenchmarkData:
    outcomes = read_outcomes(folder, "mmlu")
    return _decontaminated("mmlu", folder, outcomes, _contamination_file(folder))


def load_gsm8k(folder: Path) -> BenchmarkData:
    outcomes = read_outcomes(folder, "gsm8k")
    return _decontaminated("gsm8k", folder, outcomes, _contamination_file(folder))


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

    contamination_file = _contamination_file(folder)
    contaminated = read_contaminated(contamination_file) if contamination_file else set()
    outcomes = Outcomes()
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
        outcomes.prompts.append(turns[0])
        outcomes.strong.append(per_model[0])
        outcomes.weak.append(per_model[1])
        dropped.append(any(turn in contaminated for turn in turns[:2]))
    return _decontaminated(
        "mt-bench", folder, outcomes, contamination_file, "MT-Bench score (1-10)", dropped
    )


def load_benchmark(data_dir: Path, benchmark: Benchmark) -> BenchmarkData:
    """The benchmark from a RouteLLM checkout (or any folder ``locate`` accepts)."""
    folder = locate(data_dir, benchmark)
    loader = {"mmlu": load_mmlu, "gsm8k": load_gsm8k, "mt-bench": load_mtbench}[benchmark]
    return loader(folder)


# --- the packaged copy -------------------------------------------------------------------
# ``<benchmark>.jsonl.gz``: one object per response row, in RouteLLM's order, with
# ``prompt``, ``strong`` and ``weak`` (booleans: answered correctly) and, for MMLU,
# ``subject``; ``<benchmark>-contaminated.jsonl.gz``: RouteLLM's contamination list.


def packaged_dir() -> Path:
    return Path(str(files("localrouter.evaluation") / "routellm_data"))


def packaged_files(benchmark: PackagedBenchmark) -> tuple[str, str]:
    """Names of the outcomes file and the contamination list in ``packaged_dir()``."""
    return f"{benchmark}.jsonl.gz", f"{benchmark}-contaminated.jsonl.gz"


def packed_row(outcomes: Outcomes, index: int) -> dict[str, Any]:
    """Row ``index`` of ``outcomes`` as stored in the packaged copy."""
    row: dict[str, Any] = {"prompt": outcomes.prompts[index]}
    if outcomes.subjects is not None:
        row["subject"] = outcomes.subjects[index]
    row["strong"] = outcomes.strong[index] > 0
    row["weak"] = outcomes.weak[index] > 0
    return row


def _read_packed(path: Path) -> Outcomes:
    outcomes = Outcomes()
    subjects: list[object] = []
    for number, row in _jsonl(path):
        prompt, strong, weak = row.get("prompt"), row.get("strong"), row.get("weak")
        if not (isinstance(prompt, str) and isinstance(strong, bool) and isinstance(weak, bool)):
            raise EvalDataError(f"{path}:{number}: expected prompt, strong and weak")
        outcomes.prompts.append(prompt)
        outcomes.strong.append(100.0 if strong else 0.0)
        outcomes.weak.append(100.0 if weak else 0.0)
        subjects.append(row.get("subject"))
    if any(subject is not None for subject in subjects):
        if not all(isinstance(subject, str) for subject in subjects):
            raise EvalDataError(f"{path}: some rows have no subject")
        outcomes.subjects = [str(subject) for subject in subjects]
    return outcomes


def load_packaged(benchmark: PackagedBenchmark) -> BenchmarkData:
    """MMLU or GSM8K from the copy shipped in the package: no download, no ``--data``."""
    folder = packaged_dir()
    outcomes_name, contaminated_name = packaged_files(benchmark)
    outcomes = _read_packed(folder / outcomes_name)
    return _decontaminated(benchmark, folder, outcomes, folder / contaminated_name)
