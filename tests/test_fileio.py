"""fileio: content hashes and atomic writes shared by the whole package."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from localrouter.fileio import atomic_write_bytes, atomic_write_text, hash_file, sha256_file


def test_hashes_match_hashlib_and_git(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: more than one read block
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
    assert hash_file(path, "sha1", prefix=f"blob {len(data)}\0".encode()) == blob


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "settings.yaml"
    atomic_write_text(target, "a: 1\n")
    atomic_write_bytes(target, b"a: 2\n", fsync=False)
    assert target.read_text() == "a: 2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["settings.yaml"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
