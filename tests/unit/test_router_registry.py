"""The router seam (routers/): the registry by name, the built-in routers, the decision rule."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction
from localrouter.routers.base import Router, UnknownRouter, route
from localrouter.routers.bert import BertRouter, LoadOnFirstUse
from localrouter.routers.random import RandomRouter
from localrouter.routers.registry import RouterRegistry, no_trained_routers


class ConstantModel:
    """A stand-in BERT model: the same win rate for every text."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [Prediction(self.rate, len(t), False, 0.0) for t in texts]


class TrainedStub:
    def __init__(self, name: str) -> None:
        self.name = name

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [Prediction(0.5, 0, False, 0.0) for _ in texts]


@pytest.mark.parametrize(
    ("win_rate", "threshold", "tier"),
    [(0.3, 0.3, "strong"), (0.29, 0.3, "weak"), (0.0, 0.0, "strong"), (0.99, 1.0, "weak")],
)
def test_route_is_routellms_rule(win_rate: float, threshold: float, tier: str) -> None:
    assert route(win_rate, threshold) == tier


def test_built_in_routers() -> None:
    registry = RouterRegistry(ConstantModel(0.8))
    bert = registry.get("bert")
    assert isinstance(bert, BertRouter) and isinstance(bert, Router)
    assert bert.name == "bert"
    assert [p.win_rate for p in bert.predict(["a", "bb"])] == [0.8, 0.8]
    random = registry.get("random")
    assert isinstance(random, RandomRouter) and random.name == "random"
    texts = [f"prompt {i}" for i in range(200)]
    rates = [p.win_rate for p in random.predict(texts)]
    assert rates == [p.win_rate for p in random.predict(texts)]  # the same text, the same rate
    assert all(0.0 <= r < 1.0 for r in rates)
    assert 0.35 < sum(rates) / len(rates) < 0.65
    assert registry.get("bert") is bert  # kept, not rebuilt


@pytest.mark.parametrize("name", ["nope", "my_router", "with space", "dash-ed", "", "../x"])
def test_unknown_names_without_trained_routers(name: str) -> None:
    registry = RouterRegistry(ConstantModel(0.5))
    with pytest.raises(UnknownRouter) as caught:
        registry.get(name)
    assert isinstance(caught.value, RouterUnavailable)  # callers that fall back still do
    assert repr(name) in str(caught.value)


def test_default_hook_knows_no_trained_router() -> None:
    with pytest.raises(UnknownRouter, match="no router named 'mine'"):
        no_trained_routers("mine")


def test_trained_routers_load_once_through_the_hook_until_forgotten() -> None:
    loads: list[str] = []

    def load(name: str) -> Router:
        loads.append(name)
        if name != "mine":
            raise UnknownRouter(f"no router named {name!r}")
        return TrainedStub(name)

    registry = RouterRegistry(ConstantModel(0.5), load)
    mine = registry.get("mine")
    assert mine.name == "mine" and registry.get("mine") is mine
    assert registry.cached("mine") is mine
    with pytest.raises(UnknownRouter):
        registry.get("other")
    with pytest.raises(UnknownRouter):
        registry.get("bad name")  # refused before the hook sees it
    assert loads == ["mine", "other"]
    registry.forget("mine")
    assert registry.cached("mine") is None
    assert registry.get("mine") is not mine
    registry.forget("bert")  # built-ins stay
    assert registry.cached("bert") is not None
    assert loads == ["mine", "other", "mine"]


def test_load_on_first_use_loads_only_when_predicting() -> None:
    loaded: list[ConstantModel] = []

    def load() -> ConstantModel:
        loaded.append(ConstantModel(0.25))
        return loaded[-1]

    lazy = LoadOnFirstUse(load)
    registry = RouterRegistry(lazy)
    registry.get("random").predict(["x"])
    registry.get("bert")
    assert loaded == [] and lazy.loaded is None
    assert [p.win_rate for p in registry.get("bert").predict(["x", "y"])] == [0.25, 0.25]
    registry.get("bert").predict(["z"])
    assert len(loaded) == 1 and lazy.loaded is loaded[0]


def test_a_trained_router_is_loaded_again_when_its_stamp_changes() -> None:
    """Another process retrained or deleted it: the stamp of its files differs from the one
    taken at load time, so the next lookup loads it again (or finds it gone)."""
    stamps = {"mine": 1}
    loads: list[str] = []

    def load(name: str) -> Router:
        if name not in stamps:
            return no_trained_routers(name)
        loads.append(name)
        return TrainedStub(name)

    registry = RouterRegistry(ConstantModel(0.5), load, lambda name: stamps.get(name))
    first = registry.get("mine")
    assert registry.get("mine") is first and not registry.changed("mine")
    stamps["mine"] = 2  # retrained
    assert registry.changed("mine") and not registry.changed("bert")
    second = registry.get("mine")
    assert second is not first and loads == ["mine", "mine"]
    del stamps["mine"]  # deleted
    with pytest.raises(UnknownRouter):
        registry.get("mine")
    assert registry.cached("mine") is None
