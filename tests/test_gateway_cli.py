"""`localrouter serve` start-up: defaults, bad configuration, refusal to expose itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support.gateway import GatewayProcess


def run_serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCALROUTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "localrouter", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


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
