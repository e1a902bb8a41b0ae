"""Embeddings cached by text hash in one SQLite file per home (``HOME/embedders/cache.db``).

Training embeds every prompt once; training again (other method, other k, a subset of the
same data) and batch predictions on seen prompts read the vectors back. A remote embedder
(``provider/model``) always writes: each miss is a paid call.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from localrouter.routers.trained.embedders.base import Embedder

_CHUNK = 500  # keys per SELECT (SQLite's variable limit is 32766; small is plenty)


class CachedEmbedder:
    def __init__(self, inner: Embedder, identity: str, db_path: Path, write: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.identity = identity
        self.write = write
        self._db_path = db_path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db_path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._db_path, check_same_thread=False, timeout=30)
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB)")
            self._db = db
        return self._db

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.identity}\0{text}".encode()).digest()

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            db = self._conn()
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, blob in db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if progress is not None and len(texts) - len(missing):
            progress(len(texts) - len(missing))
        if missing:
            computed = self.inner.embed([texts[i] for i in missing], progress)
            vectors = np.asarray(computed, dtype=np.float32)
            rows = [(keys[i], vectors[n].tobytes()) for n, i in enumerate(missing)]
            for n, i in enumerate(missing):
                found[keys[i]] = vectors[n]
            if self.write:
                with self._lock:
                    db = self._conn()
                    db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
                    db.commit()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys])
