"""Shared fixtures: generated checkpoints (made once per session), a temp home, and a
gateway process in front of a fake upstream.

A module that uses ``gateway`` defines a module-scoped ``gateway_settings`` fixture (the
settings.yaml dict, usually built from ``upstream.base_url``) and, when the gateway needs
extra environment variables, overrides ``gateway_env``; ``oai`` and ``claude`` are the
openai and anthropic SDKs on that gateway."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.support.checkpoints import make_checkpoint
from tests.support.fake_hub import FakeHub, fake_hub_env
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.routellm_evals import write_routellm_checkout


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


@pytest.fixture(scope="session")
def big_checkpoint(checkpoint_factory: Callable[..., Path]) -> Path:
    """~2.6 MB of weights: long enough to observe and interrupt at a throttled rate."""
    return checkpoint_factory(layout="xlmr", vocab_size=20000)


@pytest.fixture(scope="session")
def routellm_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RouteLLM clone's ``routellm/evals`` (written from the packaged copy, plus a small
    MT-Bench), for ``--data``. Read-only."""
    return write_routellm_checkout(tmp_path_factory.mktemp("RouteLLM"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LOCALROUTER_HOME for this test; the real home is never touched."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("LOCALROUTER_HOME", str(path))
    monkeypatch.delenv("LOCALROUTER_ENV", raising=False)
    return path


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake HF Hub, with this process's HF_* environment pointed at it."""
    with fake_hub_env(monkeypatch, tmp_path / "hf") as hub:
        yield hub


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """A fake OpenAI-compatible upstream, one per test module."""
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def clean_upstream(upstream: FakeUpstream) -> Iterator[None]:
    """Use (``pytest.mark.usefixtures``) where tests program the upstream: each starts clean."""
    upstream.reset()
    yield
    upstream.reset()


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
def gateway(
    request: pytest.FixtureRequest,
    gateway_settings: dict[str, Any],
    gateway_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """``localrouter serve`` for this module, run with the module's ``gateway_settings``."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    with GatewayProcess(
        tmp_path_factory.mktemp(f"gw-{name}"), gateway_settings, env=gateway_env
    ) as gw:
        yield gw


@pytest.fixture(scope="module")
def oai(gateway: GatewayProcess) -> openai.OpenAI:
    """The openai SDK on the module's gateway (no retries: each error is seen as answered)."""
    return openai.OpenAI(base_url=gateway.v1_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def claude(gateway: GatewayProcess) -> anthropic.Anthropic:
    """The anthropic SDK on the module's gateway (base URL without /v1, as Claude Code sets it)."""
    return anthropic.Anthropic(base_url=gateway.base_url, api_key="unused", max_retries=0)
