"""Fetch the router checkpoint from the Hugging Face Hub with real byte progress.

huggingface_hub does the talking to the hub: the repo listing with sizes and LFS hashes
(``HfApi.model_info(files_metadata=True)``), a HEAD per file (``get_hf_file_metadata``:
commit, ETag / X-Linked-Etag, X-Linked-Size) and its shared HTTP session, headers and
error types for the bytes. The byte loop is ours, not ``hf_hub_download``'s, because the
product needs what that function does not give: progress finer than its 10 MB chunks,
cancellation that is seen within a fraction of a second even while the server is silent
mid-file, and resuming a ``.part`` file left by an earlier process.

Environment (read at call time, not at import): ``HF_ENDPOINT``, ``HF_TOKEN`` (through
huggingface_hub's token lookup), ``HF_HUB_OFFLINE``, ``HF_HUB_DOWNLOAD_TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrouter.fileio import hash_file, sha256_file
from localrouter.routellm.errors import DownloadError

REQUIRED_FILES = ("config.json", "model.safetensors")
# The tokenizer can be built from either file; at least one must exist.
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model")
OPTIONAL_FILES = ("tokenizer_config.json", "special_tokens_map.json")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
# How soon a cancel watcher notices that its response is over and exits.
_CANCEL_CHECK_SECS = 0.2


class DownloadCancelled(DownloadError):
    """The user cancelled the download; nothing was installed."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_mode() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), read now rather than at import."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(
        os.environ.get("TRANSFORMERS_OFFLINE")
    )


@dataclass(frozen=True)
class HubConfig:
    """Where the hub is and how to talk to it."""

    endpoint: str
    token: str | None = None  # None: huggingface_hub's lookup (HF_TOKEN, then the stored login)
    offline: bool = False
    timeout: float = 10.0  # seconds without a byte before a read is retried
    retries: int = 5  # failed attempts in a row (no new byte) before a file download fails

    @classmethod
    def from_env(cls, endpoint: str | None = None, token: str | None = None) -> HubConfig:
        from huggingface_hub import constants

        endpoint = endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
        try:
            timeout = float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or 10)
        except ValueError:
            timeout = 10.0
        return cls(
            endpoint=endpoint.rstrip("/"),
            token=token or None,
            offline=offline_mode(),
            timeout=max(timeout, 0.1),
        )


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    url: str
    sha256: str | None = None  # LFS files: the hub's X-Linked-Etag / lfs.sha256
    git_sha1: str | None = None  # files kept in git: the blob id


@dataclass(frozen=True)
class RemoteCheckpoint:
    repo_id: str
    revision: str
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> RemoteFile | None:
        return next((f for f in self.files if f.name == name), None)


# --------------------------------------------------------------------------- errors


def explain(exc: BaseException, repo_id: str, revision: str, filename: str | None = None) -> str:
    """One sentence a user can act on, for anything huggingface_hub or the network raised."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id} at revision {revision!r}"
    what = f" while fetching {filename}" if filename else ""
    has_token = bool(os.environ.get("HF_TOKEN"))
    if isinstance(exc, GatedRepoError):
        if has_token:
            return (
                f"{repo_id} is a gated repository and the token in HF_TOKEN has no access to it; "
                "accept its terms on the hub with that account"
            )
        return (
            f"{repo_id} is a gated repository: accept its terms on the hub and set HF_TOKEN "
            "to a token with access"
        )
    if isinstance(exc, RepositoryNotFoundError):
        hint = "check the token in HF_TOKEN" if has_token else "set HF_TOKEN if it is private"
        return f"repository {repo_id} was not found on the hub ({hint})"
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {revision!r} does not exist in {repo_id}"
    if isinstance(exc, RemoteEntryNotFoundError):
        name = filename or "a file"
        return f"{where} has no file {name}, which the router needs"
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so the hub cannot be reached"
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        if status in (401, 403):
            return f"the hub refused access to {where}{what} (HTTP {status}); check HF_TOKEN"
        return f"the hub answered HTTP {status} for {where}{what}"
    if isinstance(exc, httpx2.TimeoutException):
        return f"the hub did not answer in time{what}"
    if isinstance(exc, httpx2.TransportError):
        return f"cannot reach the hub{what}: {exc or exc.__class__.__name__}"
    return f"{exc.__class__.__name__}: {exc}{what}"


# --------------------------------------------------------------------------- metadata


def _chosen_names(
    available: Iterable[str], repo_id: str, revision: str, extra: Iterable[str] = ()
) -> list[str]:
    names = set(available)
    missing = [n for n in REQUIRED_FILES if n not in names]
    if not any(n in names for n in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if missing:
        raise DownloadError(
            f"{repo_id} at revision {revision!r} has no {', '.join(missing)}, which the router "
            "needs"
        )
    wanted = [*REQUIRED_FILES, *TOKENIZER_FILES, *OPTIONAL_FILES, *extra]
    chosen = [n for n in wanted if n in names]
    # Small files first, the weights last: a bad token or a missing file shows up at once.
    return sorted(chosen, key=lambda n: n == "model.safetensors")


def resolve_checkpoint(
    repo_id: str, revision: str, hub: HubConfig, extra_optional: Iterable[str] = ()
) -> RemoteCheckpoint:
    """Ask the hub which commit ``revision`` is and the size and hashes of each file we need.
    ``extra_optional``: more files to fetch when the repo has them (a sentence-embedding
    model's pooling configuration).

    Every byte count is known here, before the first byte is downloaded.
    """
    if hub.offline:
        raise DownloadError("HF_HUB_OFFLINE is set, so the router model cannot be downloaded")
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    api = HfApi(endpoint=hub.endpoint)
    try:
        info = api.model_info(
            repo_id, revision=revision, files_metadata=True, token=hub.token, timeout=hub.timeout
        )
    except Exception as exc:
        raise DownloadError(explain(exc, repo_id, revision)) from exc
    siblings = {s.rfilename: s for s in (info.siblings or [])}
    names = _chosen_names(siblings, repo_id, revision, extra_optional)
    commit = info.sha
    files: list[RemoteFile] = []
    for name in names:
        url = hf_hub_url(repo_id, name, revision=commit or revision, endpoint=hub.endpoint)
        try:
            meta = get_hf_file_metadata(
                url, token=hub.token, timeout=hub.timeout, endpoint=hub.endpoint
            )
        except Exception as exc:
            raise DownloadError(explain(exc, repo_id, revision, name)) from exc
        commit = commit or meta.commit_hash
        sibling = siblings[name]
        lfs = sibling.lfs
        size = meta.size if meta.size is not None else (lfs.size if lfs else sibling.size)
        if size is None:
            raise DownloadError(f"the hub did not report the size of {name} in {repo_id}")
        listed = lfs.size if lfs else sibling.size
        if listed is not None and listed != size:
            raise DownloadError(
                f"the hub reports two sizes for {name} in {repo_id} ({listed} and {size} bytes)"
            )
        etag = (meta.etag or "").strip('"').lower()
        sha256 = lfs.sha256 if lfs else (etag if _SHA256.match(etag) else None)
        if lfs and _SHA256.match(etag) and etag != lfs.sha256:
            raise DownloadError(f"the hub reports two different sha256 for {name} in {repo_id}")
        git_sha1 = None
        if not lfs:
            git_sha1 = sibling.blob_id or (etag if _SHA1.match(etag) else None)
        files.append(
            RemoteFile(name=name, size=int(size), url=url, sha256=sha256, git_sha1=git_sha1)
        )
    if not commit:
        raise DownloadError(f"the hub did not say which commit {revision!r} of {repo_id} is")
    if info.sha is None:  # files were addressed by branch name: pin them to the commit
        files = [
            RemoteFile(
                f.name,
                f.size,
                hf_hub_url(repo_id, f.name, revision=commit, endpoint=hub.endpoint),
                f.sha256,
                f.git_sha1,
            )
            for f in files
        ]
    return RemoteCheckpoint(repo_id=repo_id, revision=revision, commit=commit, files=tuple(files))


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class DownloadProgress:
    """What the CLI bar and the status object show."""

    downloaded_bytes: int
    total_bytes: int
    current_file: str | None
    bytes_per_sec: float
    eta_secs: float | None
    phase: str  # resolving | downloading | verifying | converting | installing | done
    phase_progress: float | None = None  # 0..1 within a phase that reports it (converting)

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase_progress": None
            if self.phase_progress is None
            else round(self.phase_progress, 3),
            "downloaded_bytes": self.downloaded_bytes,
            "total_bytes": self.total_bytes,
            "current_file": self.current_file,
            "bytes_per_sec": round(self.bytes_per_sec, 1),
            "eta_secs": None if self.eta_secs is None else round(self.eta_secs, 1),
            "phase": self.phase,
        }


@dataclass
class ProgressTracker:
    """Thread-safe byte counter; the rate is measured over a sliding window so that a
    stalled download shows its rate falling to zero instead of the last good value."""

    total_bytes: int = 0
    window_secs: float = 3.0
    _done: int = 0
    _file: str | None = None
    _phase: str = "resolving"
    _phase_progress: float | None = None
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_total(self, total: int, already: int = 0) -> None:
        with self._lock:
            self.total_bytes = total
            self._done = already
            self._samples.clear()
            self._samples.append((time.monotonic(), already))

    def set_phase(self, phase: str, current_file: str | None = None) -> None:
        with self._lock:
            self._phase = phase
            self._file = current_file
            self._phase_progress = None

    def set_phase_progress(self, done: float, total: float) -> None:
        with self._lock:
            self._phase_progress = min(max(done / total, 0.0), 1.0) if total > 0 else None

    def add(self, nbytes: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._done += nbytes
            if not self._samples or now - self._samples[-1][0] >= 0.05:
                self._samples.append((now, self._done))
            while len(self._samples) > 2 and now - self._samples[1][0] > self.window_secs:
                self._samples.popleft()

    def snapshot(self) -> DownloadProgress:
        now = time.monotonic()
        with self._lock:
            done, total, phase, name = self._done, self.total_bytes, self._phase, self._file
            step = self._phase_progress
            rate = 0.0
            if self._samples:
                t0, b0 = self._samples[0]
                span = now - t0
                if span > 0.2:
                    rate = (done - b0) / span
        remaining = max(total - done, 0)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 and total else None)
        if phase != "downloading":  # bytes are done; a rate or ETA would mislead
            rate, eta = 0.0, None
        return DownloadProgress(done, total, name, rate, eta, phase, step)


# --------------------------------------------------------------------------- bytes


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Size, then sha256 (LFS files) or the git blob id (small files). Raises DownloadError."""
    size = path.stat().st_size
    if size != remote.size:
        raise DownloadError(
            f"{remote.name} has {size} bytes but the hub says {remote.size}; it was removed, "
            "run the download again"
        )
    if remote.sha256:
        actual = sha256_file(path)
        if actual != remote.sha256:
            raise DownloadError(
                f"{remote.name} failed its checksum (sha256 {actual[:12]}…, the hub says "
                f"{remote.sha256[:12]}…); the corrupt file was removed, run the download again"
            )
    elif remote.git_sha1:
        actual = hash_file(path, "sha1", prefix=f"blob {size}\0".encode())  # git blob id
        if actual != remote.git_sha1:
            raise DownloadError(
                f"{remote.name} failed its checksum (git blob {actual[:12]}…, the hub says "
                f"{remote.git_sha1[:12]}…); the corrupt file was removed, run the download again"
            )


def download_file(
    remote: RemoteFile,
    folder: Path,
    hub: HubConfig,
    tracker: ProgressTracker,
    cancel: threading.Event,
    *,
    repo_id: str,
    revision: str,
) -> Path:
    """Download one file into ``folder`` as ``name.part``, verify it, rename it to ``name``.

    A ``.part`` left by an earlier run is resumed with a Range request; a dropped
    connection is retried (resuming), giving up after ``hub.retries`` attempts in a row
    without a new byte. The tracker is told about every chunk. Raises DownloadError /
    DownloadCancelled.
    """
    final = folder / remote.name
    part = folder / (remote.name + ".part")
    tracker.set_phase("downloading", remote.name)
    failures = 0
    while True:
        if cancel.is_set():
            raise DownloadCancelled("the download was cancelled")
        have = part.stat().st_size if part.exists() else 0
        if have >= remote.size:  # callers remove oversized parts before counting progress
            break
        try:
            got = _fetch_range(remote, part, have, hub, tracker, cancel)
        except DownloadError:
            raise
        except Exception as exc:
            if not _transient(exc):
                raise DownloadError(explain(exc, repo_id, revision, remote.name)) from exc
            now_have = part.stat().st_size if part.exists() else 0
            failures = 0 if now_have > have else failures + 1
            if failures >= hub.retries:
                raise DownloadError(explain(exc, repo_id, revision, remote.name)) from exc
            # Back off only when nothing came through; a drop after progress resumes at once.
            delay = min(0.5 * 2 ** (failures - 1), 2.0) if failures else 0.05
            if cancel.wait(delay):
                raise DownloadCancelled("the download was cancelled") from None
            continue
        if got:  # a short but clean response: resume from where it stopped
            failures = 0
            continue
        failures += 1  # the server closed early without an error and without a byte
        if failures >= hub.retries:
            raise DownloadError(f"the hub kept closing the connection while sending {remote.name}")
    tracker.set_phase("verifying", remote.name)
    try:
        verify_file(part, remote)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    return final


def _transient(exc: BaseException) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, httpx2.TransportError):
        return True
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code in (408, 429, 500, 502, 503, 504)
    return False


def _fetch_range(
    remote: RemoteFile,
    part: Path,
    offset: int,
    hub: HubConfig,
    tracker: ProgressTracker,
    cancel: threading.Event,
) -> int:
    """One GET from ``offset`` to the end, appended to ``part``; returns bytes written."""
    import httpx2
    from huggingface_hub import get_session, hf_raise_for_status
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazy

    headers = build_hf_headers(token=hub.token)
    headers["Accept-Encoding"] = "identity"  # sizes and ranges are about the stored bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
    timeout = httpx2.Timeout(hub.timeout, connect=min(hub.timeout, 10.0))
    written = 0
    with get_session().stream("GET", remote.url, headers=headers, timeout=timeout) as response:
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        skip = 0
        if offset and response.status_code != 206:
            skip = offset  # the server ignored Range: drop what we already have
        with _cancel_wakes_reads(response, cancel), part.open("ab") as handle:
            try:
                for chunk in response.iter_bytes():  # as the bytes arrive: fine progress
                    if cancel.is_set():
                        raise DownloadCancelled("the download was cancelled")
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                        if not chunk:
                            continue
                    if offset + written + len(chunk) > remote.size:
                        raise DownloadError(
                            f"the hub sent more bytes for {remote.name} than the "
                            f"{remote.size} it announced"
                        )
                    handle.write(chunk)
                    written += len(chunk)
                    tracker.add(len(chunk))
            except httpx2.HTTPError:
                if cancel.is_set():  # the watcher shut the socket down: not a network error
                    raise DownloadCancelled("the download was cancelled") from None
                raise
    return written


@contextlib.contextmanager
def _cancel_wakes_reads(response: Any, cancel: threading.Event) -> Iterator[None]:
    """While ``response``'s body is read in this thread, a cancel is seen at once even
    when the server is silent mid-file: a watcher thread waits for ``cancel`` and shuts the
    connection's socket down (httpcore's ``network_stream`` extension, ``"socket"``), so
    the blocked read returns and the reader raises DownloadCancelled.

    The stall limit is untouched: reads keep the timeout httpx passes down (``hub.timeout``),
    so a pause shorter than it does not drop the connection. Left alone: HTTP/2, where
    the connection is shared with other requests, and transports without a socket; there a
    cancel waits for the next byte or the stall limit.
    """
    stream = response.extensions.get("network_stream")
    sock = None
    if stream is not None and response.http_version in ("HTTP/1.0", "HTTP/1.1"):
        sock = stream.get_extra_info("socket")
    if sock is None:
        yield
        return
    done = False
    guard = threading.Lock()  # no shutdown once the body is over: the connection is reused

    def watch() -> None:
        while not cancel.wait(_CANCEL_CHECK_SECS):
            if done:
                return
        with guard:
            if not done:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    threading.Thread(target=watch, name="download-cancel", daemon=True).start()
    try:
        yield
    finally:
        with guard:
            done = True


ProgressCallback = Callable[[DownloadProgress], None]
