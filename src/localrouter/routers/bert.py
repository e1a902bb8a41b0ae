"""The RouteLLM BERT router behind the seam: anything that predicts with the BERT model (the
gateway's lazily loading :class:`~localrouter.routellm.service.RouterService`, or a
:class:`~localrouter.routellm.inference.engine.RouterEngine` the CLI loaded) as a
:class:`~localrouter.routers.base.Router` named ``bert``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from localrouter.routellm.prediction import Prediction


class Predictor(Protocol):
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


class BertRouter:
    name = "bert"

    def __init__(self, model: Predictor) -> None:
        self.model = model

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self.model.predict(texts)


class LoadOnFirstUse:
    """A predictor loaded by ``load`` on its first prediction, so naming another router
    never loads the BERT model (the CLI). Not for concurrent first use."""

    def __init__(self, load: Callable[[], Predictor]) -> None:
        self._load = load
        self.loaded: Predictor | None = None

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self.loaded is None:
            self.loaded = self._load()
        return self.loaded.predict(texts)
