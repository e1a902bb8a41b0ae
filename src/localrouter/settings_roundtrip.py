"""Saving a settings change into the user's settings.yaml without losing their comments.

The file is read with ruamel.yaml's round-trip loader and only what changed between the old
and the new settings is written into it: keys the user never wrote stay out, comments, key
order and quoting stay as they were. Named list items (``providers``, ``clients``) are
matched by ``name``. The previous file is kept as ``settings.yaml.bak``.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from localrouter.fileio import atomic_write_text
from localrouter.settings import SettingsError

Data = dict[str, Any]
# For items new to a named list: fields with these values are the defaults, left unwritten.
ItemDefaults = Mapping[str, Mapping[str, Any]]


def _yaml(text: str) -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    sequence, offset = 4, 2  # "  - item" under its key, unless the file does otherwise
    if text.strip():
        try:  # keep the file's own list style (PyYAML writes "- item" at the key's column)
            _, guessed, seq_offset = load_yaml_guess_indent(text)
            if seq_offset is not None and guessed:
                sequence, offset = guessed, seq_offset
        except YAMLError:
            pass  # the round-trip load reports it
    yaml.indent(mapping=2, sequence=sequence, offset=offset)
    return yaml


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def save_change(
    path: Path, old: Data, new: Data, item_defaults: ItemDefaults | None = None
) -> None:
    """Write ``new`` into the file at ``path``, changing only what differs from ``old``.

    The file's current text is copied to ``settings.yaml.bak`` first; the write is atomic."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    yaml = _yaml(text)
    try:
        doc = yaml.load(text) if text.strip() else None
    except YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or "a syntax error")
        raise SettingsError(
            f"{path} was changed by hand and is not valid YAML now ({problem}); "
            "fix it before changing settings here"
        ) from None
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
    _merge(doc, old, new, item_defaults or {})
    out = io.StringIO()
    yaml.dump(doc, out)
    if text:
        shutil.copy2(path, backup_path(path))
    atomic_write_text(path, out.getvalue())


def _merge(
    doc: CommentedMap, old: Mapping[str, Any], new: Mapping[str, Any], defaults: ItemDefaults
) -> None:
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            target = doc.get(key)
            if not isinstance(target, CommentedMap):
                target = CommentedMap()
                doc[key] = target
            _merge(target, before, value, defaults)
        elif (
            _named_list(value)
            and isinstance(before, list)
            and _named_list(before)
            and isinstance(doc.get(key), list)
        ):
            doc[key] = _merge_named(doc[key], before, value, defaults.get(key, {}))
        elif _named_list(value):
            doc[key] = [_fresh(item, defaults.get(key, {})) for item in value]
        else:
            doc[key] = value
    for key in old:
        if key not in new and key in doc:
            del doc[key]


def _named_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _merge_named(
    seq: CommentedSeq, old: list[Data], new: list[Data], defaults: Mapping[str, Any]
) -> CommentedSeq:
    """The list's items in ``new``'s order, each written item kept (with its comments)."""
    written = {item.get("name"): item for item in seq if isinstance(item, CommentedMap)}
    before = {item["name"]: item for item in old}
    result = CommentedSeq()
    for item in new:
        mine = written.get(item["name"])
        if mine is not None and item["name"] in before:
            _merge(mine, before[item["name"]], item, {})
            result.append(mine)
        else:
            result.append(_fresh(item, defaults))
    # Comments attached to the sequence itself (e.g. before its first item) stay.
    seq_ca = getattr(seq, "ca", None)
    if seq_ca is not None:
        result.ca.comment = seq_ca.comment
    return result


def _fresh(item: Data, defaults: Mapping[str, Any]) -> CommentedMap:
    """A new list item, without the fields that only repeat a default."""
    out = CommentedMap()
    for key, value in item.items():
        if key in defaults and defaults[key] == value:
            continue
        if value is None:
            continue
        out[key] = value
    return out
