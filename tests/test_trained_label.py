"""`localrouter router label` end to end: fake strong and weak upstreams, a fake judge that
reads the answers, both orders asked, the cost shown first, nothing sent unconfirmed."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_localrouter
from tests.support.fake_upstream import FakeUpstream


class Judge:
    """An OpenAI-style judge on 127.0.0.1: prefers whichever answer came from ``big``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append(body)
                question = body["messages"][-1]["content"]
                verdict = "A" if "Answer A:\nreply from big" in question else "B"
                data = json.dumps(
                    {
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": verdict}}
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[FakeUpstream, Judge]]:
    judge = Judge()
    with FakeUpstream() as upstream:
        yield upstream, judge
    judge.close()


def _home(tmp_path: Path, upstream: FakeUpstream, judge: Judge) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text(
        "providers:\n"
        f"  - name: up\n    base_url: {upstream.base_url}\n"
        f"  - name: judge\n    base_url: {judge.url}\n"
        "routing:\n  strong: [up/big]\n  weak: [up/small]\n"
        "prices:\n  up/big: {input: 10, output: 30}\n  up/small: {input: 1, output: 2}\n"
        "  judge/j: {input: 5, output: 15}\n",
        encoding="utf-8",
    )
    return home


def _label(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, "router", "label", *args, stdin=stdin)


def test_label_asks_first_then_writes_battles(
    tmp_path: Path, servers: tuple[FakeUpstream, Judge]
) -> None:
    upstream, judge = servers
    home = _home(tmp_path, upstream, judge)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is 2+2?\nWrite a sonnet about routers.\nName a prime.\n")
    out = tmp_path / "battles.jsonl"
    args = ("--file", str(prompts), "--judge", "judge/j", "--out", str(out), "--max-tokens", "100")

    refused = _label(home, *args, stdin="n\n")
    assert refused.returncode == 1
    assert (
        "3 prompts: 12 calls" in refused.stdout and "estimated cost at most $0.0" in refused.stdout
    )
    assert refused.stderr.strip().endswith("Error: nothing was sent.")
    assert upstream.requests == [] and judge.requests == [] and not out.exists()

    done = _label(home, *args, stdin="y\n")
    assert done.returncode == 0, done.stderr
    battles = [json.loads(line) for line in out.read_text().splitlines()]
    assert battles == [
        {"prompt": p, "winner": "strong"}
        for p in ["What is 2+2?", "Write a sonnet about routers.", "Name a prime."]
    ]
    assert [r.model for r in upstream.requests] == ["big", "small"] * 3
    # Both orders: for each prompt the strong answer is A once and B once.
    firsts = [r["messages"][-1]["content"].split("Answer A:\n")[1][:15] for r in judge.requests]
    assert firsts == ["reply from big\n", "reply from smal"] * 3
    assert "strong 3, weak 0, tie 0" in done.stdout


def test_label_from_logs_needs_prompt_text(
    tmp_path: Path, servers: tuple[FakeUpstream, Judge]
) -> None:
    upstream, judge = servers
    home = _home(tmp_path, upstream, judge)
    result = _label(home, "--from-logs", "--judge", "judge/j", "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "access_log.include_prompts: true" in result.stderr
    assert upstream.requests == [] and judge.requests == []


def test_label_from_logged_prompts(tmp_path: Path, servers: tuple[FakeUpstream, Judge]) -> None:
    from datetime import UTC, datetime

    upstream, judge = servers
    home = _home(tmp_path, upstream, judge)
    logs = home / "logs"
    logs.mkdir()
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds")
    entries = [{"prompt": "logged one"}, {"status": "success"}, {"prompt": "logged one"}]
    entries.append({"prompt": "logged two"})
    entries = [{"timestamp": stamp, **e} for e in entries]
    day = now.date().isoformat()
    (logs / f"access-{day}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "battles.jsonl"
    result = _label(home, "--from-logs", "--judge", "judge/j", "--out", str(out), "--yes")
    assert result.returncode == 0, result.stderr
    assert "2 prompts: 8 calls" in result.stdout
    assert [json.loads(x)["prompt"] for x in out.read_text().splitlines()] == [
        "logged one",
        "logged two",
    ]
