"""The CLI in a real 80-column pseudo-terminal (pexpect): what a user with a default-sized
terminal sees from `routellm predict` and from the `routellm download` progress bar."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect

from localrouter.routellm.inference.engine import RouterEngine
from tests.support.fake_hub import HF_VARIABLES_TO_CLEAR, FakeHub, hf_environment

COLUMNS = 80
_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # colours: part of a line
_CONTROL = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Za-z0-9])")  # cursor moves


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run ``localrouter ARGS`` in a 24x80 pseudo-terminal; everything it wrote, and exit 0."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "localrouter", *args],
        env={**env, "COLUMNS": str(COLUMNS), "LINES": "24", "TERM": "xterm-256color"},
        dimensions=(24, COLUMNS),
        encoding="utf-8",
        timeout=timeout,
    )
    child.expect(pexpect.EOF)
    output = str(child.before)
    child.close()
    assert child.exitstatus == 0, output
    return output


def screen_lines(output: str) -> list[str]:
    """Each piece of text drawn between line feeds, carriage returns and cursor moves: a
    redrawn progress bar gives one piece per redraw."""
    return [
        part
        for part in re.split(r"[\r\n]", _CONTROL.sub("\n", _STYLE.sub("", output)))
        if part.strip()
    ]


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HF_VARIABLES_TO_CLEAR}
    env.pop("LOCALROUTER_ENV", None)
    env["LOCALROUTER_HOME"] = str(home)
    return env


def test_predict_shows_every_number_at_80_columns(
    checkpoint_factory: Callable[..., Path], tmp_path: Path
) -> None:
    folder = checkpoint_factory(layout="xlmr", seed=3)
    prompts = [
        "Explain, step by step and with a worked example for each case, how a B-tree keeps "
        "itself balanced when keys are inserted and deleted in a database index.",
        "hi",
        "word " * 3000,
    ]
    args = ["routellm", "predict", "--model-dir", str(folder), "--precision", "fp32"]
    output = run_in_terminal([*args, "--threshold", "0.3", *prompts], base_env(tmp_path))
    with RouterEngine.load(folder, "fp32") as engine:
        expected = engine.predict(prompts)

    lines = screen_lines(output)
    assert all(len(line.rstrip()) <= COLUMNS for line in lines), "\n".join(lines)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if "│" in line]
    assert [row[0] for row in rows] == ["0", "1", "2"], output
    for (_, win_rate, route, tokens, ms, _), want in zip(rows, expected, strict=True):
        assert win_rate == f"{want.win_rate:.4f}"
        assert route == ("strong" if want.win_rate >= 0.3 else "weak")
        assert tokens == f"{want.tokens}{'*' if want.truncated else ''}"
        assert float(ms) > 0
    assert rows[0][-1].startswith("Explain, step by step") and rows[0][-1].endswith("…")
    assert rows[2][3] == "512*" and "truncated" in output


def test_download_bar_never_wraps_at_80_columns(tmp_path: Path, big_checkpoint: Path) -> None:
    with FakeHub() as hub:
        repo = hub.add_repo("routellm/bert_gpt4_augmented", big_checkpoint)
        hub.throttle_bps = 1_500_000  # ~2 s: the bar is redrawn many times
        env = {**base_env(tmp_path / "home"), **hf_environment(hub.url, tmp_path / "hf")}
        output = run_in_terminal(["routellm", "download"], env)

    lines = screen_lines(output)
    # The model folder is a path of whatever length the home has; everything else fits.
    drawn = [line for line in lines if "model folder:" not in line]
    too_long = [line for line in drawn if len(line.rstrip()) > COLUMNS]
    assert not too_long, "\n".join(too_long)
    bars = [line for line in drawn if line.startswith("Downloading ")]
    assert any(re.search(r"\d+% .*MB/\d+\.\d MB .*/s +ETA \d+:\d\d$", b.rstrip()) for b in bars), (
        bars
    )
    assert any(line.startswith("Downloaded ") and "100%" in line for line in drawn)
    # Conversion is its own row; the download row does not stand at 0 B/s meanwhile.
    assert any(line.startswith(("Converting", "Testing")) for line in drawn), output
    assert "0 B/s" not in output
    assert f"commit {repo.commit[:12]}" in output
