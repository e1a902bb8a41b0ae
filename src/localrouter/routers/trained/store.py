"""Trained routers on disk: ``HOME/routers/NAME/``.

- ``manifest.json``: embedder, method, k, data hashes, metrics, created time;
- ``embeddings.npy`` (float16, normalised; float32 once loaded) and ``targets.npy`` (knn);
  with many examples they are stored list by list of an inverted-file index (``ivf.npz``);
- ``logistic.npz`` (weights and bias) for ``logistic``;
- ``report.json`` (the cross-validation report) and ``curve.png`` when plotting is installed.

A router is written into a temporary folder beside its final place and renamed in, so a
reader never sees half a router.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.base import ROUTER_NAME

MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
TARGETS = "targets.npy"
LOGISTIC = "logistic.npz"
IVF = "ivf.npz"  # centroids and list offsets, with 20,000 examples or more
REPORT = "report.json"
PLOT = "curve.png"
RESERVED = frozenset({"bert", "random"})


def routers_dir(home: Path) -> Path:
    return home / "routers"


def check_name(name: str) -> str:
    if not ROUTER_NAME.match(name):
        raise ValueError(f"router name {name!r} is not valid: use letters, digits and _ only")
    if name in RESERVED:
        raise ValueError(f"router name {name!r} is reserved for a built-in router")
    return name


def router_dir(home: Path, name: str) -> Path:
    return routers_dir(home) / check_name(name)


def new_router_folder(home: Path, name: str) -> Path:
    """An empty temporary folder to write ``name`` into, then :func:`commit`."""
    check_name(name)
    root = routers_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))


def commit(home: Path, name: str, staging: Path) -> Path:
    """Move ``staging`` into place, replacing a router of the same name."""
    final = router_dir(home, name)
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".{name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_manifest(home: Path, name: str) -> dict[str, Any]:
    folder = router_dir(home, name)
    path = folder / MANIFEST
    if not path.is_file():
        raise RouterUnavailable(
            f"no trained router named {name!r} (train one with `localrouter router train {name}`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise RouterUnavailable(
            f"trained router {name!r} is damaged ({path} is not valid JSON); train it again"
        ) from None
    if not isinstance(data, dict):
        raise RouterUnavailable(f"trained router {name!r} is damaged; train it again")
    return data


def list_names(home: Path) -> list[str]:
    root = routers_dir(home)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and ROUTER_NAME.match(p.name) and (p / MANIFEST).is_file()
    )


def delete(home: Path, name: str) -> bool:
    folder = router_dir(home, name)
    if not folder.is_dir():
        return False
    trash = folder.with_name(f".{name}.del-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True
