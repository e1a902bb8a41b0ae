"""`localrouter routellm predict` as a real subprocess."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from localrouter.routellm.inference.engine import RouterEngine
from tests.support.cli import run_localrouter


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, "routellm", "predict", *args)


@pytest.fixture(scope="module")
def folder(checkpoint_factory: Callable[..., Path]) -> Path:
    return checkpoint_factory(layout="xlmr", seed=3)


def test_json_lines_in_input_order_with_route(folder: Path, tmp_path: Path) -> None:
    prompts = ["Write a haiku about the sea.", "word " * 3000, "2 + 2 = ?"]
    result = run(
        "--model-dir",
        str(folder),
        "--precision",
        "fp32",
        "--json",
        "--threshold",
        "0.5",
        *prompts,
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    with RouterEngine.load(folder, "fp32") as engine:
        expected = engine.predict(prompts)
    assert [item["index"] for item in lines] == [0, 1, 2]
    for item, want in zip(lines, expected, strict=True):
        assert set(item) == {"index", "win_rate", "tokens", "truncated", "latency_ms", "route"}
        assert item["win_rate"] == pytest.approx(want.win_rate, abs=1e-6)
        assert item["tokens"] == want.tokens and item["truncated"] == want.truncated
        assert item["route"] == ("strong" if item["win_rate"] >= 0.5 else "weak")
        assert item["latency_ms"] > 0
    assert lines[1]["truncated"] is True and lines[1]["tokens"] == 512


def test_files_text_and_jsonl(folder: Path, tmp_path: Path) -> None:
    text = tmp_path / "prompts.txt"
    text.write_text("first prompt\n\nsecond prompt\n", encoding="utf-8")
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text('{"prompt": "first prompt"}\n{"prompt": "second prompt"}\n', encoding="utf-8")
    a = run("--model-dir", str(folder), "--json", "--file", str(text), home=tmp_path)
    b = run("--model-dir", str(folder), "--json", "--file", str(jsonl), home=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    rates_a = [json.loads(x)["win_rate"] for x in a.stdout.splitlines()]
    rates_b = [json.loads(x)["win_rate"] for x in b.stdout.splitlines()]
    assert len(rates_a) == 2 and rates_a == rates_b
    assert all("route" not in json.loads(x) for x in a.stdout.splitlines())


def test_table_output(folder: Path, tmp_path: Path) -> None:
    result = run("--model-dir", str(folder), "--threshold", "0.3", "hello table", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "win rate" in result.stdout and "hello table" in result.stdout
    assert ("strong" in result.stdout) or ("weak" in result.stdout)


def _run_with_terminal_stderr(*args: str, home: Path) -> tuple[int, str, str]:
    """``predict`` with stdout on a pipe and stderr on a pseudo-terminal (progress bars are
    drawn only on a terminal): exit status, stdout, everything written to stderr."""
    env = {**os.environ, "LOCALROUTER_HOME": str(home), "TERM": "xterm"}
    env.pop("LOCALROUTER_ENV", None)
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "localrouter", "routellm", "predict", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        reader.start()
        stdout, _ = process.communicate(timeout=120)
        reader.join(timeout=10)
    finally:
        os.close(master)
    return process.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_conversion_shows_progress_on_stderr_only(
    checkpoint_factory: Callable[..., Path], tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    shutil.copytree(checkpoint_factory(layout="bert"), fresh, ignore=shutil.ignore_patterns("onnx"))
    status, stdout, stderr = _run_with_terminal_stderr(
        "--model-dir", str(fresh), "--json", "hi", home=tmp_path
    )
    assert status == 0, stderr
    assert (fresh / "onnx" / "manifest.json").exists()
    assert "converting" in stderr.lower()  # the bar was drawn on stderr
    assert [json.loads(line)["index"] for line in stdout.splitlines()] == [0]  # stdout: JSON only

    # Converted already: the next run draws no bar.
    status, stdout, stderr = _run_with_terminal_stderr(
        "--model-dir", str(fresh), "--json", "hi", home=tmp_path
    )
    assert status == 0 and "converting" not in stderr.lower(), stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hello"], "no router model is installed; run `localrouter routellm download`"),
        (["--model-dir", "/nonexistent/ckpt", "hello"], "does not exist"),
        (["--precision", "int4", "--model-dir", ".", "x"], "--precision must be int8 or fp32"),
        (["--threshold", "2", "--model-dir", ".", "x"], "--threshold must be between 0 and 1"),
        (["--model-dir", "."], "give at least one PROMPT or --file"),
        (["--file", "/nonexistent/prompts.txt"], "does not exist"),
    ],
)
def test_errors_are_one_sentence(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(*args, home=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_bad_jsonl_line(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    result = run("--model-dir", str(folder), "--file", str(bad), home=tmp_path)
    assert result.returncode != 0
    assert 'line 2 has no string "prompt" field' in result.stderr
    assert "Traceback" not in result.stderr


def test_default_model_dir_from_settings(folder: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text(
        f"routellm:\n  model_dir: {folder}\n  precision: fp32\n", encoding="utf-8"
    )
    result = run("--json", "from settings", home=home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["index"] == 0


def test_router_random_needs_no_model_and_unknown_router_fails(tmp_path: Path) -> None:
    from localrouter.routers.random import RandomRouter

    prompts = ["first prompt", "second prompt"]
    result = run("--router", "random", "--json", *prompts, home=tmp_path)  # nothing installed
    assert result.returncode == 0, result.stderr
    rates = [json.loads(line)["win_rate"] for line in result.stdout.splitlines()]
    assert rates == [p.win_rate for p in RandomRouter().predict(prompts)]

    missing = run("--router", "nope", "hello", home=tmp_path)
    assert missing.returncode != 0
    assert "no router named 'nope'" in missing.stderr
    both = run("--router", "random", "--precision", "fp32", "hello", home=tmp_path)
    assert both.returncode != 0 and "apply to --router bert only" in both.stderr
