"""Win rates cached on disk, keyed by what determines them: the model's source files
(content hashes), the precision, the engine version, and the exact prompts.

Hashing a 1.1 GB ``model.safetensors`` takes seconds, so file digests are memoised by
(path, size, mtime); a rerun on the same model then costs a few ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from localrouter import __version__
from localrouter.fileio import atomic_write_bytes, sha256_file

# The checkpoint's own files. Converted runtime files (ONNX, manifests) are left out: they
# are derived from these and appear after the first load, which must not change the key.
SOURCE_PATTERNS = (
    "config.json",
    "*.safetensors",
    "pytorch_model*.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "*.model",
    "vocab.*",
    "merges.txt",
)
_CHUNK = 4 * 1024 * 1024


def cache_root(home: Path) -> Path:
    return home / "cache" / "eval"


class _DigestMemo:
    """``file -> sha256`` remembered by (resolved path, size, mtime_ns)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            self._entries: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._entries = {}
        self._dirty = False

    def digest(self, file: Path) -> str:
        info = file.stat()
        key = f"{file.resolve()}|{info.st_size}|{info.st_mtime_ns}"
        if key not in self._entries:
            self._entries[key] = sha256_file(file)
            self._dirty = True
        return self._entries[key]

    def save(self) -> None:
        if self._dirty:
            # Best effort: a read-only cache folder only costs speed.
            with contextlib.suppress(OSError):
                atomic_write_bytes(self._path, json.dumps(self._entries).encode())


def source_files(model_dir: Path) -> list[Path]:
    files = [
        p
        for p in sorted(model_dir.iterdir())
        if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in SOURCE_PATTERNS)
    ]
    if not files:
        raise ValueError(f"{model_dir} holds no checkpoint files (config.json, *.safetensors)")
    return files


def model_fingerprint(model_dir: Path, root: Path) -> str:
    """sha256 over the names and content hashes of the checkpoint's source files."""
    memo = _DigestMemo(root / "file-digests.json")
    digest = hashlib.sha256()
    for file in source_files(model_dir):
        digest.update(f"{file.name}\0{memo.digest(file)}\n".encode())
    memo.save()
    return digest.hexdigest()


def prompts_digest(prompts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for prompt in prompts:
        encoded = prompt.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def win_rate_key(
    model_fp: str, precision: str, prompts: Sequence[str], engine_version: str = ""
) -> str:
    parts = {
        "model": model_fp,
        "precision": precision,
        "engine": f"{__version__}/{engine_version}",
        "prompts": prompts_digest(prompts),
        "count": len(prompts),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class WinRateCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"winrates-{key[:32]}.npy"

    def load(self, key: str, count: int) -> np.ndarray | None:
        path = self.path(key)
        try:
            values: np.ndarray = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if values.shape != (count,) or not np.all(np.isfinite(values)):
            return None  # a damaged entry is recomputed, not trusted
        return np.asarray(values, dtype=np.float64)

    def save(self, key: str, values: np.ndarray) -> Path:
        path = self.path(key)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(values, dtype=np.float64), allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        return path
