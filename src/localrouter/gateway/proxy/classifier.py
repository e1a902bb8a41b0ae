"""Classification off the event loop, micro-batched.

Requests arriving together share one ``service.predict`` call. A text goes to the worker
thread at once when the worker is free; while a batch runs, new texts collect and go
together (up to ``max_batch``) as soon as it is free again, so under load batches grow by
themselves instead of queueing one by one, and at low load nothing waits (no window holds
a lone text for company: int8 runs one prompt per model call, so it would only add
latency). The event loop never runs the model, so one slow prediction (or the first lazy
load) never blocks other requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction

Predict = Callable[[Sequence[str]], list[Prediction]]


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 32,
        workers: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self._max_batch = max_batch
        self._workers = workers
        self._on_batch = on_batch
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lr-classify")
        self._pending: list[tuple[str, asyncio.Future[Prediction]]] = []
        self._running = 0
        self.batches = 0  # how many predict calls were made (for tests and metrics)

    async def classify(self, text: str) -> Prediction:
        """The prediction for ``text``; raises RouterUnavailable when there is no usable model."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append((text, future))
        self._flush()
        return await future

    def _flush(self) -> None:
        # Busy workers: keep collecting; _done() sends what accumulated.
        while self._pending and self._running < self._workers:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._running += 1
            loop = asyncio.get_running_loop()
            task = loop.run_in_executor(self._executor, self._predict, [t for t, _ in batch])
            task.add_done_callback(functools.partial(self._done, batch=batch))
            self.batches += 1
            if self._on_batch is not None:
                self._on_batch(len(batch))

    def _done(
        self,
        done: asyncio.Future[list[Prediction]],
        batch: list[tuple[str, asyncio.Future[Prediction]]],
    ) -> None:
        self._running -= 1
        error: BaseException | None = None
        results: list[Prediction] = []
        if done.cancelled():
            error = RouterUnavailable("router prediction was cancelled")
        elif done.exception() is not None:
            exc = done.exception()
            error = (
                exc
                if isinstance(exc, RouterUnavailable)
                else RouterUnavailable(f"router prediction failed: {type(exc).__name__}: {exc}")
            )
        else:
            results = done.result()
            if len(results) != len(batch):
                error = RouterUnavailable("router returned a wrong number of predictions")
        for index, (_, future) in enumerate(batch):
            if future.done():  # the request went away meanwhile
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(results[index])
        if self._pending:
            self._flush()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
