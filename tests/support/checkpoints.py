"""Small random RouteLLM-style checkpoints in the real Hugging Face layout.

``make_checkpoint(path)`` writes config.json, model.safetensors (random weights, real tensor
names), and a *trained* SentencePiece unigram tokenizer exported both as
``sentencepiece.bpe.model`` and ``tokenizer.json`` (the fairseq id offset is what
transformers' XLM-R tokenizer applies), plus tokenizer_config.json and
special_tokens_map.json. transformers is used only to export tokenizer.json (dev-only).

Layouts: ``xlmr`` (XLMRobertaForSequenceClassification, the real RouteLLM model),
``roberta`` (RobertaForSequenceClassification) and ``bert`` (BertForSequenceClassification:
positions from 0, two token types, pooler + classifier head).
"""

from __future__ import annotations

import functools
import io
import json
import random
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors.numpy import save_file

Layout = Literal["xlmr", "roberta", "bert"]

# Varied real-world text: the tokenizer's training corpus and the bench's agreement prompts.
SAMPLE_TEXTS = [
    "Hello world, this is a test of the router tokenizer.",
    "What is the capital of France? Answer with one word.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    'for (int i = 0; i < 10; ++i) { printf("%d\\n", i); }',
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    "日本語のテキストです。東京は日本の首都です。",
    "中文文本。北京是中国的首都。我们今天学习数学。",
    "한국어 문장입니다. 서울은 한국의 수도입니다.",
    "مرحبا بالعالم. القاهرة هي عاصمة مصر.",
    "नमस्ते दुनिया। दिल्ली भारत की राजधानी है।",
    "Привет, мир! Москва — столица России.",
    "Straße, café, naïve, façade, jalapeño, Zürich.",
    "emoji 😀🚀🔥 and symbols ∑ ∫ √ π ≈ ≠ ≤ ≥ → ←",
    "Solve for x: 3x + 7 = 22. Show your work step by step.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips.",
    "Which of the following best describes the function of mitochondria in a cell?",
    "The quick brown fox jumps over the lazy dog 1234567890 times.",
]

_WORDS = (
    "the of and to in is that for it as with was on be by this are or from at which an have "
    "not they but we all can has their more one will would there what if about when so up out "
    "other into time only new some could these two may then do first any like now my such make "
    "over our even most me state after also made many did must before back see through way where "
    "get much go well your know should down work year because come people just say each those "
    "take day good how long little own man too very world still between life both under never "
    "model router prompt answer question strong weak gateway token python function error value "
    "number integer matrix vector energy cell protein history economy law theorem proof physics"
).split()


def _corpus(seed: int = 0) -> Iterable[str]:
    rng = random.Random(seed)
    yield from SAMPLE_TEXTS * 20
    for _ in range(3000):
        yield " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 16)))


@functools.lru_cache(maxsize=4)
def train_sentencepiece(vocab_size: int = 1000, seed: int = 0) -> bytes:
    """A real unigram model (as XLM-R's ``sentencepiece.bpe.model`` is), trained on a small
    multilingual corpus; ids 0/1/2 = <unk>/<s>/</s> as in XLM-R's model."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(_corpus(seed))),
        model_writer=buffer,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name="nmt_nfkc",
        num_threads=1,
        minloglevel=2,
    )
    return buffer.getvalue()


def _write_tokenizer(folder: Path, spm_bytes: bytes, max_length: int) -> int:
    """Write both tokenizer forms; returns the tokenizer's vocabulary size (with <mask>)."""
    from transformers import AutoTokenizer

    (folder / "sentencepiece.bpe.model").write_bytes(spm_bytes)
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": max_length,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(folder / "sentencepiece.bpe.model", tmp)
        shutil.copy(folder / "tokenizer_config.json", tmp)
        tok = AutoTokenizer.from_pretrained(tmp)
        tok.save_pretrained(tmp)
        shutil.copy(Path(tmp) / "tokenizer.json", folder / "tokenizer.json")
        vocab = len(tok)
    special = {k: config[k] for k in config if k.endswith("_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    return vocab


def make_checkpoint(
    path: Path,
    *,
    layout: Layout = "xlmr",
    seed: int = 0,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    intermediate: int = 64,
    num_labels: int = 3,
    vocab_size: int | None = None,
    max_position_embeddings: int = 514,
    max_length: int = 512,
    spm_vocab_size: int = 1000,
    weight_std: float = 0.2,
    head_std: float = 0.5,
    tokenizer_files: tuple[str, ...] = ("tokenizer.json", "sentencepiece.bpe.model"),
    dtype: str = "float32",
) -> Path:
    """Write a checkpoint folder at ``path`` and return it.

    ``vocab_size`` defaults to the tokenizer's size; larger values (e.g. 250,002 for the
    real shape) pad the embedding table. The default ``weight_std`` (0.2, larger than a
    trained model's) and ``head_std`` make win rates depend on the prompt and spread over
    (0, 1) instead of all sitting near 0.4.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer_vocab = _write_tokenizer(path, train_sentencepiece(spm_vocab_size), max_length)
    vocab = vocab_size or tokenizer_vocab
    if vocab < tokenizer_vocab:
        raise ValueError(f"vocab_size {vocab} < tokenizer vocabulary {tokenizer_vocab}")
    for name in ("tokenizer.json", "sentencepiece.bpe.model"):
        if name not in tokenizer_files:
            (path / name).unlink()

    rng = np.random.default_rng(seed)
    np_dtype = np.dtype(dtype)

    def normal(*shape: int, std: float = weight_std) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np_dtype)

    def ln(prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.weight": (1.0 + normal(hidden, std=0.05)).astype(np_dtype),
            f"{prefix}.bias": normal(hidden),
        }

    def dense(prefix: str, n_out: int, n_in: int, std: float = weight_std) -> dict:
        return {f"{prefix}.weight": normal(n_out, n_in, std=std), f"{prefix}.bias": normal(n_out)}

    base = "bert" if layout == "bert" else "roberta"
    type_vocab = 2 if layout == "bert" else 1
    tensors: dict[str, np.ndarray] = {
        f"{base}.embeddings.word_embeddings.weight": normal(vocab, hidden),
        f"{base}.embeddings.position_embeddings.weight": normal(max_position_embeddings, hidden),
        f"{base}.embeddings.token_type_embeddings.weight": normal(type_vocab, hidden),
        **ln(f"{base}.embeddings.LayerNorm"),
    }
    for i in range(layers):
        p = f"{base}.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            tensors.update(dense(f"{p}.attention.self.{name}", hidden, hidden))
        tensors.update(dense(f"{p}.attention.output.dense", hidden, hidden))
        tensors.update(ln(f"{p}.attention.output.LayerNorm"))
        tensors.update(dense(f"{p}.intermediate.dense", intermediate, hidden))
        tensors.update(dense(f"{p}.output.dense", hidden, intermediate))
        tensors.update(ln(f"{p}.output.LayerNorm"))
    if layout == "bert":
        tensors.update(dense("bert.pooler.dense", hidden, hidden, std=head_std / 4))
        tensors.update(dense("classifier", num_labels, hidden, std=head_std))
    else:
        tensors.update(dense("classifier.dense", hidden, hidden, std=head_std / 4))
        tensors.update(dense("classifier.out_proj", num_labels, hidden, std=head_std))
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})

    arch = {
        "xlmr": ("XLMRobertaForSequenceClassification", "xlm-roberta"),
        "roberta": ("RobertaForSequenceClassification", "roberta"),
        "bert": ("BertForSequenceClassification", "bert"),
    }[layout]
    config = {
        "architectures": [arch[0]],
        "model_type": arch[1],
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "layer_norm_eps": 1e-5 if layout != "bert" else 1e-12,
        "max_position_embeddings": max_position_embeddings,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "type_vocab_size": type_vocab,
        "vocab_size": vocab,
        "position_embedding_type": "absolute",
        "id2label": {str(i): f"LABEL_{i}" for i in range(num_labels)},
        "label2id": {f"LABEL_{i}": i for i in range(num_labels)},
        "problem_type": "single_label_classification",
        "torch_dtype": dtype,
        "transformers_version": "4.41.2",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    return path
