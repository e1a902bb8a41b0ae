"""RouteLLM's benchmark files: loading, decontamination, published figures, baselines,
MT-Bench scoring and the download fallback (against a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localrouter.evaluation import metrics
from localrouter.evaluation.data import (
    STRONG_MODEL,
    WEAK_MODEL,
    BenchmarkData,
    EvalDataError,
    load_benchmark,
    locate,
)
from localrouter.evaluation.download import download_benchmark

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EVALS = SHARED / "data" / "routellm-evals"


@pytest.fixture(scope="module")
def mmlu() -> BenchmarkData:
    return load_benchmark(EVALS, "mmlu")


@pytest.fixture(scope="module")
def gsm8k() -> BenchmarkData:
    return load_benchmark(EVALS, "gsm8k")


def test_mmlu_reproduces_routellm_figures(mmlu: BenchmarkData) -> None:
    assert mmlu.total_prompts == 14042
    assert mmlu.contaminated_dropped == 5
    assert len(mmlu) == 14037
    # RouteLLM prints accuracies with two decimals: 68.09% / 80.59%
    assert f"{mmlu.weak_quality:.2f}" == "68.09"
    assert f"{mmlu.strong_quality:.2f}" == "80.59"


def test_gsm8k_reproduces_routellm_figures(gsm8k: BenchmarkData) -> None:
    assert gsm8k.total_prompts == 1319
    assert len(gsm8k) == 1319 - gsm8k.contaminated_dropped == 1307
    assert f"{gsm8k.weak_quality:.2f}" == "63.73"
    assert f"{gsm8k.strong_quality:.2f}" == "85.77"
    # multi-line quoted cells were read whole: every prompt is a GSM8K test question
    questions = {
        json.loads(line)["question"]
        for line in (EVALS / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    }
    assert set(gsm8k.prompts) <= questions


def test_contaminated_prompts_are_gone(mmlu: BenchmarkData) -> None:
    contaminated = {
        json.loads(line)["eval_prompt"]
        for line in (EVALS / "mmlu" / "contaminated_prompts.jsonl").read_text().splitlines()
        if line.strip()
    }
    assert contaminated and not contaminated & set(mmlu.prompts)


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


@pytest.mark.parametrize(
    "given",
    [SHARED, SHARED / "data", EVALS, EVALS / "gsm8k"],
    ids=["shared", "data", "routellm-evals", "benchmark-folder"],
)
def test_locate_accepts_shared_style_layouts(given: Path) -> None:
    assert locate(given, "gsm8k") == EVALS / "gsm8k"


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
def evals_server() -> Iterator[str]:
    """RouteLLM's ``routellm/evals`` layout served over HTTP on 127.0.0.1."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(EVALS))
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
    folder = download_benchmark(tmp_path, "gsm8k", base_url=evals_server)
    assert folder == tmp_path / "cache" / "eval-data" / "gsm8k"
    data = load_benchmark(folder, "gsm8k")
    assert len(data) == 1307 and f"{data.weak_quality:.2f}" == "63.73"
    # a second call reuses the files without any server
    assert download_benchmark(tmp_path, "gsm8k", base_url="http://127.0.0.1:9") == folder


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_failure_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match=r"could not download .*; pass --data DIR"):
        download_benchmark(tmp_path, "mmlu", base_url=f"http://127.0.0.1:{_closed_port()}")
    assert not (tmp_path / "cache" / "eval-data" / "mmlu").exists()


def test_download_http_error_leaves_nothing(tmp_path: Path, evals_server: str) -> None:
    # the shared copy has no mt_bench folder: the server answers 404
    with pytest.raises(EvalDataError, match="HTTP 404"):
        download_benchmark(tmp_path, "mt-bench", base_url=evals_server)
    leftovers = list((tmp_path / "cache" / "eval-data").iterdir())
    assert leftovers == []
