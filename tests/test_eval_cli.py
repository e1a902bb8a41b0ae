"""`localrouter routellm eval` and `calibrate --file` as real processes, with a generated
checkpoint and RouteLLM's data (the packaged copy, or a RouteLLM checkout with ``--data``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib.image
import pytest

from localrouter.evaluation.data import packaged_dir
from localrouter.routellm.inference.engine import RouterEngine
from tests.support.cli import run_localrouter
from tests.support.routellm_evals import write_mt_bench
from tests.support.threaded_server import free_port

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_localrouter(home, "routellm", *args, env=env, timeout=300)


def _eval_gsm8k_random(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``eval`` of the random router on the packaged gsm8k data: no model needed."""
    return _run(home, "eval", "-b", "gsm8k", "--router", "random", *args, env=env)


def test_eval_end_to_end_then_from_cache(tmp_path: Path, xlmr_checkpoint: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    args = (
        "eval",
        "--benchmark",
        "mmlu",
        "--model-dir",
        str(xlmr_checkpoint),
        "--sample",
        "300",
        "--out",
        str(out),
    )
    started = time.perf_counter()
    first = _run(home, *args)
    first_secs = time.perf_counter() - started
    assert first.returncode == 0, first.stderr

    stem = "mmlu-bert-sample300-seed0"
    table = (out / f"{stem}.md").read_text()
    assert first.stdout.strip() == table.strip()
    assert "| Router | AUC | APGR | CPT(50%) | CPT(80%) |" in table
    for label in ("BERT router", "random router (mean of 10 seeds)", "oracle"):
        assert f"| {label} |" in table
    assert "300, a random sample (seed 0) of 14037" in table

    report = json.loads((out / f"{stem}.json").read_text())
    assert report["data_source"] == str(packaged_dir())  # no --data: the packaged copy
    assert report["prompts"] == 300 and report["sample"]["population"] == 14037
    assert report["router"]["cached"] is False
    assert set(report["metrics"]) == {"bert", "random", "oracle"}
    bert_curve = report["curves"]["bert"]
    assert bert_curve[0]["strong_share"] == 0 and bert_curve[-1]["strong_share"] == 1
    assert bert_curve[0]["quality"] == pytest.approx(report["weak_model"]["quality"])
    assert bert_curve[-1]["quality"] == pytest.approx(report["strong_model"]["quality"])
    assert report["metrics"]["oracle"]["apgr"] > 0.9

    png = out / f"{stem}.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert matplotlib.image.imread(png).shape[:2] == (600, 1000)

    started = time.perf_counter()
    second = _run(home, *args, "--json")
    second_secs = time.perf_counter() - started
    assert second.returncode == 0, second.stderr
    assert "Win rates from cache" in second.stderr
    summary = json.loads(second.stdout)
    assert summary["router"]["cached"] is True
    assert summary["metrics"] == report["metrics"]
    rerun = json.loads((out / f"{stem}.json").read_text())
    assert rerun["curves"] == report["curves"]
    assert second_secs < first_secs


def test_eval_uses_the_installed_model_and_a_routellm_checkout(
    tmp_path: Path, xlmr_checkpoint: Path, routellm_checkout: Path
) -> None:
    home = tmp_path / "home"
    installed = home / "routellm" / "current"
    shutil.copytree(xlmr_checkpoint, installed, ignore=shutil.ignore_patterns("onnx*"))
    data = ("--data", str(routellm_checkout))
    run = _run(home, "eval", "-b", "gsm8k", *data, "--sample", "40", "--no-plot", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["data_source"] == str(routellm_checkout / "routellm" / "evals" / "gsm8k")
    assert summary["total_prompts"] == 1319 and summary["sample"]["population"] == 1307
    assert summary["router"]["model_dir"] == str(installed)
    assert summary["prompts"] == 40
    assert not list((home / "eval").glob("*.png"))


def test_eval_without_a_model_says_so(tmp_path: Path) -> None:
    run = _run(tmp_path / "home", "eval", "-b", "gsm8k")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "no router model is installed" in run.stderr


def test_eval_random_router_needs_no_model(tmp_path: Path) -> None:
    run = _eval_gsm8k_random(tmp_path / "home", "--no-plot", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert abs(summary["metrics"]["random"]["apgr"] - 0.5) < 0.05
    assert set(summary["metrics"]) == {"random_seed0", "random", "oracle"}


def test_eval_mt_bench_without_data_and_offline_is_clear(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    run = _run(
        tmp_path / "home",
        "eval",
        "-b",
        "mt-bench",
        "--router",
        "random",
        env={"LOCALROUTER_EVAL_DATA_URL": f"http://127.0.0.1:{port}"},
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: could not download")
    assert "pass --data DIR" in lines[0]


@pytest.mark.parametrize("pct", [20, 50, 85])
def test_calibrate_file_sends_the_asked_share(
    tmp_path: Path, xlmr_checkpoint: Path, pct: int
) -> None:
    words = "the router sends hard prompts to the strong model and easy ones to the weak".split()
    prompts = [f"Question {i}: {' '.join(words[i % 7 :])} {i * 37 % 101}?" for i in range(80)]
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    home = tmp_path / "home"
    run = _run(
        home,
        "calibrate",
        "--strong-pct",
        str(pct),
        "--file",
        str(prompt_file),
        "--model-dir",
        str(xlmr_checkpoint),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["prompts"] == len(prompts)

    with RouterEngine.load(xlmr_checkpoint, "int8") as engine:  # the CLI's default precision
        rates = [p.win_rate for p in engine.predict(prompts)]
    assert len(set(rates)) == len(rates)  # no ties, so one prompt is the only slack
    strong = sum(rate >= result["threshold"] for rate in rates)
    assert strong == result["strong_count"]
    assert abs(strong - pct / 100 * len(prompts)) <= 1


def test_eval_without_matplotlib_still_writes_table_and_json(tmp_path: Path) -> None:
    # A package named matplotlib that fails to import, first on the path: as if not installed.
    blocker = tmp_path / "site" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    out = tmp_path / "out"
    pythonpath = os.pathsep.join(filter(None, [str(blocker.parent), os.environ.get("PYTHONPATH")]))
    run = _eval_gsm8k_random(tmp_path / "home", "--out", str(out), env={"PYTHONPATH": pythonpath})
    assert run.returncode == 0, run.stderr
    assert "matplotlib is not installed" in run.stderr
    assert "pip install 'localrouter[plot]'" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gsm8k-random.json", "gsm8k-random.md"]


def test_eval_mt_bench_files(tmp_path: Path, xlmr_checkpoint: Path) -> None:
    write_mt_bench(tmp_path / "evals" / "mt_bench")  # strong 8, weak 5 + id % 4; 81 dropped
    out = tmp_path / "out"
    run = _run(
        tmp_path / "home",
        "eval",
        "-b",
        "mt-bench",
        "--data",
        str(tmp_path / "evals"),
        "--model-dir",
        str(xlmr_checkpoint),
        "--out",
        str(out),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["prompts"] == 19 and summary["contaminated_dropped"] == 1
    assert summary["quality"] == "MT-Bench score (1-10)"
    assert summary["strong_model"]["quality"] == 8.0
    assert summary["weak_model"]["quality"] == pytest.approx(
        sum(5 + q % 4 for q in range(82, 101)) / 19
    )
    assert (out / "mt-bench-bert.png").read_bytes()[:8] == PNG_SIGNATURE


def test_eval_unknown_router_fails_before_any_data(tmp_path: Path) -> None:
    run = _run(tmp_path / "home", "eval", "-b", "gsm8k", "--router", "nope", "--no-plot")
    assert run.returncode != 0
    assert "no router named 'nope'" in run.stderr
    assert not (tmp_path / "home" / "eval").exists()
