"""Load (bounded, loopback only): 2,000 requests at concurrency 50 through the gateway to a
local upstream, zero errors, every request in the access log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.support.fake_upstream import SpawnedUpstream
from tests.support.gateway import GatewayProcess

TOTAL = 2000
CONCURRENCY = 50


async def _drive(url: str) -> tuple[list[int], list[str], float]:
    statuses: list[int] = []
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(TOTAL):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                answer = await client.post(
                    url,
                    json={
                        "model": "up/load" if index % 2 else "auto",
                        "messages": [{"role": "user", "content": f"request {index}"}],
                        "stream": index % 10 == 0,
                    },
                )
                await answer.aread()
                statuses.append(answer.status_code)
                ids.append(answer.headers.get("x-request-id", ""))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return statuses, ids, time.perf_counter() - started


def test_load_2000_requests_at_concurrency_50(tmp_path: Path) -> None:
    with SpawnedUpstream() as upstream_url:
        settings = {
            "providers": [{"name": "up", "base_url": upstream_url}],
            "routing": {"strong": ["up/strong"], "weak": ["up/weak"]},
        }
        gw = GatewayProcess(tmp_path / "home", settings).start()
        try:
            statuses, ids, elapsed = asyncio.run(_drive(gw.v1_url + "/chat/completions"))
        finally:
            gw.stop()
    assert len(statuses) == TOTAL
    assert statuses.count(200) == TOTAL, {s: statuses.count(s) for s in set(statuses)}
    entries = gw.log_entries()
    assert len(entries) == TOTAL
    assert {e["request_id"] for e in entries} == set(ids)
    assert all(e["status"] == "success" for e in entries)
    print(f"\n{TOTAL} requests at concurrency {CONCURRENCY}: {TOTAL / elapsed:.0f} req/s")
