"""Training data for trained routers: both JSON-lines formats, RouteLLM's CSV, combining
files, duplicates and empty prompts, and one clear error per kind of bad data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from localrouter.routers.trained.data import TrainingDataError, load_training_data


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_outcomes_and_battles_combine(tmp_path: Path) -> None:
    outcomes = _jsonl(
        tmp_path / "outcomes.jsonl",
        [
            {"prompt": "a", "strong": 1, "weak": 0},
            {"prompt": "b", "strong": 0.2, "weak": 0.7},
            {"prompt": "c", "strong": 5, "weak": 5},
        ],
    )
    battles = _jsonl(
        tmp_path / "battles.jsonl",
        [
            {"prompt": "d", "winner": "strong"},
            {"prompt": "e", "winner": "weak"},
            {"prompt": "f", "winner": "tie"},
        ],
    )
    data = load_training_data([outcomes, battles])
    assert data.prompts == ["a", "b", "c", "d", "e", "f"]
    assert data.targets.tolist() == [1.0, 0.0, 0.5, 1.0, 0.0, 0.5]
    assert set(data.file_hashes) == {str(outcomes), str(battles)}


def test_duplicates_and_empty_prompts_are_dropped_and_counted(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "same", "winner": "strong"},
            {"prompt": "  ", "winner": "weak"},
            {"prompt": "same", "winner": "weak"},
            {"prompt": "other", "winner": "weak"},
        ],
    )
    data = load_training_data([path])
    assert data.prompts == ["same", "other"]
    assert (data.duplicates_dropped, data.empty_dropped) == (1, 1)


def test_routellm_csv_layout(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.csv"
    path.write_text(
        'prompt,gpt-4,mixtral,other\n"q one, with a comma",True,False,True\n'
        '"q two\nover two lines",False,False,True\n',
        encoding="utf-8",
    )
    data = load_training_data([path], strong_col="gpt-4", weak_col="mixtral")
    assert data.prompts == ["q one, with a comma", "q two\nover two lines"]
    assert data.targets.tolist() == [1.0, 0.5]
    assert np.array_equal(data.strong_scores, [1.0, 0.0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"strong": 1, "weak": 0}\n', "line 1: missing field 'prompt'"),
        ('{"prompt": "x", "strong": 1}\n', "line 1: missing field 'weak'"),
        ('{"prompt": "x"}\n', "missing fields 'strong' and 'weak'"),
        (
            '{"prompt": "x", "winner": "a"}\n{"prompt": "y", "winner": "b"}\n',
            "line 1: unknown winner 'a'",
        ),
        (
            '{"prompt": "x", "winner": "tie"}\n{"prompt": "y", "winner": "draw"}\n',
            "line 2: unknown winner 'draw'",
        ),
        ('{"prompt": "x", "strong": "high", "weak": 0}\n', "line 1: 'strong' must be a number"),
        ("{not json\n", "line 1: not valid JSON"),
        ("", "holds no examples (the file is empty)"),
        ("\n\n", "holds no examples (the file is empty)"),
    ],
)
def test_bad_data_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        load_training_data([path])
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_csv_needs_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("prompt,a,b\nq,True,False\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="--strong-col and --weak-col"):
        load_training_data([path])
    with pytest.raises(TrainingDataError, match="no column 'c' in the header"):
        load_training_data([path], strong_col="a", weak_col="c")
    path.write_text("prompt,a,b\nq,True,maybe\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"line 2: column 'b' holds 'maybe'"):
        load_training_data([path], strong_col="a", weak_col="b")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"nope\.jsonl does not exist"):
        load_training_data([tmp_path / "nope.jsonl"])
