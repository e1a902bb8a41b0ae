"""RouteLLM's benchmark data: the packaged copy, a RouteLLM checkout read the same way,
decontamination, published figures, baselines, MT-Bench scoring, the script that packs the
data, and MT-Bench's download (against a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from localrouter.evaluation import metrics
from localrouter.evaluation.data import (
    PACKAGED,
    STRONG_MODEL,
    WEAK_MODEL,
    BenchmarkData,
    EvalDataError,
    PackagedBenchmark,
    load_benchmark,
    load_packaged,
    locate,
    packaged_dir,
    packaged_files,
)
from localrouter.evaluation.download import download_mt_bench
from tests.support.routellm_evals import MT_BENCH_QUESTIONS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mmlu() -> BenchmarkData:
    return load_packaged("mmlu")


@pytest.fixture(scope="module")
def gsm8k() -> BenchmarkData:
    return load_packaged("gsm8k")


def test_mmlu_reproduces_routellm_figures(mmlu: BenchmarkData) -> None:
    assert mmlu.total_prompts == 14042
    assert mmlu.contaminated_dropped == 5
    assert len(mmlu) == 14037
    # RouteLLM prints accuracies with two decimals: 68.09% / 80.59%
    assert f"{mmlu.weak_quality:.2f}" == "68.09"
    assert f"{mmlu.strong_quality:.2f}" == "80.59"
    # every prompt keeps its domain: 57 of them, in RouteLLM's file order
    assert mmlu.subjects is not None and len(mmlu.subjects) == len(mmlu)
    assert len(set(mmlu.subjects)) == 57
    assert mmlu.subjects[0] == "abstract_algebra" and mmlu.subjects[-1] == "world_religions"


def test_gsm8k_reproduces_routellm_figures(gsm8k: BenchmarkData) -> None:
    assert gsm8k.total_prompts == 1319
    assert len(gsm8k) == 1319 - gsm8k.contaminated_dropped == 1307
    assert f"{gsm8k.weak_quality:.2f}" == "63.73"
    assert f"{gsm8k.strong_quality:.2f}" == "85.77"
    assert gsm8k.subjects is None


def _packaged_jsonl(name: str) -> list[dict[str, object]]:
    with gzip.open(packaged_dir() / name, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.mark.parametrize("name", PACKAGED)
def test_contaminated_prompts_are_gone(name: PackagedBenchmark) -> None:
    data = load_packaged(name)
    contaminated = {
        str(row["eval_prompt"]) for row in _packaged_jsonl(f"{name}-contaminated.jsonl.gz")
    }
    assert contaminated and not contaminated & set(data.prompts)
    assert data.contamination_file == packaged_dir() / packaged_files(name)[1]


def test_packaged_copy_is_small_and_licensed() -> None:
    folder = packaged_dir()
    size = sum(path.stat().st_size for path in folder.iterdir())
    assert size < 3_000_000
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert len((folder / "SOURCE_COMMIT").read_text().strip()) == 40


@pytest.mark.parametrize("name", PACKAGED)
def test_checkout_reads_like_the_packaged_copy(
    routellm_checkout: Path, name: PackagedBenchmark
) -> None:
    """RouteLLM's csvs (``--data``) and the packaged copy give the same benchmark. The csvs
    have multi-line quoted cells (MMLU's prompts, GSM8K's responses): read whole."""
    packaged = load_packaged(name)
    checkout = load_benchmark(routellm_checkout, name)
    assert checkout.source == routellm_checkout / "routellm" / "evals" / name
    assert checkout.prompts == packaged.prompts
    assert checkout.subjects == packaged.subjects
    assert np.array_equal(checkout.strong_scores, packaged.strong_scores)
    assert np.array_equal(checkout.weak_scores, packaged.weak_scores)
    assert (checkout.total_prompts, checkout.contaminated_dropped) == (
        packaged.total_prompts,
        packaged.contaminated_dropped,
    )


def test_pack_script_regenerates_the_packaged_copy(routellm_checkout: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "pack_routellm_data.py"),
            str(routellm_checkout),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for benchmark in PACKAGED:
        for name in packaged_files(benchmark):
            regenerated = gzip.decompress((tmp_path / name).read_bytes())
            assert regenerated == gzip.decompress((packaged_dir() / name).read_bytes()), name
    # no timestamp in the gzip header: the same input gives the same bytes
    first = (tmp_path / "gsm8k.jsonl.gz").read_bytes()
    assert first[4:8] == b"\0\0\0\0"


def test_random_router_apgr_is_one_half_and_oracle_far_above(mmlu: BenchmarkData) -> None:
    weak, strong = mmlu.weak_quality, mmlu.strong_quality
    random_curve = metrics.random_router_curve(mmlu.strong_scores, mmlu.weak_scores, range(10))
    random_scores = metrics.score(random_curve, weak, strong)
    assert random_scores.apgr == pytest.approx(0.5, abs=0.05)
    assert random_scores.cpt[0.5] == pytest.approx(0.5, abs=0.05)
    oracle_scores = metrics.score(
        metrics.oracle_curve(mmlu.strong_scores, mmlu.weak_scores), weak, strong
    )
    assert oracle_scores.apgr is not None and oracle_scores.apgr > 0.9
    assert oracle_scores.cpt[0.8] is not None and oracle_scores.cpt[0.8] < 0.2


def test_sample_is_reproducible(mmlu: BenchmarkData) -> None:
    one, two = mmlu.sample(300, seed=3), mmlu.sample(300, seed=3)
    assert len(one) == 300 and one.prompts == two.prompts
    assert one.prompts != mmlu.sample(300, seed=4).prompts
    assert set(one.prompts) <= set(mmlu.prompts)


@pytest.mark.parametrize("below", ["", "routellm", "routellm/evals", "routellm/evals/gsm8k"])
def test_locate_accepts_routellm_layouts(routellm_checkout: Path, below: str) -> None:
    expected = routellm_checkout / "routellm" / "evals" / "gsm8k"
    assert locate(routellm_checkout / below, "gsm8k") == expected


def test_locate_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match=r"no mt-bench data found .*question\.jsonl"):
        locate(tmp_path, "mt-bench")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_mt_bench_routes_on_turn_one_and_scores_both_turns(tmp_path: Path) -> None:
    folder = tmp_path / "mt_bench"
    folder.mkdir()
    questions = [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorter."]},
        {"question_id": 82, "category": "math", "turns": ["What is 2+2?", "And 3+3?"]},
        {"question_id": 83, "category": "coding", "turns": ["Sort a list.", "In C."]},
    ]
    _write_jsonl(folder / "question.jsonl", questions)
    scores = {  # (question, model) -> turn scores
        (81, STRONG_MODEL): (9, 7),
        (81, WEAK_MODEL): (6, 5),
        (82, STRONG_MODEL): (10, 10),
        (82, WEAK_MODEL): (10, 8),
        (83, STRONG_MODEL): (8, 8),
        (83, WEAK_MODEL): (2, 2),
    }
    judgements = [
        {"question_id": q, "model": m, "judge": ["gpt-4", "single-v1"], "score": s, "turn": t}
        for (q, m), pair in scores.items()
        for t, s in enumerate(pair, 1)
    ]
    judgements.append(  # another model's judgements are ignored
        {"question_id": 81, "model": "other", "judge": ["gpt-4", "x"], "score": 1, "turn": 1}
    )
    _write_jsonl(folder / "judgements.jsonl", judgements)
    # question 83 is contaminated through its second turn
    _write_jsonl(folder / "contaminated_prompts.jsonl", [{"eval_prompt": "In C."}])

    data = load_benchmark(tmp_path, "mt-bench")
    assert data.prompts == ["Write a poem.", "What is 2+2?"]
    assert data.strong_scores.tolist() == [8.0, 10.0]
    assert data.weak_scores.tolist() == [5.5, 9.0]
    assert data.contaminated_dropped == 1
    # the mean over all judged turns, as RouteLLM's mean over merged rows
    assert data.strong_quality == pytest.approx((9 + 7 + 10 + 10) / 4)
    assert data.weak_quality == pytest.approx((6 + 5 + 10 + 8) / 4)


def test_malformed_csv_value_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "gsm8k_responses.csv").write_text(
        f"prompt,{WEAK_MODEL},{STRONG_MODEL}\nq1,True,maybe\n", encoding="utf-8"
    )
    with pytest.raises(EvalDataError, match=r"row 1.*'maybe'"):
        load_benchmark(tmp_path, "gsm8k")


# --- download ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evals_server(routellm_checkout: Path) -> Iterator[str]:
    """RouteLLM's ``routellm/evals`` layout served over HTTP on 127.0.0.1."""
    evals = routellm_checkout / "routellm" / "evals"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(evals))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_fetches_routellm_layout_once(tmp_path: Path, evals_server: str) -> None:
    folder = download_mt_bench(tmp_path, base_url=evals_server)
    assert folder == tmp_path / "cache" / "eval-data" / "mt_bench"
    data = load_benchmark(folder, "mt-bench")
    assert len(data) == MT_BENCH_QUESTIONS - 1 and data.contaminated_dropped == 1
    # a second call reuses the files without any server
    assert download_mt_bench(tmp_path, base_url="http://127.0.0.1:9") == folder


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_failure_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match=r"could not download .*; pass --data DIR"):
        download_mt_bench(tmp_path, base_url=f"http://127.0.0.1:{_closed_port()}")
    assert not (tmp_path / "cache" / "eval-data" / "mt_bench").exists()


def test_download_http_error_leaves_nothing(tmp_path: Path, evals_server: str) -> None:
    # nothing is served under /elsewhere: the server answers 404
    with pytest.raises(EvalDataError, match="HTTP 404"):
        download_mt_bench(tmp_path, base_url=f"{evals_server}/elsewhere")
    leftovers = list((tmp_path / "cache" / "eval-data").iterdir())
    assert leftovers == []
