"""settings.yaml: defaults, validation that refuses a bad file whole, atomic save, config CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

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


def test_config_show_hides_inline_api_keys_and_header_values(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text(
        "providers:\n  - name: openai\n    base_url: https://api.openai.com/v1\n"
        "    api_key: sk-secret-value\n    headers: {api-key: hdr-secret-value}\n"
        "  - name: ollama\n    base_url: http://127.0.0.1:11434/v1\n"
    )
    result = run_cli("config", "show", home=home)
    assert result.returncode == 0, result.stderr
    assert "sk-secret-value" not in result.stdout and "hdr-secret-value" not in result.stdout
    # The rest is shown, and the key is marked as set, not dropped.
    shown = yaml.safe_load(result.stdout)
    providers = {p["name"]: p for p in shown["providers"]}
    assert providers["openai"]["base_url"] == "https://api.openai.com/v1"
    assert providers["openai"]["api_key"] == "***" and providers["ollama"]["api_key"] is None
    assert providers["openai"]["headers"] == {"api-key": "***"}
    assert providers["ollama"]["headers"] == {}


BIG = "100000000000000000000"  # 1e20 as an integer: it once killed the idle-unload thread


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"routellm:\n  idle_timeout_secs: {BIG}\n", "routellm.idle_timeout_secs"),
        (f"routellm:\n  threads: {BIG}\n", "routellm.threads"),
        (f"server:\n  max_body_bytes: {BIG}\n", "server.max_body_bytes"),
        ("server:\n  body_timeout_secs: 1.0e+20\n", "server.body_timeout_secs"),
        ("server:\n  body_timeout_secs: .inf\n", "server.body_timeout_secs"),
        ("server:\n  shutdown_grace_secs: 1.0e+20\n", "server.shutdown_grace_secs"),
        (f"access_log:\n  retention_days: {BIG}\n", "access_log.retention_days"),
        (
            "providers:\n  - name: a\n    base_url: http://x\n    timeout_secs: .nan\n",
            "providers.0.timeout_secs",
        ),
        (
            f"providers:\n  - name: a\n    base_url: http://x\n    connect_timeout_secs: {BIG}\n",
            "providers.0.connect_timeout_secs",
        ),
        ("prices:\n  a/b: {input: 1.0e+30, output: 1}\n", "prices.a/b.input"),
    ],
)
def test_every_number_has_an_upper_bound(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert expected in str(info.value)


def test_every_numeric_field_is_bounded() -> None:
    """A new numeric setting without an upper bound fails here."""

    def walk(model: type[BaseModel], where: str) -> list[str]:
        unbounded = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            for sub in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    unbounded += walk(sub, f"{where}{name}.")
            if annotation in (int, float) and not any(
                hasattr(meta, "le") or hasattr(meta, "lt") for meta in field.metadata
            ):
                unbounded.append(where + name)
        return unbounded

    assert walk(Settings, "") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("routing:\n  threshold: 0.2\n  threshold: 0.9\n", "'threshold' appears twice"),
        ("server:\n  port: 1\nserver:\n  port: 2\n", "'server' appears twice"),
        ("routing:\n  enabled: yes\n", "routing.enabled: must be true or false"),
        ("routing:\n  enabled: on\n", "routing.enabled: must be true or false"),
        ("routing:\n  enabled: 1\n", "routing.enabled: must be true or false"),
        ("access_log:\n  include_prompts: 'true'\n", "access_log.include_prompts"),
        ("server:\n  cors_origins: ['*']\n", "server.cors_origins"),
        ("server:\n  cors_origins: [http://a.example/path]\n", "server.cors_origins"),
        ("server:\n  allowed_hosts: [http://a.example]\n", "server.allowed_hosts"),
        ("clients:\n  - {name: a, key_sha256: " + "ab" * 32 + ", role: root}\n", "role"),
        ("server:\n  prot: 1\n", "server.prot: is not a known setting"),
    ],
)
def test_strict_yaml(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    for library_words in ("Value error,", "<unicode string>", "Input should", "pydantic"):
        assert library_words not in message


def test_booleans_are_true_and_false_only(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("routing:\n  enabled: false\n  cross_tier_fallback: True\n")
    settings = load_settings(path)
    assert settings.routing.enabled is False and settings.routing.cross_tier_fallback is True


def test_plain_errors_for_our_own_checks(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "providers:\n  - {name: a, base_url: http://x}\n  - {name: a, base_url: http://y}\n"
    )
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(info.value) == (f"invalid configuration in {path}: providers: duplicate name(s) a")
    path.write_text("server: [\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "not valid YAML" in str(info.value) and "line 2" in str(info.value)
    assert "<unicode string>" not in str(info.value)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_bytes("routing:\n  threshold: 0.3 # café\n".encode("latin-1"))
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(path) in str(info.value) and "not UTF-8" in str(info.value)
    result = run_cli("config", "show", home=tmp_path)
    assert result.returncode == 1
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_the_new_server_fields_and_roles(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "server:\n  allowed_hosts: [Router.LAN, 'box:8080']\n"
        "  cors_origins: ['HTTP://LocalHost:5173/']\n"
        "clients:\n  - {name: a, key_sha256: " + "ab" * 32 + "}\n"
        "  - {name: b, key_sha256: " + "cd" * 32 + ", role: admin}\n"
    )
    settings = load_settings(path)
    assert settings.server.allowed_hosts == ["router.lan", "box:8080"]
    assert settings.server.cors_origins == ["http://localhost:5173"]
    assert settings.server.shutdown_grace_secs == 30
    assert [c.role for c in settings.clients] == ["client", "admin"]
