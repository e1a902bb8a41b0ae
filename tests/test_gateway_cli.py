"""`localrouter serve` start-up: defaults, bad configuration, refusal to expose itself."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import httpx
import yaml

from localrouter import __version__
from tests.support.cli import run_localrouter
from tests.support.gateway import GatewayProcess


def run_serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, "serve", *args, timeout=60)


def test_first_run_writes_default_settings(tmp_path: Path) -> None:
    with GatewayProcess(tmp_path / "home") as gw:
        assert httpx.get(gw.base_url + "/health").status_code == 200
        written = yaml.safe_load((gw.home / "settings.yaml").read_text())
    assert written["server"]["port"] == 3625
    assert written["routing"]["threshold"] == 0.3


def test_bad_settings_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("routing:\n  threshold: 7\n")
    result = run_serve(tmp_path, "--port", "0")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "routing.threshold" in lines[0]
    assert "Traceback" not in result.stderr


def test_unparsable_yaml_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("routing: [unclosed\n  threshold: : :\n")
    result = run_serve(tmp_path, "--port", "0")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not valid YAML" in result.stderr


def test_explicit_config_file_is_used(tmp_path: Path) -> None:
    config = tmp_path / "custom.yaml"
    config.write_text("server:\n  port: 70000\n")
    result = run_serve(tmp_path / "home", "--config", str(config))
    assert result.returncode != 0
    assert "server.port" in result.stderr and str(config) in result.stderr


def test_refuses_remote_bind_without_keys(tmp_path: Path) -> None:
    result = run_serve(tmp_path, "--host", "0.0.0.0", "--port", "0")
    assert result.returncode != 0
    assert "--allow-remote" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(tmp_path, "--port", str(port))
    assert result.returncode != 0
    assert "already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_localrouter(home, *args, env={"COLUMNS": "80"}, timeout=60)


def test_start_prints_what_a_first_request_needs(tmp_path: Path) -> None:
    settings = {
        "providers": [
            {"name": "up", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "LR_TEST_NO_KEY"},
            {"name": "local", "base_url": "http://127.0.0.1:9/v1"},
        ],
        "routing": {"strong": ["up/big"], "weak": ["local/small"]},
    }
    with GatewayProcess(tmp_path / "home", settings) as gw:
        output = gw.output()
    assert f"Base URL      {gw.base_url}/v1" in output
    assert "Model         localrouter/auto" in output
    flat = " ".join(output.split())
    assert "Router model not downloaded (~1.1 GB): run `localrouter routellm download`" in flat
    assert "localrouter/auto goes to the strong tier (up/big)" in flat
    assert "Warning: LR_TEST_NO_KEY is not set, so requests to provider 'up'" in flat
    assert "provider 'local'" not in flat  # no key variable configured: nothing to warn about
    prose = [line for line in output.splitlines() if "http" not in line and "Settings" not in line]
    assert all(len(line) <= 80 for line in prose), output  # URLs and paths aside, 80 columns


def test_version_and_help_flags(tmp_path: Path) -> None:
    version = run_cli(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"localrouter {__version__}"
    help_text = run_cli(tmp_path, "routellm", "predict", "--help").stdout
    assert re.search(r"^\s+--json\s+One JSON object per line", help_text, re.M), help_text
    assert "<bool>" not in help_text and "--no-json" not in help_text
    assert re.search(r"^\s+--threshold <float>\s", help_text, re.M), help_text


def test_missing_config_file_is_refused_unless_init(tmp_path: Path) -> None:
    missing = tmp_path / "typo.yaml"
    for args in (["serve", "--port", "0"], ["config", "show"], ["routellm", "predict", "hi"]):
        result = run_cli(tmp_path / "home", *args, "--config", str(missing))
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.strip() == (
            f"Error: the settings file {missing} does not exist; create it with "
            f"`localrouter config init --config {missing}` or leave out --config."
        )
        assert not missing.exists()
    created = run_cli(tmp_path / "home", "config", "init", "--config", str(missing))
    assert created.returncode == 0 and missing.exists()
    assert run_cli(tmp_path / "home", "config", "show", "--config", str(missing)).returncode == 0
