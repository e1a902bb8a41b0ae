"""How much of the access log a SIGKILL can lose: the time from ``AccessLog.write`` (the
request is answered) to the entry's bytes being handed to the kernel (``os.write`` returned;
from then on only a machine crash loses it). ``python bench/access_log_window.py``.

Three loads: 1,000 entries/s from one thread; 3,000/s from 8 threads (above the gateway's
measured peak of about 2,600 req/s, bench/RESULTS.md); and a flood (8 threads writing
20,000 entries as fast as they can, far more than the gateway answers). Not a test.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `localrouter` importable from src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from localrouter.gateway.access_log import AccessLog, AccessRecord
from localrouter.settings import AccessLogSettings

_ID = re.compile(rb'"request_id": "(r\d+)"')


LOADS = {  # name: (threads, entries, pause between one thread's entries in seconds)
    "1,000/s": (1, 3000, 0.001),
    "3,000/s": (8, 9000, 8 / 3000),
    "flood": (8, 20_000, 0.0),
}


def run(threads_count: int, entries: int, gap: float) -> list[float]:
    """Milliseconds from write() to os.write() returning, per entry."""
    sent: dict[str, float] = {}
    delays: list[float] = []

    def timed_write(fd: int, data: bytes) -> int:
        written = os.write(fd, data)
        now = time.perf_counter()
        delays.extend((now - sent[m.group(1).decode()]) * 1000 for m in _ID.finditer(data))
        return written

    with tempfile.TemporaryDirectory() as folder:
        log = AccessLog(Path(folder), AccessLogSettings(), os_write=timed_write)
        log.start()

        def send(ids: range, gap: float) -> None:
            for index in ids:
                name = f"r{index}"
                sent[name] = time.perf_counter()
                log.write(AccessRecord(request_id=name, status="success", status_code=200))
                if gap:
                    time.sleep(gap)

        threads = [
            threading.Thread(target=send, args=(range(i, entries, threads_count), gap))
            for i in range(threads_count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log.close()
    return delays


def main() -> None:
    for load, (threads, entries, gap) in LOADS.items():
        delays = sorted(run(threads, entries, gap))
        p99 = delays[int(len(delays) * 0.99)]
        print(
            f"{load:7s} {len(delays):6d} entries: median {statistics.median(delays):.3f} ms, "
            f"p99 {p99:.3f} ms, max {delays[-1]:.3f} ms"
        )


if __name__ == "__main__":
    main()
