"""Broken checkpoints: one clear error each, from the API and from the CLI (no traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from localrouter.routellm.errors import CheckpointError
from localrouter.routellm.inference.engine import RouterEngine
from tests.support.cli import run_localrouter


def _break_missing_config(d: Path) -> None:
    (d / "config.json").unlink()


def _break_missing_weights(d: Path) -> None:
    (d / "model.safetensors").unlink()


def _break_truncated_weights(d: Path) -> None:
    path = d / "model.safetensors"
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size - 1000)


def _break_corrupt_header(d: Path) -> None:
    path = d / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:40] = b"#" * 32  # the JSON header
    path.write_bytes(bytes(data))


def _break_tiny_weights(d: Path) -> None:
    (d / "model.safetensors").write_bytes(b"\x01\x02")


def _edit_config(**changes: object) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        config = json.loads((d / "config.json").read_text())
        config.update(changes)
        (d / "config.json").write_text(json.dumps(config))

    return edit


def _break_no_tokenizer(d: Path) -> None:
    (d / "tokenizer.json").unlink()
    (d / "sentencepiece.bpe.model").unlink()


def _break_shape(d: Path) -> None:
    _edit_config(hidden_size=48, num_attention_heads=4)(d)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing config": (_break_missing_config, "config.json is missing"),
    "missing weights": (_break_missing_weights, "model.safetensors is missing"),
    "truncated weights": (_break_truncated_weights, "model.safetensors is truncated"),
    "corrupt header": (_break_corrupt_header, "model.safetensors is corrupt"),
    "tiny weights": (_break_tiny_weights, "model.safetensors is truncated"),
    "wrong architecture": (
        _edit_config(architectures=["GPT2LMHeadModel"], model_type="gpt2"),
        "names architecture 'GPT2LMHeadModel'",
    ),
    "two labels": (
        _edit_config(id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1}),
        "declares 2 labels; a RouteLLM router needs 3",
    ),
    "shape mismatch": (_break_shape, "config.json implies"),
    "no tokenizer": (_break_no_tokenizer, "neither tokenizer.json nor sentencepiece.bpe.model"),
    "bad config json": (
        lambda d: (d / "config.json").write_text("{nope"),
        "config.json is not valid JSON",
    ),
}


@pytest.fixture
def broken(
    request: pytest.FixtureRequest, checkpoint_factory: Callable[..., Path], tmp_path: Path
) -> tuple[Path, str]:
    breaker, message = CASES[request.param]
    dst = tmp_path / "ckpt"
    shutil.copytree(checkpoint_factory(layout="xlmr"), dst, ignore=shutil.ignore_patterns("onnx"))
    breaker(dst)
    return dst, message


@pytest.mark.parametrize("broken", list(CASES), indirect=True)
def test_engine_load_reports_the_problem(broken: tuple[Path, str]) -> None:
    folder, message = broken
    with pytest.raises(CheckpointError) as info:
        RouterEngine.load(folder, "int8")
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, "routellm", "predict", *args)


@pytest.mark.parametrize(
    "broken",
    ["truncated weights", "wrong architecture", "two labels", "missing weights"],
    indirect=True,
)
def test_cli_reports_one_sentence_without_traceback(
    broken: tuple[Path, str], tmp_path: Path
) -> None:
    folder, message = broken
    result = _cli("--model-dir", str(folder), "hello", home=tmp_path / "home")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    assert result.stdout == ""
