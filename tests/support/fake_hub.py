"""A real HTTP server on 127.0.0.1 that speaks the part of the Hugging Face Hub protocol
huggingface_hub uses to download a model, with faults on demand.

Routes (as on huggingface.co):

- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: ``id``, ``sha``,
  ``siblings`` (with ``size``, ``blobId`` and ``lfs`` when ``?blobs=true``), ``gated``.
- ``HEAD|GET /{repo}/resolve/{rev}/{file}``: ``X-Repo-Commit``, ``ETag`` (git blob sha1, or
  sha256 for LFS files), ``X-Linked-Etag`` / ``X-Linked-Size`` for LFS files, which are
  redirected (302) to ``/cdn/{sha256}`` like the hub's CDN; ``Range: bytes=N-`` -> 206.
- Errors carry ``X-Error-Code`` (RepoNotFound 401, RevisionNotFound / EntryNotFound 404,
  GatedRepo 401 without a token / 403 with the wrong one).

Faults (attributes, set by a test at any time): ``missing`` (404 for listed files),
``corrupt`` (one byte flipped in the body, metadata untouched), ``drop_once`` (close the
connection after N bytes of a file, once), ``die_at`` (after N bytes of a file, stop
serving: the connection is cut and every later request is refused), ``hang_at`` (after N
bytes, hold the connection open without sending until ``release`` is set; ``stalled(name)``
says the hang began), ``throttle_bps`` (bytes per second per response).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_NAMES = frozenset({"model.safetensors", "sentencepiece.bpe.model", "tokenizer.json"})


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The small text file git stores in place of an LFS file."""
    sha = hashlib.sha256(data).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha}\nsize {len(data)}\n".encode()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str = field(default_factory=lambda: secrets.token_hex(20))
    branches: dict[str, str] = field(default_factory=dict)
    gated_token: str | None = None  # requests must carry "Bearer <token>"
    lfs: frozenset[str] = LFS_NAMES

    def __post_init__(self) -> None:
        self.branches.setdefault("main", self.commit)
        self.sha256 = {n: hashlib.sha256(b).hexdigest() for n, b in self.files.items()}

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision == self.commit else None


class FakeHub:
    """``with FakeHub() as hub: hub.add_repo("org/name", folder); hub.url``"""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.missing: set[str] = set()
        self.corrupt: set[str] = set()
        self.drop_once: dict[str, int] = {}
        self.die_at: dict[str, int] = {}
        self.hang_at: dict[str, int] = {}
        self.release = threading.Event()
        self._stalled: set[str] = set()  # files whose hang_at began
        self.throttle_bps: float | None = None
        self.down = False
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range
        self.bytes_served: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-hub"
        )

    # lifecycle --------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.down = True
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.down:
            self.stop()

    # content ----------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        folder: Path | None = None,
        *,
        files: dict[str, bytes] | None = None,
        only: tuple[str, ...] | None = None,
        gated_token: str | None = None,
        commit: str | None = None,
    ) -> FakeRepo:
        content = dict(files or {})
        if folder is not None:
            for path in sorted(Path(folder).iterdir()):
                if path.is_file() and (only is None or path.name in only):
                    content[path.name] = path.read_bytes()
        repo = FakeRepo(repo_id, content, gated_token=gated_token)
        if commit:
            repo.commit = commit
            repo.branches["main"] = commit
        self.repos[repo_id] = repo
        return repo

    def served(self, name: str) -> int:
        with self._lock:
            return self.bytes_served[name]

    def stalled(self, name: str) -> bool:
        """Whether a response for ``name`` reached its ``hang_at`` offset and went silent."""
        with self._lock:
            return name in self._stalled

    def count(self, method: str, name: str) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.requests if m == method and p.endswith("/" + name))

    def _record(self, method: str, path: str, rng: str | None) -> None:
        with self._lock:
            self.requests.append((method, path, rng))

    def _add_served(self, name: str, n: int) -> None:
        with self._lock:
            self.bytes_served[name] += n


_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/(.+))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_CDN = re.compile(r"^/cdn/([^/]+)/([0-9a-f]{64})/(.+)$")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # plumbing -----------------------------------------------------------------
        def _refuse_if_down(self) -> bool:
            if hub.down:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return True
            return False

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            head: bool = False,
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _error(
            self,
            status: int,
            code: str,
            message: str,
            head: bool,
            extra: dict[str, str] | None = None,
        ) -> None:
            body = json.dumps({"error": message}).encode()
            headers = {
                "X-Error-Code": code,
                "X-Error-Message": message,
                "Content-Type": "application/json",
                **(extra or {}),
            }
            self._send(status, body, headers, head)

        def _authorized(self, repo: FakeRepo, head: bool) -> bool:
            if repo.gated_token is None:
                return True
            auth = self.headers.get("Authorization", "")
            if auth == f"Bearer {repo.gated_token}":
                return True
            status = 403 if auth else 401
            self._error(status, "GatedRepo", f"Access to model {repo.repo_id} is restricted.", head)
            return False

        # routes -------------------------------------------------------------------
        def do_GET(self) -> None:
            self._guarded(head=False)

        def do_HEAD(self) -> None:
            self._guarded(head=True)

        def _guarded(self, head: bool) -> None:
            try:
                self._route(head)
            except (BrokenPipeError, ConnectionResetError):  # the client went away
                self.close_connection = True

        def _route(self, head: bool) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            hub._record("HEAD" if head else "GET", path, self.headers.get("Range"))
            if self._refuse_if_down():
                return
            if m := _API.match(path):
                return self._api(m.group(1), m.group(2) or "main", parse_qs(parts.query), head)
            if m := _RESOLVE.match(path):
                return self._resolve(m.group(1), m.group(2), m.group(3), head)
            if m := _CDN.match(path):
                return self._cdn(m.group(1), m.group(2), m.group(3), head)
            self._error(404, "NotFound", "no such route", head)

        def _lookup(self, repo_id: str, revision: str, head: bool) -> tuple[FakeRepo, str] | None:
            """The repo and the commit ``revision`` names, or None after answering the hub's
            error for an unknown repo (401, as the real hub says to anonymous callers) or
            revision (404)."""
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(401, "RepoNotFound", "Repository not found", head)
                return None
            commit = repo.resolve(revision)
            if commit is None:
                self._error(404, "RevisionNotFound", "Invalid rev id", head)
                return None
            return repo, commit

        def _api(
            self, repo_id: str, revision: str, query: dict[str, list[str]], head: bool
        ) -> None:
            found = self._lookup(repo_id, revision, head)
            if found is None:
                return None
            repo, commit = found
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for name, data in sorted(repo.files.items()):
                entry: dict[str, Any] = {"rfilename": name}
                if blobs:
                    if name in repo.lfs:
                        pointer = lfs_pointer(data)
                        entry.update(
                            size=len(data),
                            blobId=git_blob_sha1(pointer),
                            lfs={
                                "size": len(data),
                                "sha256": repo.sha256[name],
                                "pointerSize": len(pointer),
                            },
                        )
                    else:
                        entry.update(size=len(data), blobId=git_blob_sha1(data))
                siblings.append(entry)
            body = json.dumps(
                {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": commit,
                    "private": False,
                    "gated": "manual" if repo.gated_token else False,
                    "siblings": siblings,
                }
            ).encode()
            self._send(200, body, {"Content-Type": "application/json"}, head)

        def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
            found = self._lookup(repo_id, revision, head)
            if found is None:
                return None
            repo, commit = found
            if not self._authorized(repo, head):
                return
            if name not in repo.files or name in hub.missing:
                return self._error(
                    404, "EntryNotFound", f"{name} does not exist", head, {"X-Repo-Commit": commit}
                )
            data = repo.files[name]
            if name in repo.lfs:
                sha = repo.sha256[name]
                self._send(
                    302,
                    b"",
                    {
                        "Location": f"{hub.url}/cdn/{repo_id.replace('/', '--')}/{sha}/{name}",
                        "X-Repo-Commit": commit,
                        "ETag": f'"{git_blob_sha1(lfs_pointer(data))}"',
                        "X-Linked-Etag": f'"{sha}"',
                        "X-Linked-Size": str(len(data)),
                    },
                    head,
                )
                return
            headers = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(data)}"'}
            self._body(name, data, headers, head)

        def _cdn(self, repo_key: str, sha: str, name: str, head: bool) -> None:
            repo = hub.repos.get(repo_key.replace("--", "/", 1))
            if repo is None or repo.sha256.get(name) != sha:
                return self._error(404, "NotFound", "no such object", head)
            self._body(name, repo.files[name], {"ETag": f'"{sha}"'}, head)

        def _body(self, name: str, data: bytes, headers: dict[str, str], head: bool) -> None:
            if name in hub.corrupt and data:
                data = (
                    bytes([data[0] ^ 0xFF]) + data[1:]
                    if len(data) < 2
                    else (
                        data[: len(data) // 2]
                        + bytes([data[len(data) // 2] ^ 0x01])
                        + data[len(data) // 2 + 1 :]
                    )
                )
            start = 0
            rng = self.headers.get("Range")
            status = 200
            headers = {**headers, "Accept-Ranges": "bytes"}
            if rng and (m := re.match(r"bytes=(\d+)-$", rng)):
                start = int(m.group(1))
                if start >= len(data):
                    return self._error(416, "RangeNotSatisfiable", "bad range", head)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            self._stream(name, body, start)

        def _stream(self, name: str, body: bytes, start: int) -> None:
            step = 16 * 1024
            pos = 0
            began = time.monotonic()
            while pos < len(body):
                absolute = start + pos
                cut = len(body)
                for faults in (hub.drop_once, hub.die_at, hub.hang_at):
                    if name in faults and faults[name] >= absolute:
                        cut = min(cut, faults[name] - start)
                end = min(pos + step, len(body), max(cut, pos))
                if end > pos:
                    self.wfile.write(body[pos:end])
                    self.wfile.flush()
                    hub._add_served(name, end - pos)
                    pos = end
                    if hub.throttle_bps:
                        wait = began + pos / hub.throttle_bps - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)  # server-side pacing, not test synchronisation
                    continue
                # a fault is due at this offset
                absolute = start + pos
                if hub.hang_at.get(name) == absolute:
                    del hub.hang_at[name]
                    with hub._lock:
                        hub._stalled.add(name)
                    hub.release.wait()
                    if hub.down:
                        return self._cut()
                    continue
                if hub.drop_once.get(name) == absolute:
                    del hub.drop_once[name]
                    return self._cut()
                if hub.die_at.get(name) == absolute:
                    hub.down = True
                    return self._cut()
                break

        def _cut(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


def hf_environment(url: str, hf_home: Path) -> dict[str, str]:
    """Environment for a process talking to a fake hub: its endpoint, an empty HF home (no
    stored token), no token, online."""
    return {"HF_ENDPOINT": url, "HF_HOME": str(hf_home), "HF_HUB_DISABLE_TELEMETRY": "1"}


HF_VARIABLES_TO_CLEAR = (
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_DOWNLOAD_TIMEOUT",
    "LOCALROUTER_FAKE_FREE_BYTES",
)


@contextlib.contextmanager
def fake_hub_env(monkeypatch: Any, hf_home: Path) -> Iterator[FakeHub]:
    """A started FakeHub with this process's HF_* environment pointing at it (pytest's
    ``monkeypatch`` restores the environment afterwards)."""
    with FakeHub() as hub:
        for name in HF_VARIABLES_TO_CLEAR:
            monkeypatch.delenv(name, raising=False)
        for key, value in hf_environment(hub.url, hf_home).items():
            monkeypatch.setenv(key, value)
        yield hub
