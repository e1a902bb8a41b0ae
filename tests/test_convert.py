"""Conversion to ONNX: graph contents, manifest, convert-once, atomicity."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from localrouter.routellm.conversion import runtime_files
from localrouter.routellm.conversion.runtime_files import (
    current_runtime_file,
    ensure_runtime_file,
    runtime_dir,
    sha256_file,
)
from localrouter.routellm.errors import ConversionError
from localrouter.routellm.inference.engine import RouterEngine
from localrouter.routellm.precision import CONVERTER_VERSION


@pytest.fixture
def folder(checkpoint_factory: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy (these tests change files), without converted files."""
    dst = tmp_path / "ckpt"
    shutil.copytree(
        checkpoint_factory(layout="xlmr"),
        dst,
        ignore=shutil.ignore_patterns(runtime_files.RUNTIME_DIR),
    )
    return dst


class Calls:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


def test_graphs_use_fused_kernels_and_int8_embeddings(folder: Path) -> None:
    for precision in ("fp32", "int8"):
        path = ensure_runtime_file(folder, precision)
        model = onnx.load(str(path), load_external_data=False)
        ops = {n.op_type for n in model.graph.node}
        assert {"LayerNormalization", "Gelu"} <= ops
        assert not {"SkipLayerNormalization", "BiasGelu"} & ops  # slower on CPU
        assert ("QAttention" if precision == "int8" else "Attention") in ops
        inits = {t.name: t for t in model.graph.initializer}
        # the last layer after its attention runs on the first token only (what the head reads)
        first = [n for n in model.graph.node if n.op_type == "Gather" and "first_token" in n.input]
        assert len(first) == 2
        if precision == "int8":
            assert "DynamicQuantizeMatMul" in ops
            table = inits["word_embeddings.q"]
            assert table.data_type == onnx.TensorProto.INT8
            assert list(inits["word_embeddings.scale"].dims) == [table.dims[0], 1]
            assert "word_embeddings" not in inits  # no float copy of the table
            # SmoothQuant: the QKV and FFN inputs are divided per channel by a Mul with
            # constant factors; the attention output's factors are folded into the value
            # projection (no node); biases ride inside the int8 matmuls.
            made_by = {out: n for n in model.graph.node for out in n.output}
            layers = json.loads((folder / "config.json").read_text())["num_hidden_layers"]
            matmuls = [n for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"]
            feeders = [made_by[n.input[0]] for n in matmuls]
            assert sorted(f.op_type for f in feeders) == ["Gather"] + ["Mul"] * (2 * layers) + [
                "QAttention"
            ] * (layers - 1)
            assert all(
                f.input[1] in inits and f.input[1].endswith(".inv_s")
                for f in feeders
                if f.op_type == "Mul"
            )
            assert all(len(n.input) == 5 and n.input[4] in inits for n in matmuls)
            quantized_inputs = [
                made_by[n.input[0]]
                for n in model.graph.node
                if n.op_type == "DynamicQuantizeLinear"
            ]
            assert len(quantized_inputs) == layers
            assert all(f.op_type == "Mul" for f in quantized_inputs)
        else:
            assert inits["word_embeddings"].data_type == onnx.TensorProto.FLOAT
        # weights live in one page-aligned external file beside the graph
        external = [t for t in inits.values() if t.data_location == onnx.TensorProto.EXTERNAL]
        assert external and {
            e.value for t in external for e in t.external_data if e.key == "location"
        } == {path.name + ".data"}
        assert all(
            int(e.value) % 4096 == 0 for t in external for e in t.external_data if e.key == "offset"
        )
    data = (runtime_dir(folder) / "model.int8.onnx.data").stat().st_size
    assert data < (runtime_dir(folder) / "model.fp32.onnx.data").stat().st_size


def test_manifest_and_convert_once(folder: Path) -> None:
    progress = Calls()
    path = ensure_runtime_file(folder, "int8", progress)
    assert progress.calls and progress.calls[-1][0] == progress.calls[-1][1]
    manifest = json.loads((runtime_dir(folder) / "manifest.json").read_text())
    assert manifest["converter_version"] == CONVERTER_VERSION
    source = manifest["source"]["model.safetensors"]
    assert source["sha256"] == sha256_file(folder / "model.safetensors")
    assert manifest["outputs"]["int8"]["precision"] == "int8"
    mtime = path.stat().st_mtime_ns

    again = Calls()
    assert ensure_runtime_file(folder, "int8", again) == path
    assert again.calls == [] and path.stat().st_mtime_ns == mtime

    # Touched but identical weights: re-hashed once, not reconverted; new mtime remembered.
    os.utime(folder / "model.safetensors", ns=(1_000_000_000, 1_000_000_000))
    assert ensure_runtime_file(folder, "int8", again) == path
    assert again.calls == [] and path.stat().st_mtime_ns == mtime
    manifest = json.loads((runtime_dir(folder) / "manifest.json").read_text())
    assert manifest["source"]["model.safetensors"]["mtime_ns"] == 1_000_000_000


def test_changed_source_or_converter_reconverts(folder: Path) -> None:
    before = RouterEngine.load(folder, "int8").predict(["hello there"])[0].win_rate
    ensure_runtime_file(folder, "fp32")
    # Rewrite the weights with one tensor changed (same size, new mtime): re-hashed, differs.
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors["classifier.out_proj.bias"] = tensors["classifier.out_proj.bias"] + [3.0, 0, 0]
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    calls = Calls()
    after_engine = RouterEngine.load(folder, "int8", progress=calls)
    assert calls.calls, "a changed source must be converted again"
    assert after_engine.predict(["hello there"])[0].win_rate != pytest.approx(before)
    manifest = json.loads((runtime_dir(folder) / "manifest.json").read_text())
    assert set(manifest["outputs"]) == {"int8"}  # the stale fp32 entry is gone
    assert not (runtime_dir(folder) / "model.fp32.onnx").exists()

    manifest["converter_version"] = "0-old"
    (runtime_dir(folder) / "manifest.json").write_text(json.dumps(manifest))
    assert current_runtime_file(folder, "int8") is None
    calls = Calls()
    ensure_runtime_file(folder, "int8", calls)
    assert calls.calls


def test_interrupted_conversion_leaves_nothing_that_looks_valid(folder: Path) -> None:
    class Stop(Exception):
        pass

    def explode(done: int, total: int) -> None:
        if done > total // 2:
            raise Stop

    with pytest.raises(Stop):
        ensure_runtime_file(folder, "int8", explode)
    out = runtime_dir(folder)
    assert not (out / "model.int8.onnx").exists()
    assert [p.name for p in out.iterdir() if ".tmp" in p.name] == []
    assert current_runtime_file(folder, "int8") is None
    # A stale file of the right name but no manifest entry is not trusted either.
    (out / "model.int8.onnx").write_bytes(b"garbage")
    assert current_runtime_file(folder, "int8") is None
    engine = RouterEngine.load(folder, "int8")
    assert 0.0 <= engine.predict(["works again"])[0].win_rate <= 1.0


def test_truncated_output_is_detected(folder: Path) -> None:
    path = ensure_runtime_file(folder, "int8")
    data = path.with_name(path.name + ".data")
    with data.open("r+b") as fh:
        fh.truncate(data.stat().st_size // 2)
    assert current_runtime_file(folder, "int8") is None
    ensure_runtime_file(folder, "int8")
    assert current_runtime_file(folder, "int8") == path


def test_unwritable_folder_is_a_conversion_error(folder: Path) -> None:
    if os.geteuid() == 0:  # root ignores permissions: make the target a file instead
        (folder / runtime_files.RUNTIME_DIR).write_text("not a folder")
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(ConversionError, match="cannot create"):
            ensure_runtime_file(folder, "int8")
    finally:
        folder.chmod(0o755)


def test_bf16_and_fp16_checkpoints_convert(checkpoint_factory: Callable[..., Path]) -> None:
    ref = RouterEngine.load(checkpoint_factory(layout="xlmr"), "fp32").predict(["hello"])
    half = checkpoint_factory(layout="xlmr", dtype="float16")
    got = RouterEngine.load(half, "fp32").predict(["hello"])
    assert np.isfinite(got[0].win_rate)
    assert abs(got[0].win_rate - ref[0].win_rate) < 0.05
