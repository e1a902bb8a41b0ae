"""Training data for trained routers: outcomes, battles (JSON lines) and RouteLLM's CSV.

Every example becomes ``(prompt, target)`` with ``target`` = 1 when the strong model did
better, 0 when the weak one did, 0.5 for a tie, plus the strong and weak scores (for the
quality curves of cross-validation) and the raw record (for ``--group-by``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
_WINNERS = {"strong": 1.0, "weak": 0.0, "tie": 0.5}


class TrainingDataError(ValueError):
    """A data file cannot be used; the message names the file and the line."""


@dataclass
class TrainingData:
    prompts: list[str]
    targets: np.ndarray  # 1 strong better, 0 weak better, 0.5 tie
    strong_scores: np.ndarray
    weak_scores: np.ndarray
    records: list[dict[str, Any]]
    file_hashes: dict[str, str] = field(default_factory=dict)
    duplicates_dropped: int = 0
    empty_dropped: int = 0

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index: np.ndarray | Sequence[int]) -> TrainingData:
        idx = np.asarray(index, dtype=np.int64)
        return TrainingData(
            [self.prompts[i] for i in idx],
            self.targets[idx],
            self.strong_scores[idx],
            self.weak_scores[idx],
            [self.records[i] for i in idx],
            self.file_hashes,
        )

    def groups(self, field_name: str) -> list[str]:
        missing = [i for i, r in enumerate(self.records) if field_name not in r]
        if missing:
            raise TrainingDataError(
                f"--group-by {field_name}: {len(missing)} example(s) lack that field"
            )
        return [str(r[field_name]) for r in self.records]


@dataclass(frozen=True)
class _Example:
    prompt: str
    strong: float
    weak: float
    record: dict[str, Any]


def _number(value: object, path: Path, line: int, key: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and np.isfinite(value):
        return float(value)
    raise TrainingDataError(f"{path} line {line}: {key!r} must be a number")


def _from_record(raw: object, path: Path, line: int) -> _Example:
    if not isinstance(raw, dict):
        raise TrainingDataError(f"{path} line {line}: expected a JSON object")
    if "prompt" not in raw:
        raise TrainingDataError(f"{path} line {line}: missing field 'prompt'")
    prompt = raw["prompt"]
    if not isinstance(prompt, str):
        raise TrainingDataError(f"{path} line {line}: 'prompt' must be a string")
    if "winner" in raw:
        winner = raw["winner"]
        if winner not in _WINNERS:
            raise TrainingDataError(
                f"{path} line {line}: unknown winner {winner!r} (use strong, weak or tie)"
            )
        target = _WINNERS[winner]
        return _Example(prompt, target, 1.0 - target, raw)
    if "strong" in raw or "weak" in raw:
        for key in ("strong", "weak"):
            if key not in raw:
                raise TrainingDataError(f"{path} line {line}: missing field {key!r}")
        strong = _number(raw["strong"], path, line, "strong")
        weak = _number(raw["weak"], path, line, "weak")
        return _Example(prompt, strong, weak, raw)
    raise TrainingDataError(
        f"{path} line {line}: missing fields 'strong' and 'weak' (outcomes) or 'winner' (battles)"
    )


def _read_jsonl(path: Path) -> Iterator[_Example]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingDataError(
                    f"{path} line {line_no}: not valid JSON ({exc.msg})"
                ) from None
            yield _from_record(raw, path, line_no)


def _csv_score(value: str | None, path: Path, line: int, column: str) -> float:
    text = (value or "").strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return 1.0 if lowered == "true" else 0.0
    try:
        number = float(text)
    except ValueError:
        raise TrainingDataError(
            f"{path} line {line}: column {column!r} holds {text!r}, not a score"
        ) from None
    if not np.isfinite(number):
        raise TrainingDataError(f"{path} line {line}: column {column!r} is not a finite number")
    return number


def _read_csv(path: Path, strong_col: str | None, weak_col: str | None) -> Iterator[_Example]:
    if not strong_col or not weak_col:
        raise TrainingDataError(
            f"{path} is a CSV file: name its model columns with --strong-col and --weak-col"
        )
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        for needed in ("prompt", strong_col, weak_col):
            if needed not in columns:
                raise TrainingDataError(f"{path} line 1: no column {needed!r} in the header")
        for row in reader:
            line = reader.line_num
            strong = _csv_score(row.get(strong_col), path, line, strong_col)
            weak = _csv_score(row.get(weak_col), path, line, weak_col)
            yield _Example(row.get("prompt") or "", strong, weak, dict(row))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_training_data(
    paths: Sequence[Path], strong_col: str | None = None, weak_col: str | None = None
) -> TrainingData:
    """Read and combine ``paths``; empty prompts and repeated prompts (after the first) are
    dropped and counted. Raises TrainingDataError naming the file and line."""
    if not paths:
        raise TrainingDataError("no training data: give at least one --data FILE")
    examples: list[_Example] = []
    hashes: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise TrainingDataError(f"training data file {path} does not exist")
        reader = (
            _read_csv(path, strong_col, weak_col)
            if path.suffix.lower() == ".csv"
            else _read_jsonl(path)
        )
        found = list(reader)
        if not found:
            raise TrainingDataError(f"{path} holds no examples (the file is empty)")
        examples += found
        hashes[str(path)] = _sha256(path)
    seen: set[str] = set()
    kept: list[_Example] = []
    empty = duplicates = 0
    for ex in examples:
        if not ex.prompt.strip():
            empty += 1
        elif ex.prompt in seen:
            duplicates += 1
        else:
            seen.add(ex.prompt)
            kept.append(ex)
    if not kept:
        raise TrainingDataError("the training data holds no non-empty prompts")
    strong = np.array([e.strong for e in kept], dtype=np.float64)
    weak = np.array([e.weak for e in kept], dtype=np.float64)
    targets = np.where(strong > weak, 1.0, np.where(strong < weak, 0.0, 0.5))
    return TrainingData(
        [e.prompt for e in kept],
        targets,
        strong,
        weak,
        [e.record for e in kept],
        hashes,
        duplicates,
        empty,
    )
