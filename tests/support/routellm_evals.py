"""RouteLLM's ``routellm/evals`` layout written back from the packaged copy, so tests can
read a RouteLLM checkout (``--data``) without one: response csvs with RouteLLM's columns
(and multi-line response cells, as GSM8K's), the contamination lists, and a small MT-Bench."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from localrouter.evaluation.data import (
    STRONG_MODEL,
    WEAK_MODEL,
    PackagedBenchmark,
    packaged_dir,
    packaged_files,
)

MT_BENCH_QUESTIONS = 20  # question ids 81..100; 81 is contaminated through its first turn


def _rows(benchmark: PackagedBenchmark) -> list[dict[str, object]]:
    path = packaged_dir() / packaged_files(benchmark)[0]
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write_csv(path: Path, rows: list[dict[str, object]], responses: bool) -> None:
    columns = ["prompt", WEAK_MODEL, STRONG_MODEL]
    if responses:
        columns += [f"{WEAK_MODEL}_response", f"{STRONG_MODEL}_response"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            cells = [row["prompt"], str(row["weak"]), str(row["strong"])]
            if responses:
                cells += ['Step 1, "think".\nStep 2: answer.\n#### 42'] * 2
            writer.writerow(cells)


def _contaminated(benchmark: PackagedBenchmark, target: Path) -> None:
    path = packaged_dir() / packaged_files(benchmark)[1]
    target.write_bytes(gzip.decompress(path.read_bytes()))


def write_mt_bench(folder: Path) -> None:
    """Questions 81..100 with two judged turns per model (strong 8; weak 5..8)."""
    folder.mkdir(parents=True, exist_ok=True)
    questions, judgements = [], []
    for qid in range(81, 81 + MT_BENCH_QUESTIONS):
        turns = [f"Question {qid}: explain topic {qid * 7 % 11}.", "Now shorter."]
        questions.append({"question_id": qid, "category": "writing", "turns": turns})
        for model, score in ((STRONG_MODEL, 8), (WEAK_MODEL, 5 + qid % 4)):
            for turn in (1, 2):
                judgements.append(
                    {
                        "question_id": qid,
                        "model": model,
                        "judge": ["gpt-4", "single-v1"],
                        "score": score,
                        "turn": turn,
                    }
                )
    (folder / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (folder / "judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))
    (folder / "contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "Question 81: explain topic 6."}) + "\n"
    )


def write_routellm_checkout(root: Path) -> Path:
    """A RouteLLM clone's ``routellm/evals`` under ``root``; returns ``root``."""
    evals = root / "routellm" / "evals"
    by_subject: dict[str, list[dict[str, object]]] = {}
    for row in _rows("mmlu"):
        by_subject.setdefault(str(row["subject"]), []).append(row)
    for subject, rows in by_subject.items():
        _write_csv(evals / "mmlu" / "responses" / f"mmlu_{subject}.csv", rows, responses=False)
    _contaminated("mmlu", evals / "mmlu" / "contaminated_prompts.jsonl")
    _write_csv(evals / "gsm8k" / "gsm8k_responses.csv", _rows("gsm8k"), responses=True)
    _contaminated("gsm8k", evals / "gsm8k" / "contaminated_prompts.jsonl")
    write_mt_bench(evals / "mt_bench")
    return root
