"""The converted ONNX files beside a checkpoint, and the manifest that says they are current.

Layout: ``MODEL_DIR/onnx/model.<precision>.onnx`` (+ ``.data``, external weights) and
``MODEL_DIR/onnx/manifest.json``. Conversion runs once per precision and again when the
source (config.json, model.safetensors) or the converter changes.

Checking must be cheap at every load (hashing 1.1 GB takes seconds): the safetensors sha256
is computed once (or taken from the hub) and stored with the file's size and mtime; a later
load trusts it while size and mtime are unchanged, and re-hashes only when they differ.

Writes are atomic: files go to temporary names, are fsynced and renamed, and the manifest,
written last, is the only thing that declares them valid; an interrupted conversion leaves
no file that looks valid.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from localrouter.fileio import atomic_write_text, sha256_file
from localrouter.routellm.conversion.checkpoint import CONFIG_FILE, WEIGHTS_FILE, Checkpoint
from localrouter.routellm.errors import CheckpointError, ConversionError
from localrouter.routellm.precision import CONVERTER_VERSION, Precision, ProgressCallback

RUNTIME_DIR = "onnx"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")


def runtime_dir(model_dir: Path) -> Path:
    return Path(model_dir) / RUNTIME_DIR


def onnx_name(precision: Precision) -> str:
    return f"model.{precision}.onnx"


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return {}
    return data


def _source_state(
    model_dir: Path, manifest: dict[str, Any], known_sha256: str | None
) -> tuple[dict[str, Any], bool]:
    """(current source description, whether it matches the manifest). Hashes the weights
    only when their size/mtime differ from the manifest's and no hash was given."""
    weights = model_dir / WEIGHTS_FILE
    config = model_dir / CONFIG_FILE
    try:
        st = weights.stat()
        config_sha = sha256_file(config)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{Path(exc.filename).name} is missing from {model_dir}") from None
    old = manifest.get("source", {})
    old_w = old.get(WEIGHTS_FILE, {})
    if known_sha256:
        sha = known_sha256.lower()
    elif old_w.get("size") == st.st_size and old_w.get("mtime_ns") == st.st_mtime_ns:
        sha = old_w.get("sha256")
    else:
        sha = sha256_file(weights)
    state = {
        WEIGHTS_FILE: {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha},
        CONFIG_FILE: {"sha256": config_sha},
    }
    same = (
        manifest.get("converter_version") == CONVERTER_VERSION
        and old_w.get("sha256") == sha
        and old.get(CONFIG_FILE, {}).get("sha256") == config_sha
    )
    return state, same


def _output_ok(folder: Path, entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    for key in ("onnx", "data"):
        name, size = entry.get(key), entry.get(f"{key}_size")
        if not isinstance(name, str) or not isinstance(size, int):
            return False
        try:
            if (folder / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def current_runtime_file(model_dir: Path, precision: Precision) -> Path | None:
    """The converted graph for ``precision`` if the manifest says it is current, else None.
    Cheap: stats files and hashes config.json only."""
    folder = runtime_dir(model_dir)
    manifest = _read_manifest(folder)
    if not manifest:
        return None
    state, same = _source_state(Path(model_dir), manifest, None)
    entry: Any = manifest.get("outputs", {}).get(precision)
    if not same or not _output_ok(folder, entry):
        return None
    if state != manifest.get("source"):  # touched but identical: remember the new mtime
        manifest["source"] = state
        with contextlib.suppress(OSError):
            atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    return folder / str(entry["onnx"])


def ensure_runtime_file(
    model_dir: Path,
    precision: Precision,
    progress: ProgressCallback | None = None,
    source_sha256: str | None = None,
) -> Path:
    """The ONNX graph for ``precision``, converting first when missing or stale.

    ``progress(done, total)`` is called during a conversion (bytes of weights processed).
    ``source_sha256``: the weights' sha256 when already known (e.g. from the hub), which
    spares hashing them. Safe against concurrent callers (a file lock per folder).
    """
    model_dir = Path(model_dir)
    if precision not in PRECISIONS:
        raise ConversionError(f"unknown precision {precision!r}; use int8 or fp32")
    if source_sha256 is None:
        found = current_runtime_file(model_dir, precision)
        if found is not None:
            return found
    folder = runtime_dir(model_dir)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create {folder} for the converted model ({exc})") from None
    from filelock import FileLock

    with FileLock(str(folder / ".convert.lock")):
        manifest = _read_manifest(folder)
        state, same = _source_state(model_dir, manifest, source_sha256)
        entry: Any = manifest.get("outputs", {}).get(precision) if same else None
        if same and _output_ok(folder, entry):
            return folder / str(entry["onnx"])
        return _convert(model_dir, folder, precision, manifest if same else {}, state, progress)


def _convert(
    model_dir: Path,
    folder: Path,
    precision: Precision,
    manifest: dict[str, Any],
    state: dict[str, Any],
    progress: ProgressCallback | None,
) -> Path:
    outputs: dict[str, Any] = dict(manifest.get("outputs", {}))
    outputs.pop(precision, None)
    stale = not manifest
    # Withdraw the entry before touching its files: a crash from here on leaves no claim.
    new_manifest = {
        "format": MANIFEST_FORMAT,
        "converter_version": CONVERTER_VERSION,
        "source": state,
        "outputs": outputs,
    }
    atomic_write_text(folder / MANIFEST, json.dumps(new_manifest, indent=2))
    if stale:  # other precisions were built from another source: remove them
        for other in PRECISIONS:
            for suffix in ("", ".data"):
                with contextlib.suppress(OSError):
                    (folder / (onnx_name(other) + suffix)).unlink()
    name = onnx_name(precision)
    data_name = name + ".data"
    tag = f".tmp-{os.getpid()}-"
    tmp_onnx, tmp_data = folder / (tag + name), folder / (tag + data_name)
    from localrouter.routellm.conversion.convert import write_onnx  # onnx: only when converting

    try:
        with Checkpoint(model_dir) as ckpt:
            write_onnx(ckpt, precision, tmp_onnx, tmp_data, data_name, progress)
        os.replace(tmp_data, folder / data_name)
        os.replace(tmp_onnx, folder / name)
    except CheckpointError:
        raise
    except (OSError, ValueError, MemoryError) as exc:
        raise ConversionError(
            f"converting {model_dir} to ONNX ({precision}) failed: {exc}"
        ) from None
    finally:
        for tmp in (tmp_onnx, tmp_data):
            with contextlib.suppress(OSError):
                tmp.unlink()
    outputs[precision] = {
        "onnx": name,
        "data": data_name,
        "onnx_size": (folder / name).stat().st_size,
        "data_size": (folder / data_name).stat().st_size,
        "precision": precision,
    }
    new_manifest["outputs"] = outputs
    atomic_write_text(folder / MANIFEST, json.dumps(new_manifest, indent=2))
    return folder / name
