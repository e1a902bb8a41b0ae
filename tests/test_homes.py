"""Home folders (README "Configuration"): default, LOCALROUTER_ENV=dev, =NAME and
LOCALROUTER_HOME, and that the model commands use the resolved one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from localrouter.paths import home_dir, routellm_dir
from localrouter.routellm.acquisition.install import installed_model_dir
from tests.support.fake_hub import HF_VARIABLES_TO_CLEAR, FakeHub, hf_environment


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LOCALROUTER_HOME", raising=False)
    monkeypatch.delenv("LOCALROUTER_ENV", raising=False)
    return home


def test_home_resolution(user_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert home_dir() == user_home / ".localrouter"
    monkeypatch.setenv("LOCALROUTER_ENV", "dev")
    assert home_dir() == user_home / ".localrouter-dev"
    monkeypatch.setenv("LOCALROUTER_ENV", "staging")
    assert home_dir() == user_home / ".localrouter-staging"
    assert routellm_dir() == user_home / ".localrouter-staging" / "routellm"
    monkeypatch.setenv("LOCALROUTER_HOME", str(tmp_path / "elsewhere"))
    assert home_dir() == tmp_path / "elsewhere"  # overrides LOCALROUTER_ENV
    monkeypatch.delenv("LOCALROUTER_HOME")
    monkeypatch.setenv("LOCALROUTER_ENV", "../escape")
    with pytest.raises(ValueError, match="not a valid name"):
        home_dir()


def test_model_commands_use_the_named_home(
    user_home: Path, tmp_path: Path, checkpoint_factory: Callable[..., Path]
) -> None:
    with FakeHub() as hub:
        repo = hub.add_repo("routellm/bert_gpt4_augmented", checkpoint_factory(layout="xlmr"))
        env = {k: v for k, v in os.environ.items() if k not in HF_VARIABLES_TO_CLEAR}
        env.update(
            hf_environment(hub.url, tmp_path / "hf"), HOME=str(user_home), LOCALROUTER_ENV="ci-test"
        )
        env.pop("LOCALROUTER_HOME", None)
        command = [sys.executable, "-m", "localrouter", "routellm"]
        download = subprocess.run(
            [*command, "download"], env=env, capture_output=True, text=True, timeout=120
        )
        assert download.returncode == 0, download.stderr
        status = subprocess.run(
            [*command, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
    assert status.returncode == 0, status.stderr
    named = user_home / ".localrouter-ci-test"
    data = json.loads(status.stdout)
    assert data["home"] == str(named) and data["state"] == "downloaded"
    assert data["commit"] == repo.commit
    assert installed_model_dir(named) == named / "routellm" / "versions" / repo.commit
    assert (named / "settings.yaml").exists()
    assert not (user_home / ".localrouter").exists()  # the default home was not touched
