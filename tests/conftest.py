"""Shared fixtures: generated checkpoints (made once per session) and a temp home."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.checkpoints import make_checkpoint

REPO = Path(__file__).resolve().parents[1]
EVALS_DIR = REPO.parent / "shared" / "data" / "routellm-evals"


@pytest.fixture(scope="session")
def checkpoint_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``checkpoint_factory(**make_checkpoint_kwargs)``: a checkpoint folder, built once per
    distinct set of arguments in this session. Treat it as read-only (copy before changing);
    the engine may add its converted files beside it."""
    cache: dict[str, Path] = {}

    def build(**kwargs: Any) -> Path:
        key = json.dumps(kwargs, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), **kwargs)
        return cache[key]

    return build


@pytest.fixture(scope="session")
def xlmr_checkpoint(checkpoint_factory: Callable[..., Path]) -> Path:
    return checkpoint_factory(layout="xlmr")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LOCALROUTER_HOME for this test; the real home is never touched."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("LOCALROUTER_HOME", str(path))
    monkeypatch.delenv("LOCALROUTER_ENV", raising=False)
    return path
