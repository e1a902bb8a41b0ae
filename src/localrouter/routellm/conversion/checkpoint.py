"""Read a Hugging Face sequence-classification checkpoint folder without torch.

Supports the RouteLLM router (``XLMRobertaForSequenceClassification``) and the same encoder
under ``RobertaForSequenceClassification`` and ``BertForSequenceClassification``. Every
dimension comes from ``config.json``; weights are read from ``model.safetensors`` with the
``safetensors`` library (memory-mapped), so a tensor (or some rows) is read only when asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from safetensors import SafetensorError, safe_open

from localrouter.routellm.errors import CheckpointError

Layout = Literal["xlmr", "roberta", "bert"]
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NUM_LABELS = 3  # RouteLLM: strong wins / tie / weak wins

_ARCHITECTURES: dict[str, Layout] = {
    "XLMRobertaForSequenceClassification": "xlmr",
    "RobertaForSequenceClassification": "roberta",
    "BertForSequenceClassification": "bert",
}
_MODEL_TYPES: dict[str, Layout] = {"xlm-roberta": "xlmr", "roberta": "roberta", "bert": "bert"}
# Bare encoders (sentence-embedding models): accepted with ``encoder_only=True``.
_ENCODER_ARCHITECTURES: dict[str, Layout] = {
    "XLMRobertaModel": "xlmr",
    "RobertaModel": "roberta",
    "BertModel": "bert",
}
# Activations the graph builder knows: exact erf GELU, and the tanh approximation.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
}


@dataclass(frozen=True, slots=True)
class ModelConfig:
    layout: Layout
    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int
    num_labels: int
    activation: str  # "gelu" | "gelu_tanh"

    @property
    def position_offset(self) -> int:
        """RoBERTa/XLM-R positions start at padding_idx + 1; BERT's at 0."""
        return 0 if self.layout == "bert" else self.pad_token_id + 1

    @property
    def max_tokens(self) -> int:
        """The longest input the position table allows."""
        return self.max_positions - self.position_offset


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return data


def read_config(model_dir: Path, *, encoder_only: bool = False) -> ModelConfig:
    """Parse and check ``config.json``; raises CheckpointError naming the problem.
    ``encoder_only``: the encoder is all that will be used (sentence embeddings), so bare
    encoder architectures are accepted and the label count is not checked."""
    path = Path(model_dir) / CONFIG_FILE
    raw = _read_json(path)
    archs = raw.get("architectures") or []
    known = {**_ARCHITECTURES, **_ENCODER_ARCHITECTURES} if encoder_only else _ARCHITECTURES
    arch = next((a for a in archs if a in known), None)
    if arch is None and archs:
        raise CheckpointError(
            f"{path} names architecture {archs[0]!r}; supported: {', '.join(known)}"
        )
    if arch is None:
        layout = _MODEL_TYPES.get(str(raw.get("model_type")))
        if layout is None:
            raise CheckpointError(f"{path} names no supported architecture or model_type")
        arch = next(a for a, lay in _ARCHITECTURES.items() if lay == layout)
    layout = known[arch]

    def number(key: str, kind: type[int] | type[float] = int, default: object = None) -> Any:
        value = raw.get(key, default)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckpointError(f"{path} lacks a numeric {key!r}")
        return kind(value)

    num_labels = len(raw["id2label"]) if isinstance(raw.get("id2label"), dict) else None
    num_labels = int(raw.get("num_labels", num_labels or 2))
    if num_labels != NUM_LABELS and not encoder_only:
        raise CheckpointError(
            f"{path} declares {num_labels} labels; a RouteLLM router needs {NUM_LABELS}"
        )
    act = str(raw.get("hidden_act", "gelu"))
    if act not in ACTIVATIONS:
        raise CheckpointError(f"{path} uses activation {act!r}, which is not supported")
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{path} uses non-absolute position embeddings")
    cfg = ModelConfig(
        layout=layout,
        architecture=arch,
        hidden_size=number("hidden_size"),
        num_layers=number("num_hidden_layers"),
        num_heads=number("num_attention_heads"),
        intermediate_size=number("intermediate_size"),
        vocab_size=number("vocab_size"),
        max_positions=number("max_position_embeddings"),
        type_vocab_size=number("type_vocab_size", int, 2 if layout == "bert" else 1),
        layer_norm_eps=number("layer_norm_eps", float, 1e-12 if layout == "bert" else 1e-5),
        pad_token_id=number("pad_token_id", int, 0 if layout == "bert" else 1),
        num_labels=num_labels,
        activation=ACTIVATIONS[act],
    )
    if cfg.hidden_size % cfg.num_heads:
        raise CheckpointError(f"{path}: hidden_size is not a multiple of num_attention_heads")
    return cfg


# Stored dtypes the converter reads (BF16 through ml_dtypes' numpy type).
_DTYPES = frozenset({"F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"})


class SafeTensors:
    """A read-only view of a ``.safetensors`` file through the ``safetensors`` library (it
    memory-maps the file and checks every offset against its size, so a truncated download
    is reported instead of read as garbage). Its errors become one-sentence
    CheckpointErrors."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path.name} is missing from {self.path.parent}")
        try:
            # The library's stubs leave its methods untyped: keep the handle as Any.
            self._file = cast(Any, safe_open(str(self.path), framework="numpy"))
            self._shapes: dict[str, tuple[int, ...]] = {}
            for name in self._file.keys():  # noqa: SIM118  (a safe_open is not iterable)
                view = self._file.get_slice(name)
                if view.get_dtype() not in _DTYPES:
                    raise CheckpointError(
                        f"{self.path}: tensor {name!r} has unsupported dtype {view.get_dtype()}"
                    )
                self._shapes[name] = tuple(view.get_shape())
                if view.get_dtype() == "BF16":
                    # Registers bfloat16 with numpy; imported only when needed (~0.4 s).
                    import ml_dtypes  # noqa: F401
        except SafetensorError as exc:
            raise CheckpointError(_explain(self.path, exc)) from None

    def __contains__(self, name: str) -> bool:
        return name in self._shapes

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[name]

    def float32(self, name: str, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """The tensor (or some rows: a slice or an index array) as a new float32 array;
        only the rows asked for are read."""
        try:
            if rows is None:
                arr = self._file.get_tensor(name)
            elif isinstance(rows, slice):  # clipped to the rows there are, as numpy does
                arr = self._file.get_slice(name)[slice(*rows.indices(self._shapes[name][0]))]
            else:  # the library slices ranges only: read each distinct row once
                view = self._file.get_slice(name)
                wanted, where = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
                arr = np.concatenate([view[int(r) : int(r) + 1] for r in wanted])[where]
        except SafetensorError as exc:
            raise CheckpointError(_explain(self.path, exc)) from None
        return np.asarray(arr.astype(np.float32, copy=False))

    def close(self) -> None:
        self._file.__exit__(None, None, None)  # unmaps the file


def _explain(path: Path, exc: SafetensorError) -> str:
    detail = str(exc).removeprefix("Error while deserializing header: ").splitlines()[0]
    short = ("header too small", "incomplete metadata", "not fully covered")
    kind = "truncated" if any(s in detail for s in short) else "corrupt"
    return f"{path} is {kind} ({detail})"


_PREFIXES = ("roberta.", "xlm_roberta.", "bert.", "")


class Checkpoint:
    """Config + weights of one checkpoint folder, with tensors addressed by role."""

    def __init__(self, model_dir: Path, *, encoder_only: bool = False) -> None:
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise CheckpointError(f"checkpoint folder {self.model_dir} does not exist")
        self.encoder_only = encoder_only  # no classification head needed (or checked)
        self.config = read_config(self.model_dir, encoder_only=encoder_only)
        self.weights = SafeTensors(self.model_dir / WEIGHTS_FILE)
        prefix = next(
            (p for p in _PREFIXES if f"{p}embeddings.word_embeddings.weight" in self.weights), None
        )
        if prefix is None:
            self.weights.close()
            raise CheckpointError(
                f"{self.weights.path} has no embeddings.word_embeddings.weight tensor"
            )
        self._prefix: str = prefix
        try:
            self._check_shapes()
        except CheckpointError:
            self.weights.close()
            raise

    def name(self, role: str) -> str:
        """Stored tensor name of an encoder tensor ('embeddings...', 'encoder...', 'pooler...')
        or of a head tensor ('classifier...')."""
        return role if role.startswith("classifier") else self._prefix + role

    def head_names(self) -> tuple[str, str]:
        """(dense, output projection) prefixes of the classification head."""
        if self.config.layout == "bert":
            return self.name("pooler.dense"), "classifier"
        return "classifier.dense", "classifier.out_proj"

    def tensor(self, role: str, rows: slice | np.ndarray | None = None) -> np.ndarray:
        return self.weights.float32(self.name(role), rows)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        h, i = c.hidden_size, c.intermediate_size
        shapes: dict[str, tuple[int, ...]] = {
            self.name("embeddings.word_embeddings.weight"): (c.vocab_size, h),
            self.name("embeddings.position_embeddings.weight"): (c.max_positions, h),
            self.name("embeddings.token_type_embeddings.weight"): (c.type_vocab_size, h),
            self.name("embeddings.LayerNorm.weight"): (h,),
            self.name("embeddings.LayerNorm.bias"): (h,),
        }
        for n in range(c.num_layers):
            p = self.name(f"encoder.layer.{n}.")
            for sub in (
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
            ):
                shapes[f"{p}{sub}.weight"] = (h, h)
                shapes[f"{p}{sub}.bias"] = (h,)
            shapes[f"{p}intermediate.dense.weight"] = (i, h)
            shapes[f"{p}intermediate.dense.bias"] = (i,)
            shapes[f"{p}output.dense.weight"] = (h, i)
            shapes[f"{p}output.dense.bias"] = (h,)
            for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
                shapes[f"{p}{ln}.weight"] = (h,)
                shapes[f"{p}{ln}.bias"] = (h,)
        if self.encoder_only:
            return shapes
        dense, out = self.head_names()
        shapes[f"{dense}.weight"] = (h, h)
        shapes[f"{dense}.bias"] = (h,)
        shapes[f"{out}.weight"] = (c.num_labels, h)
        shapes[f"{out}.bias"] = (c.num_labels,)
        return shapes

    def _check_shapes(self) -> None:
        for name, shape in self.expected_shapes().items():
            if name not in self.weights:
                raise CheckpointError(
                    f"{self.weights.path.name} lacks tensor {name!r} expected for "
                    f"{self.config.architecture}"
                )
            if self.weights.shape(name) != shape:
                raise CheckpointError(
                    f"{self.weights.path.name}: tensor {name!r} has shape "
                    f"{list(self.weights.shape(name))}, config.json implies {list(shape)}"
                )

    def close(self) -> None:
        self.weights.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
