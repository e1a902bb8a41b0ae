"""safetensors -> ONNX graph of the router, built with the ``onnx`` helper API (no torch).

The graph uses ONNX Runtime's fused attention kernels (com.microsoft Attention/QAttention) and
DynamicQuantizeMatMul, and plain ONNX LayerNormalization and Gelu where ONNX Runtime's fused
alternatives measured slower. Weights are streamed tensor by tensor from the memory-mapped
checkpoint into an external data file (page-aligned so ONNX Runtime can map it), so conversion
never holds more than one layer's tensors in memory.

Graph inputs (computed by the engine): ``input_ids`` int64 [B, S], ``position_ids`` int64
[B, S] (RoBERTa's padding-aware positions or BERT's 0..n-1), ``attention_mask`` int32
[B, S]. Output: ``logits`` float32 [B, num_labels].

int8: the word-embedding table is int8 with a per-row scale (Gather, then dequantize only the
gathered rows); every encoder matmul has int8 weights with per-column scales, and its input
is quantized per tensor at run time after SmoothQuant smoothing (each input channel divided
by a factor measured on calibration prompts, the weight row multiplied by it; see
calibration.py); the tiny classification head stays float32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from localrouter.routellm.conversion.calibration import ActivationRanges
from localrouter.routellm.conversion.checkpoint import Checkpoint
from localrouter.routellm.conversion.quantize import (
    quantize_columns,
    quantize_rows,
    smoothing_factors,
)
from localrouter.routellm.precision import CONVERTER_VERSION, Precision, ProgressCallback

OPSET = 20  # Gelu
_ALIGN = 4096  # page-aligned external data: ONNX Runtime can memory-map it
_INLINE_BYTES = 1024
_EMBED_CHUNK_ROWS = 16384


class _ExternalData:
    """Appends raw tensor bytes to one file and returns TensorProtos pointing into it."""

    def __init__(self, fh: BinaryIO, location: str) -> None:
        self._fh = fh
        self._location = location
        self._offset = 0

    def _begin(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> TensorProto:
        pad = (-self._offset) % _ALIGN
        if pad:
            self._fh.write(b"\0" * pad)
            self._offset += pad
        t = TensorProto()
        t.name = name
        t.data_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        t.dims.extend(shape)
        t.data_location = TensorProto.EXTERNAL
        return t

    def _end(self, t: TensorProto, start: int) -> TensorProto:
        for key, value in (
            ("location", self._location),
            ("offset", str(start)),
            ("length", str(self._offset - start)),
        ):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return t

    def add(self, name: str, array: np.ndarray) -> TensorProto:
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
            array = array.copy(order="C")
        if array.nbytes < _INLINE_BYTES:
            return numpy_helper.from_array(array, name)
        t = self._begin(name, array.dtype, array.shape)
        start = self._offset
        self._fh.write(memoryview(array.data).cast("B"))
        self._offset += array.nbytes
        return self._end(t, start)

    def add_chunks(
        self, name: str, dtype: np.dtype, shape: tuple[int, ...], chunks: Iterator[np.ndarray]
    ) -> TensorProto:
        """A large tensor written piece by piece (rows in order)."""
        t = self._begin(name, dtype, shape)
        start = self._offset
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk, dtype=dtype)
            self._fh.write(memoryview(chunk.data).cast("B"))
            self._offset += chunk.nbytes
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if self._offset - start != expected:
            raise ValueError(f"tensor {name} wrote {self._offset - start} of {expected} bytes")
        return self._end(t, start)


class _GraphBuilder:
    # The classifier reads only the first token after the last layer (see ``layer``).
    first_token_only = True

    def __init__(
        self,
        ckpt: Checkpoint,
        precision: Precision,
        data: _ExternalData,
        progress: ProgressCallback | None,
        ranges: ActivationRanges | None,
    ) -> None:
        self.ckpt = ckpt
        self.cfg = ckpt.config
        self.precision = precision
        self.data = data
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self._progress = progress
        self._total = sum(int(np.prod(s)) * 4 for s in ckpt.expected_shapes().values())
        self._done = 0
        self._counter = 0
        # int8 only: activation ranges of the float encoder, measured as layers are built.
        self.ranges = ranges

    # -- bookkeeping -------------------------------------------------------------------
    def _advance(self, n_floats: int) -> None:
        self._done += n_floats * 4
        if self._progress is not None:
            self._progress(min(self._done, self._total), self._total)

    def weight(self, name: str, array: np.ndarray) -> str:
        self.inits.append(self.data.add(name, array))
        return name

    def node(
        self, op: str, inputs: list[str], n_out: int = 1, domain: str = "", **attrs: Any
    ) -> list[str]:
        self._counter += 1
        base = f"{op}_{self._counter}"
        outs = [f"{base}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=base, domain=domain, **attrs))
        return outs

    def src(self, role: str) -> np.ndarray:
        arr = self.ckpt.tensor(role)
        self._advance(arr.size)
        return arr

    def head_src(self, name: str) -> np.ndarray:
        arr = self.ckpt.weights.float32(name)
        self._advance(arr.size)
        return arr

    # -- pieces ------------------------------------------------------------------------
    def smooth_input(self, x: str, name: str, smooth: np.ndarray) -> str:
        """x / smooth, per channel (int8 only; the weights take the factor back)."""
        return self.node("Mul", [x, self.weight(f"{name}.inv_s", 1.0 / smooth)])[0]

    def linear(
        self,
        x: str,
        name: str,
        w_t: np.ndarray,
        bias: np.ndarray | None,
        smooth: np.ndarray | None = None,
        input_divided: bool = False,
    ) -> str:
        """x @ w_t (+ bias): float MatMul + Add, or int8 DynamicQuantizeMatMul with the bias
        inside.

        int8 with ``smooth``: the weight rows are multiplied by the smoothing factors and
        the input divided by them, here or (``input_divided``) already by its producer."""
        if self.precision == "int8":
            if smooth is not None:
                w_t = w_t * smooth[:, None]
                if not input_divided:
                    x = self.smooth_input(x, name, smooth)
            q, scale = quantize_columns(w_t)
            inputs = [x, self.weight(f"{name}.wq", q), self.weight(f"{name}.ws", scale)]
            if bias is not None:
                inputs += ["", self.weight(f"{name}.b", bias)]  # (no zero point: symmetric)
            return self.node("DynamicQuantizeMatMul", inputs, domain="com.microsoft")[0]
        y = self.node("MatMul", [x, self.weight(f"{name}.w", w_t)])[0]
        return self.node("Add", [y, self.weight(f"{name}.b", bias)])[0] if bias is not None else y

    def embeddings(self) -> str:
        cfg = self.cfg
        word_role = "embeddings.word_embeddings.weight"
        rows = cfg.vocab_size
        if self.precision == "int8":
            scales: list[np.ndarray] = []

            def qchunks() -> Iterator[np.ndarray]:
                for start in range(0, rows, _EMBED_CHUNK_ROWS):
                    block = self.ckpt.tensor(word_role, slice(start, start + _EMBED_CHUNK_ROWS))
                    q, s = quantize_rows(block)
                    scales.append(s)
                    self._advance(block.size)
                    yield q

            self.inits.append(
                self.data.add_chunks(
                    "word_embeddings.q", np.dtype(np.int8), (rows, cfg.hidden_size), qchunks()
                )
            )
            scale = self.weight("word_embeddings.scale", np.concatenate(scales).reshape(rows, 1))
            gq = self.node("Gather", ["word_embeddings.q", "input_ids"])[0]
            gf = self.node("Cast", [gq], to=TensorProto.FLOAT)[0]
            gs = self.node("Gather", [scale, "input_ids"])[0]
            word = self.node("Mul", [gf, gs])[0]
        else:

            def fchunks() -> Iterator[np.ndarray]:
                for start in range(0, rows, _EMBED_CHUNK_ROWS):
                    block = self.ckpt.tensor(word_role, slice(start, start + _EMBED_CHUNK_ROWS))
                    self._advance(block.size)
                    yield block

            self.inits.append(
                self.data.add_chunks(
                    "word_embeddings", np.dtype(np.float32), (rows, cfg.hidden_size), fchunks()
                )
            )
            word = self.node("Gather", ["word_embeddings", "input_ids"])[0]
        # Token types are all 0 for a single sequence: fold that row into the positions.
        pos_table = self.src("embeddings.position_embeddings.weight")
        pos_table = pos_table + self.src("embeddings.token_type_embeddings.weight")[0]
        pos = self.node("Gather", [self.weight("position_embeddings", pos_table), "position_ids"])[
            0
        ]
        return self.add_norm(word, pos, "embeddings.LayerNorm", "embeddings.ln")

    def attention(
        self,
        x: str,
        i: int,
        act_max: np.ndarray | None = None,
        divide_values: np.ndarray | None = None,
    ) -> str:
        """Self-attention. int8: ``act_max`` (the input's channel ranges) smooths the QKV
        input; ``divide_values`` divides the value projection's outputs, which is the
        attention output per channel (the next matmul's smoothing, at no run-time cost)."""
        cfg = self.cfg
        p = f"encoder.layer.{i}.attention.self."
        w = np.concatenate(
            [self.src(f"{p}{n}.weight").T for n in ("query", "key", "value")], axis=1
        )
        b = np.concatenate([self.src(f"{p}{n}.bias") for n in ("query", "key", "value")])
        if self.precision == "int8":
            if divide_values is not None:
                d = cfg.hidden_size
                w[:, 2 * d :] /= divide_values
                b[2 * d :] /= divide_values
            if act_max is not None:
                smooth = smoothing_factors(act_max, w)
                x = self.smooth_input(x, f"l{i}.qkv", smooth)
                w = w * smooth[:, None]
            bias = self.weight(f"l{i}.qkv.b", b)
            q, scale = quantize_columns(w)
            xq, xs, xz = self.node("DynamicQuantizeLinear", [x], n_out=3)
            return self.node(
                "QAttention",
                [
                    xq,
                    self.weight(f"l{i}.qkv.wq", q),
                    bias,
                    xs,
                    self.weight(f"l{i}.qkv.ws", scale),
                    "attention_mask",
                    xz,
                ],
                domain="com.microsoft",
                num_heads=cfg.num_heads,
            )[0]
        return self.node(
            "Attention",
            [x, self.weight(f"l{i}.qkv.w", w), self.weight(f"l{i}.qkv.b", b), "attention_mask"],
            domain="com.microsoft",
            num_heads=cfg.num_heads,
        )[0]

    def layer(self, x: str, i: int) -> str:
        cfg = self.cfg
        p = f"encoder.layer.{i}."
        ranges = self.ranges.layer(i) if self.ranges is not None else {}
        o_w = self.src(f"{p}attention.output.dense.weight").T
        o_smooth = smoothing_factors(ranges["ao"], o_w) if ranges else None
        attn = self.attention(x, i, ranges.get("qkv"), o_smooth)
        if i == cfg.num_layers - 1 and self.first_token_only:
            # The head reads only the first token, and after the last attention every op is
            # per token: keep that row alone (less work on long prompts, and int8's activation
            # scales for this layer then fit the one token that matters).
            first = self.weight("first_token", np.array([0], dtype=np.int64))
            attn = self.node("Gather", [attn, first], axis=1)[0]
            x = self.node("Gather", [x, first], axis=1)[0]
        o = self.linear(
            attn,
            f"l{i}.ao",
            o_w,
            self.src(f"{p}attention.output.dense.bias"),
            o_smooth,
            input_divided=True,
        )
        x1 = self.add_norm(o, x, f"{p}attention.output.LayerNorm", f"l{i}.ln1")
        w1, s1 = self._smoothed(f"{p}intermediate.dense", ranges, "ffn1")
        h = self.linear(x1, f"l{i}.ffn1", w1, self.src(f"{p}intermediate.dense.bias"), s1)
        approximate = "none" if cfg.activation == "gelu" else "tanh"
        h = self.node("Gelu", [h], approximate=approximate)[0]
        w2, s2 = self._smoothed(f"{p}output.dense", ranges, "ffn2")
        f = self.linear(h, f"l{i}.ffn2", w2, self.src(f"{p}output.dense.bias"), s2)
        return self.add_norm(f, x1, f"{p}output.LayerNorm", f"l{i}.ln2")

    def _smoothed(
        self, role: str, ranges: dict[str, np.ndarray], key: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(w_t, smoothing factors or None) for ``linear``."""
        w_t = self.src(f"{role}.weight").T
        return w_t, smoothing_factors(ranges[key], w_t) if ranges else None

    def add_norm(self, a: str, b: str, role: str, name: str) -> str:
        """LayerNorm(a + b) with the checkpoint's ``role`` weight and bias. Add +
        LayerNormalization rather than ONNX Runtime's fused SkipLayerNormalization, which is
        ~4x slower on CPU (onnxruntime 1.32, 512x768: 918 vs 234 us)."""
        total = self.node("Add", [a, b])[0]
        gamma = self.weight(f"{name}.g", self.src(f"{role}.weight"))
        beta = self.weight(f"{name}.b", self.src(f"{role}.bias"))
        return self.node(
            "LayerNormalization", [total, gamma, beta], axis=-1, epsilon=self.cfg.layer_norm_eps
        )[0]

    def head(self, x: str) -> str:
        """First token -> dense + tanh -> projection to labels (BERT: pooler + classifier;
        RoBERTa/XLM-R: classifier.dense + classifier.out_proj). Kept in float32."""
        dense, out = self.ckpt.head_names()
        first = self.node("Gather", [x, self.weight("zero", np.array(0, dtype=np.int64))], axis=1)[
            0
        ]
        h = self.node(
            "MatMul", [first, self.weight("head.dense.w", self.head_src(f"{dense}.weight").T)]
        )[0]
        h = self.node("Add", [h, self.weight("head.dense.b", self.head_src(f"{dense}.bias"))])[0]
        h = self.node("Tanh", [h])[0]
        y = self.node("MatMul", [h, self.weight("head.out.w", self.head_src(f"{out}.weight").T)])[0]
        return self.node("Add", [y, self.weight("head.out.b", self.head_src(f"{out}.bias"))])[0]

    def build(self) -> onnx.ModelProto:
        x = self.encoder()
        logits = self.head(x)
        return self.model("router", logits, "logits", ["batch", self.cfg.num_labels])

    def encoder(self) -> str:
        """The embeddings and every layer: the last hidden state's name."""
        x = self.embeddings()
        for i in range(self.cfg.num_layers):
            x = self.layer(x, i)
        return x

    def model(self, kind: str, value: str, output: str, shape: list[str | int]) -> onnx.ModelProto:
        """The graph so far as a model taking the encoder's three inputs, ``value`` its one
        output named ``output``."""
        self.nodes.append(helper.make_node("Identity", [value], [output], name="output"))
        dims = ["batch", "seq"]
        graph = helper.make_graph(
            self.nodes,
            f"{kind}_{self.cfg.layout}_{self.precision}",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
                helper.make_tensor_value_info("position_ids", TensorProto.INT64, dims),
                helper.make_tensor_value_info("attention_mask", TensorProto.INT32, dims),
            ],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)],
            initializer=self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
            producer_name="localrouter",
            producer_version=CONVERTER_VERSION,
        )
        model.ir_version = 9
        return model


class _EncoderGraphBuilder(_GraphBuilder):
    """The encoder without a head, for sentence embeddings: output ``last_hidden_state``
    float32 [B, S, hidden] (every token; the caller pools as the model's config says)."""

    first_token_only = False

    def build(self) -> onnx.ModelProto:
        shape: list[str | int] = ["batch", "seq", self.cfg.hidden_size]
        return self.model("encoder", self.encoder(), "last_hidden_state", shape)


def _drop_cached_pages(fd: int) -> None:
    """Evict the just-written weights from the page cache. Freshly written pages can sit in
    large folios, and the first session mapping them would then count a whole folio per
    gathered embedding row: ~100 MB more RSS at a 128-token prompt, measured. Re-read
    pages come back at normal size."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def write_onnx(
    ckpt: Checkpoint,
    precision: Precision,
    onnx_path: Path,
    data_path: Path,
    data_location: str,
    progress: ProgressCallback | None = None,
) -> None:
    """Write the graph to ``onnx_path`` and its weights to ``data_path``; the graph refers to
    the weights by ``data_location`` (the data file's final name, beside the graph). Both
    files are flushed to disk before returning; callers rename them into place."""
    # The tokenizer's backend verdict (see tokenizer.py) is cached beside the output, where
    # the engine will look for it.
    ranges = (
        ActivationRanges.for_checkpoint(ckpt, cache_dir=data_path.parent)
        if precision == "int8"
        else None
    )
    _write(_GraphBuilder, ckpt, precision, onnx_path, data_path, data_location, progress, ranges)


def write_encoder_onnx(
    ckpt: Checkpoint,
    precision: Precision,
    onnx_path: Path,
    data_path: Path,
    data_location: str,
    progress: ProgressCallback | None = None,
) -> None:
    """Like :func:`write_onnx`, but the graph is the encoder alone (``last_hidden_state``),
    for sentence embeddings. int8 quantizes the weights without SmoothQuant smoothing (its
    calibration runs the classifier); callers check that int8 keeps their ranking."""
    _write(
        _EncoderGraphBuilder, ckpt, precision, onnx_path, data_path, data_location, progress, None
    )


def _write(
    builder_class: type[_GraphBuilder],
    ckpt: Checkpoint,
    precision: Precision,
    onnx_path: Path,
    data_path: Path,
    data_location: str,
    progress: ProgressCallback | None,
    ranges: ActivationRanges | None,
) -> None:
    with data_path.open("wb") as fh:
        builder = builder_class(ckpt, precision, _ExternalData(fh, data_location), progress, ranges)
        model = builder.build()
        fh.flush()
        os.fsync(fh.fileno())
        _drop_cached_pages(fh.fileno())
    with onnx_path.open("wb") as fh:
        fh.write(model.SerializeToString())
        fh.flush()
        os.fsync(fh.fileno())
