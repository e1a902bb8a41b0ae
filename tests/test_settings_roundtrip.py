"""Dashboard changes keep the user's comments and formatting in settings.yaml (round-trip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localrouter.gateway.state import SettingsStore
from localrouter.settings import SettingsError, load_settings

USER_FILE = """\
# My gateway. Keep this comment.
providers:
  - name: fast   # the cheap one
    base_url: http://127.0.0.1:9/v1
    models: [big, small]
  - name: local
    base_url: http://127.0.0.1:8/v1

routing:
  threshold: 0.3   # balanced, for now
  strong: [fast/big]
  weak: [local/small]
"""


def _store(tmp_path: Path) -> tuple[SettingsStore, Path]:
    path = tmp_path / "settings.yaml"
    path.write_text(USER_FILE, "utf-8")
    return SettingsStore(load_settings(path), path), path


def test_a_change_keeps_comments_and_leaves_a_backup(tmp_path: Path) -> None:
    store, path = _store(tmp_path)

    store.update(lambda data: data["routing"].update(threshold=0.55))

    text = path.read_text("utf-8")
    assert "# My gateway. Keep this comment." in text
    assert "# the cheap one" in text
    assert "threshold: 0.55" in text and "# balanced, for now" in text
    assert "models: [big, small]" in text  # flow style kept
    # Defaults the user never wrote stay out of the file.
    assert "idle_timeout_secs" not in text and "timeout_secs" not in text
    assert (tmp_path / "settings.yaml.bak").read_text("utf-8") == USER_FILE
    assert load_settings(path).routing.threshold == 0.55


def test_adding_and_removing_a_provider_touches_only_that_item(tmp_path: Path) -> None:
    store, path = _store(tmp_path)

    def add(data: dict[str, object]) -> None:
        providers = data["providers"]
        assert isinstance(providers, list)
        providers.append({"name": "new", "base_url": "http://127.0.0.1:7/v1", "api": "anthropic"})

    store.update(add)
    text = path.read_text("utf-8")
    assert "# the cheap one" in text
    assert "name: new" in text and "api: anthropic" in text
    assert "connect_timeout_secs" not in text  # the new item holds only what differs
    assert [p.name for p in load_settings(path).providers] == ["fast", "local", "new"]

    def remove(data: dict[str, object]) -> None:
        providers = data["providers"]
        assert isinstance(providers, list)
        data["providers"] = [p for p in providers if p["name"] != "new"]

    store.update(remove)
    text = path.read_text("utf-8")
    assert "# the cheap one" in text and "name: new" not in text
    assert [p.name for p in load_settings(path).providers] == ["fast", "local"]
    assert "name: new" in (tmp_path / "settings.yaml.bak").read_text("utf-8")


def test_a_file_in_pyyaml_style_keeps_its_list_style(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    text = (
        "providers:\n"
        "- name: fast\n"
        "  base_url: http://127.0.0.1:9/v1\n"
        "routing:\n"
        "  strong:\n"
        "  - fast/big\n"
        "  weak:\n"
        "  - fast/small\n"
    )
    path.write_text(text, "utf-8")
    store = SettingsStore(load_settings(path), path)
    store.update(lambda data: data["routing"].update(threshold=0.4))
    assert path.read_text("utf-8") == text + "  threshold: 0.4\n"


def test_a_file_broken_by_hand_is_refused_and_left_alone(tmp_path: Path) -> None:
    store, path = _store(tmp_path)
    broken = USER_FILE + "routing: [unclosed\n"
    path.write_text(broken, "utf-8")
    with pytest.raises(SettingsError, match="not valid YAML"):
        store.update(lambda data: data["routing"].update(threshold=0.55))
    assert path.read_text("utf-8") == broken
    assert store.current.routing.threshold == 0.3  # nothing applied
