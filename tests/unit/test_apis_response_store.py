"""The Responses store: a real SQLite file, retention by count and age, continuing a
conversation after a restart, concurrent writers."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from localrouter.gateway.apis.response_store import ResponseStore, store_path


def _response(rid: str) -> dict[str, object]:
    return {"id": rid, "object": "response", "status": "completed", "output": []}


def _conversation(n: int) -> list[dict[str, object]]:
    return [{"role": "user", "content": f"turn {i} " + "x" * 500} for i in range(n)]


def test_put_get_delete_and_reopen(tmp_path: Path) -> None:
    path = store_path(tmp_path / "home")
    store = ResponseStore(path)
    store.put(_response("resp_1"), _conversation(3))
    got = store.get("resp_1")
    assert got is not None
    assert got.response == _response("resp_1")
    assert got.messages == _conversation(3)
    assert store.get("resp_missing") is None
    store.close()
    # A restarted gateway continues the conversation from the file.
    reopened = ResponseStore(path)
    assert reopened.get("resp_1") is not None
    assert reopened.delete("resp_1") is True
    assert reopened.delete("resp_1") is False
    assert reopened.get("resp_1") is None
    reopened.close()


def test_conversations_are_compressed(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3")
    for i in range(20):
        store.put(_response(f"resp_{i}"), _conversation(40))  # ~20 KB of JSON each
    store.close()
    assert (tmp_path / "r.sqlite3").stat().st_size + sum(
        p.stat().st_size for p in tmp_path.glob("r.sqlite3-*")
    ) < 20 * 20_000 / 2


def test_retention_by_count_keeps_the_newest(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3", max_count=3)
    now = time.time()
    for i in range(5):
        store.put(_response(f"resp_{i}"), [], now=now + i)
    assert store.count() == 3
    assert [store.get(f"resp_{i}") is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    store.close()


def test_retention_by_age(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3", max_age_days=1)
    now = time.time()
    store.put(_response("resp_old"), [], now=now - 2 * 86400)
    store.put(_response("resp_day"), [], now=now - 0.5 * 86400)
    assert store.get("resp_old") is None  # past retention, even before the next write
    assert store.get("resp_day") is not None
    store.put(_response("resp_new"), [], now=now)
    assert store.count() == 2  # the write dropped the old row
    assert store.get("resp_day", now=now + 86400) is None
    store.close()


def test_concurrent_writers_and_async_calls(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3")
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(25):
                store.put(_response(f"resp_{t}_{i}"), _conversation(1))
                assert store.get(f"resp_{t}_{i}") is not None
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 100

    async def main() -> None:
        await asyncio.gather(*(store.aput(_response(f"resp_a{i}"), []) for i in range(10)))
        got = await store.aget("resp_a3")
        assert got is not None and got.response["id"] == "resp_a3"
        assert await store.adelete("resp_a3") is True

    asyncio.run(main())
    assert store.count() == 109
    store.close()
