"""settings.yaml: defaults, validation that refuses a bad file whole, atomic save, config CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from localrouter.settings import Settings, SettingsError, load_settings, save_settings


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"LOCALROUTER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # the code under test, not whichever copy is installed
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [sys.executable, "-m", "localrouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_first_load_writes_the_spec_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    settings = load_settings(path)
    data = yaml.safe_load(path.read_text())
    assert data["server"] == {**data["server"], "host": "127.0.0.1", "port": 3625}
    assert data["routing"]["threshold"] == 0.3
    assert data["routing"]["strong"] == ["openai/gpt-4o"]
    assert data["routing"]["weak"] == ["ollama/llama3.2"]
    assert data["routellm"]["repo_id"] == "routellm/bert_gpt4_augmented"
    assert data["routellm"]["precision"] == "int8"
    assert data["routellm"]["idle_timeout_secs"] == 600
    assert data["access_log"] == {"enabled": True, "retention_days": 31, "include_prompts": False}
    assert [p["name"] for p in data["providers"]] == ["openai", "ollama"]
    assert settings == load_settings(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("routing:\n  threshold: 1.5\n", "routing.threshold"),
        ("server:\n  port: nope\n", "server.port"),
        ("routing:\n  strong: [gpt-4o]\n", "provider/model"),
        ("routing:\n  weak: [nobody/llama]\n", "'nobody', which is not configured"),
        ("routellm:\n  precision: fp16\n", "routellm.precision"),
        ("routing:\n  threshhold: 0.2\n", "routing.threshhold"),
        ("providers:\n  - name: a\n    base_url: ftp://x\n", "providers.0.base_url"),
        ("server: [\n", "not valid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
    ],
)
def test_a_bad_file_is_refused_with_the_field_and_reason(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_text() == text  # nothing rewritten


def test_save_roundtrips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    settings = Settings().model_copy(deep=True)
    settings.routing.threshold = 0.42
    save_settings(settings, path)
    assert load_settings(path).routing.threshold == 0.42
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.yaml"]


def test_config_cli_path_init_show(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli("config", "path", home=home).stdout.strip() == str(home / "settings.yaml")
    first = run_cli("config", "init", home=home)
    assert first.returncode == 0, first.stderr
    again = run_cli("config", "init", home=home)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    shown = run_cli("config", "show", home=home)
    assert yaml.safe_load(shown.stdout)["server"]["port"] == 3625


def test_config_show_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text("routing:\n  threshold: -1\n")
    result = run_cli("config", "show", home=home)
    assert result.returncode == 1
    assert "routing.threshold" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_show_hides_inline_api_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text(
        "providers:\n  - name: openai\n    base_url: https://api.openai.com/v1\n"
        "    api_key: sk-secret-value\n  - name: ollama\n    base_url: http://127.0.0.1:11434/v1\n"
    )
    result = run_cli("config", "show", home=home)
    assert result.returncode == 0, result.stderr
    assert "sk-secret-value" not in result.stdout
    # The rest is shown, and the key is marked as set, not dropped.
    shown = yaml.safe_load(result.stdout)
    providers = {p["name"]: p for p in shown["providers"]}
    assert providers["openai"]["base_url"] == "https://api.openai.com/v1"
    assert providers["openai"]["api_key"] == "***" and providers["ollama"]["api_key"] is None
