"""The embedder interface: texts in, one float32 vector per text out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """float32 [len(texts), dim], in input order; ``progress(n)`` after n more texts."""
        ...
