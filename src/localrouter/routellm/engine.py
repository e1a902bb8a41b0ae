"""ONNX Runtime inference for the router (skeleton: the engine issue fills this in).

Contract used by the rest of the product:

    engine = RouterEngine.load(model_dir, precision="int8", threads=0)
    engine.predict(["prompt", ...]) -> list[Prediction]   # thread-safe, input order
    engine.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from localrouter.routellm.prediction import Prediction

Precision = Literal["fp32", "int8"]


class RouterEngine:
    @classmethod
    def load(cls, model_dir: Path, precision: Precision = "int8", threads: int = 0) -> RouterEngine:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
