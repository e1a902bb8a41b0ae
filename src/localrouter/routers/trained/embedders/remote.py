"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` upstream (``provider/model``).

Wrapped in the text-hash cache (cache.py) by the factory, so a prompt is paid for once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx
import numpy as np

from localrouter.routellm.errors import RouterUnavailable
from localrouter.settings import ProviderSettings

_BATCH = 64


class RemoteEmbedder:
    def __init__(self, name: str, provider: ProviderSettings, model: str) -> None:
        self.name = name
        self.provider = provider
        self.model = model

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        vectors: list[np.ndarray] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start : start + _BATCH])
            vectors += self._fetch(batch)
            if progress is not None:
                progress(len(batch))
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(vectors).astype(np.float32)

    def _fetch(self, texts: list[str]) -> list[np.ndarray]:
        headers = dict(self.provider.headers)
        key = self.provider.resolve_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.provider.base_url}/embeddings"
        timeout = httpx.Timeout(
            self.provider.timeout_secs, connect=self.provider.connect_timeout_secs
        )
        where = f"embeddings upstream {self.provider.name}/{self.model}"
        try:
            response = httpx.post(
                url, json={"model": self.model, "input": texts}, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise RouterUnavailable(
                f"{where} could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise RouterUnavailable(f"{where} answered HTTP {response.status_code}")
        try:
            items = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = [np.asarray(d["embedding"], dtype=np.float32) for d in items]
        except (ValueError, KeyError, TypeError):
            raise RouterUnavailable(f"{where} answered without embeddings") from None
        if len(vectors) != len(texts):
            raise RouterUnavailable(
                f"{where} returned {len(vectors)} embeddings for {len(texts)} texts"
            )
        return vectors
