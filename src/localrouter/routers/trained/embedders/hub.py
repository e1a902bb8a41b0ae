"""``hf:REPO_ID`` embedders: a sentence-embedding model fetched from the Hugging Face Hub with
the router model's verified, resumable download (routellm/acquisition/hub.py), kept in
``HOME/embedders/hf/<org>--<name>/`` (a ``.complete`` marker says every file verified)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from localrouter.routellm.acquisition.hub import (
    HubConfig,
    ProgressTracker,
    download_file,
    resolve_checkpoint,
)
from localrouter.routellm.errors import DownloadError, RouterUnavailable

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
# sentence-transformers' description of the pipeline: pooling, normalisation, length.
SENTENCE_FILES = ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json")
COMPLETE = ".complete"


def hub_folder(home: Path, repo_id: str) -> Path:
    if not _REPO_ID.match(repo_id):
        raise RouterUnavailable(f"hf:{repo_id} is not a Hugging Face repo id (org/name)")
    return home / "embedders" / "hf" / repo_id.replace("/", "--")


def download_embedder(
    home: Path,
    repo_id: str,
    revision: str = "main",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Download (resuming any ``.part`` files) and verify every file, then mark complete."""
    folder = hub_folder(home, repo_id)
    hub = HubConfig.from_env()
    remote = resolve_checkpoint(repo_id, revision, hub, SENTENCE_FILES)
    folder.mkdir(parents=True, exist_ok=True)
    tracker = ProgressTracker()
    already = 0
    for f in remote.files:
        done = folder / f.name
        part = folder / (f.name + ".part")
        already += done.stat().st_size if done.is_file() else 0
        if part.is_file() and part.stat().st_size > f.size:
            part.unlink()
    tracker.set_total(remote.total_bytes, already)
    cancel = threading.Event()
    for f in remote.files:
        target = folder / f.name
        if target.is_file() and target.stat().st_size == f.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        download_file(f, folder, hub, tracker, cancel, repo_id=repo_id, revision=revision)
        if progress is not None:
            snap = tracker.snapshot()
            progress(snap.downloaded_bytes, snap.total_bytes)
    (folder / COMPLETE).write_text(remote.commit + "\n", encoding="utf-8")
    return folder


def hub_model_dir(home: Path, repo_id: str, *, download: bool = True) -> Path:
    """The local folder of ``hf:REPO_ID``, downloading it first when needed (and allowed)."""
    folder = hub_folder(home, repo_id)
    if (folder / COMPLETE).is_file():
        return folder
    if not download:
        raise RouterUnavailable(f"embedder hf:{repo_id} is not downloaded")
    try:
        return download_embedder(home, repo_id)
    except DownloadError as exc:
        raise RouterUnavailable(f"embedder hf:{repo_id} could not be downloaded: {exc}") from None
