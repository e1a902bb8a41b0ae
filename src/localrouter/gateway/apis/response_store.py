"""Stored Responses: ``previous_response_id`` and ``GET /v1/responses/{id}``.

One SQLite file in HOME (stdlib ``sqlite3``). Each row holds the ``Response`` object and the
conversation up to and including it in chat format (without instructions, which OpenAI does
not carry over either), so continuing a conversation is one read, and retention can drop old
rows without breaking newer conversations. Conversations are zlib-compressed JSON (text
compresses about 5x). Retention: at most ``max_count`` rows and none older than
``max_age_days``, enforced on every write.

Thread-safe (one connection behind a lock). Calls are short (one indexed row); the ``a*``
methods run them in a worker thread (``asyncio.to_thread``) so the event loop never waits
on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localrouter.gateway.apis.common import Json

FILE_NAME = "responses.sqlite3"
DEFAULT_MAX_COUNT = 10_000
DEFAULT_MAX_AGE_DAYS = 30.0  # OpenAI keeps stored responses 30 days

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    response TEXT NOT NULL,
    messages BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created_at ON responses (created_at);
"""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: Json
    messages: list[Json]  # the conversation, chat format, including this response's output


def store_path(home: Path) -> Path:
    return home / FILE_NAME


class ResponseStore:
    def __init__(
        self,
        path: Path,
        *,
        max_count: int = DEFAULT_MAX_COUNT,
        max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    ) -> None:
        self.path = path
        self.max_count = max_count
        self.max_age_days = max_age_days
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def put(self, response: Json, messages: list[Json], *, now: float | None = None) -> None:
        """Store (or replace) a response and its conversation, then apply retention."""
        created = time.time() if now is None else now
        blob = zlib.compress(json.dumps(messages, ensure_ascii=False).encode())
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (id, created_at, response, messages) "
                    "VALUES (?, ?, ?, ?)",
                    (str(response["id"]), created, json.dumps(response, ensure_ascii=False), blob),
                )
                self._prune(created)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, response_id: str, *, now: float | None = None) -> StoredResponse | None:
        """The stored response, or None (never stored, deleted, or past retention)."""
        oldest = (time.time() if now is None else now) - self.max_age_days * 86400
        with self._lock:
            row = self._db.execute(
                "SELECT response, messages FROM responses WHERE id = ? AND created_at >= ?",
                (response_id, oldest),
            ).fetchone()
        if row is None:
            return None
        messages: Any = json.loads(zlib.decompress(row[1]))
        return StoredResponse(json.loads(row[0]), messages)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM responses WHERE id = ?", (response_id,))
        return cursor.rowcount > 0

    def count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _prune(self, now: float) -> None:
        self._db.execute(
            "DELETE FROM responses WHERE created_at < ?", (now - self.max_age_days * 86400,)
        )
        self._db.execute(
            "DELETE FROM responses WHERE id NOT IN "
            "(SELECT id FROM responses ORDER BY created_at DESC, rowid DESC LIMIT ?)",
            (self.max_count,),
        )

    async def aput(self, response: Json, messages: list[Json]) -> None:
        await asyncio.to_thread(self.put, response, messages)

    async def aget(self, response_id: str) -> StoredResponse | None:
        return await asyncio.to_thread(self.get, response_id)

    async def adelete(self, response_id: str) -> bool:
        return await asyncio.to_thread(self.delete, response_id)
