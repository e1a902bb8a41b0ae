"""The classifier's micro-batcher, through its public surface: texts that arrive while a
prediction runs go together in the next one; failures reach every waiter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from localrouter.gateway.proxy.classifier import MicroBatcher
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction


def prediction(text: str) -> Prediction:
    return Prediction(win_rate=len(text) / 100, tokens=len(text), truncated=False, latency_ms=0.0)


class Model:
    """A predict function that records its batches; the first call can be held."""

    def __init__(self, result: Callable[[Sequence[str]], list[Prediction]] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._result = result or (lambda texts: [prediction(t) for t in texts])

    def __call__(self, texts: Sequence[str]) -> list[Prediction]:
        self.batches.append(list(texts))
        self.started.set()
        self.release.wait(10)
        return self._result(texts)


async def wait_started(model: Model) -> None:
    assert await asyncio.to_thread(model.started.wait, 10)


@pytest.mark.parametrize(
    ("max_batch", "sizes"), [(32, [1, 5]), (2, [1, 2, 2, 1]), (1, [1, 1, 1, 1, 1, 1])]
)
def test_texts_arriving_during_a_prediction_go_together(max_batch: int, sizes: list[int]) -> None:
    model = Model()
    model.release.clear()
    seen: list[int] = []

    async def run() -> list[Prediction]:
        batcher = MicroBatcher(model, max_batch=max_batch, on_batch=seen.append)
        try:
            first = asyncio.ensure_future(batcher.classify("t0"))
            await wait_started(model)  # the worker is busy with the first text
            rest = [asyncio.ensure_future(batcher.classify(f"t{i}" * i)) for i in range(1, 6)]
            await asyncio.sleep(0)  # let them queue
            model.release.set()
            return await asyncio.gather(first, *rest)
        finally:
            batcher.close()

    results = asyncio.run(run())
    assert seen == sizes
    assert [len(b) for b in model.batches] == sizes
    assert [r.tokens for r in results] == [2] + [len(f"t{i}" * i) for i in range(1, 6)]


def test_a_lone_text_goes_at_once() -> None:
    model = Model()

    async def run() -> Prediction:
        batcher = MicroBatcher(model)
        try:
            return await asyncio.wait_for(batcher.classify("hello"), 5)
        finally:
            batcher.close()

    assert asyncio.run(run()) == prediction("hello")
    assert model.batches == [["hello"]]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (ValueError("bad input"), "router prediction failed: ValueError: bad input"),
        (RouterUnavailable("no model installed"), "no model installed"),
        ([prediction("x")], "router returned a wrong number of predictions"),
    ],
)
def test_a_failed_batch_fails_every_waiter(result: object, message: str) -> None:
    def predict(texts: Sequence[str]) -> list[Prediction]:
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, list)
        return result

    model = Model(predict)
    model.release.clear()

    async def run() -> list[BaseException | Prediction]:
        batcher = MicroBatcher(model)
        try:
            first = asyncio.ensure_future(batcher.classify("a"))
            await wait_started(model)
            others = [asyncio.ensure_future(batcher.classify(t)) for t in ("b", "c")]
            await asyncio.sleep(0)
            model.release.set()
            return await asyncio.gather(first, *others, return_exceptions=True)
        finally:
            batcher.close()

    outcomes = asyncio.run(run())
    # One prediction back: right for the first batch ("a"), a wrong count for ("b", "c").
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert failed and all(isinstance(o, RouterUnavailable) for o in failed)
    assert {str(o) for o in failed} == {message}
    expected_failures = 2 if isinstance(result, list) else 3
    assert len(failed) == expected_failures


def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    model = Model()
    model.release.clear()

    async def run() -> list[Prediction]:
        batcher = MicroBatcher(model)
        try:
            first = asyncio.ensure_future(batcher.classify("a"))
            await wait_started(model)
            gone = asyncio.ensure_future(batcher.classify("bb"))
            kept = asyncio.ensure_future(batcher.classify("ccc"))
            await asyncio.sleep(0)
            gone.cancel()  # its client left while it waited
            model.release.set()
            results = list(await asyncio.gather(first, kept))
            assert gone.cancelled()
            results.append(await batcher.classify("dddd"))  # still serving
            return results
        finally:
            batcher.close()

    assert [r.tokens for r in asyncio.run(run())] == [1, 3, 4]
    assert model.batches == [["a"], ["bb", "ccc"], ["dddd"]]
