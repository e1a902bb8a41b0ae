"""Tokenization identical to Hugging Face's for the router checkpoint.

Fast path: ``tokenizer.json`` through the ``tokenizers`` library, as transformers' fast
tokenizer does (any model type: XLM-R's Unigram, BERT's WordPiece, ...). Fallback when only
``sentencepiece.bpe.model`` exists: the same ``tokenizers`` pipeline transformers builds from
it for XLM-R (a SentencePiece *unigram* model; fairseq ids <s>=0 <pad>=1 </s>=2 <unk>=3,
spm piece p -> p + 1, <mask> last). Either way inputs become ``<s> tokens </s>`` truncated to
``model_max_length`` the way ``truncation=True`` does (the closing token is kept).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from localrouter.routellm.errors import CheckpointError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_JSON = "tokenizer.json"
SENTENCEPIECE_MODEL = "sentencepiece.bpe.model"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
_HUGE = 10**12  # transformers' "no limit" sentinel is 1e30


@dataclass(frozen=True, slots=True)
class Encoded:
    ids: list[int]
    truncated: bool


def _read_optional_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def _token_str(value: object, default: str) -> str:
    if isinstance(value, dict):  # serialized AddedToken
        value = value.get("content")
    return value if isinstance(value, str) and value else default


class RouterTokenizer:
    """Encodes prompts into model input ids; safe to share between threads."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_id: int, source: str) -> None:
        self._tok = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id
        self.source = source  # which file the vocabulary came from

    @classmethod
    def load(
        cls, model_dir: Path, max_positions: int | None = None, pad_token_id: int | None = None
    ) -> RouterTokenizer:
        """Load from ``model_dir``; ``max_positions`` (tokens the model can take) caps the
        length when tokenizer_config.json sets none."""
        model_dir = Path(model_dir)
        config = _read_optional_json(model_dir / TOKENIZER_CONFIG)
        specials = {**_read_optional_json(model_dir / SPECIAL_TOKENS_MAP), **config}
        if (model_dir / TOKENIZER_JSON).is_file():
            source = TOKENIZER_JSON
            tok = _from_tokenizer_json(model_dir / TOKENIZER_JSON)
        elif (model_dir / SENTENCEPIECE_MODEL).is_file():
            source = SENTENCEPIECE_MODEL
            tok = _from_sentencepiece(model_dir / SENTENCEPIECE_MODEL, specials)
        else:
            raise CheckpointError(
                f"{model_dir} has neither {TOKENIZER_JSON} nor {SENTENCEPIECE_MODEL}"
            )
        limit = config.get("model_max_length")
        if not isinstance(limit, int | float) or isinstance(limit, bool) or limit >= _HUGE:
            limit = max_positions if max_positions is not None else 512
        max_length = int(limit)
        if max_positions is not None:
            max_length = min(max_length, max_positions)
        # tokenizer.json may carry its own padding/truncation (e.g. 128 for sentence
        # transformers); transformers overrides them per call, so do we.
        tok.no_padding()
        tok.enable_truncation(
            max_length,
            strategy="longest_first",
            direction="left" if config.get("truncation_side") == "left" else "right",
        )
        pad_token = _token_str(specials.get("pad_token"), "<pad>")
        pad_id = tok.token_to_id(pad_token)
        if pad_id is None:
            pad_id = pad_token_id if pad_token_id is not None else 0
        return cls(tok, max_length, pad_id, source)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=True)
        return [Encoded(e.ids, bool(e.overflowing)) for e in encodings]


def _from_tokenizer_json(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception on bad input
        raise CheckpointError(f"{path} is not a valid tokenizer file ({exc})") from None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Top-level (field number, value) pairs of a protobuf message (wire format)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        out.append((field, value))
    return out


def read_sentencepiece(path: Path) -> tuple[list[tuple[str, float]], bytes | None]:
    """(pieces with scores, precompiled normalizer charsmap) of a SentencePiece model file.
    A small wire-format reader: ModelProto.pieces = 1 {piece = 1, score = 2},
    ModelProto.normalizer_spec = 3 {precompiled_charsmap = 2}."""
    pieces: list[tuple[str, float]] = []
    charsmap: bytes | None = None
    for field, value in _fields(path.read_bytes()):
        if field == 1 and isinstance(value, bytes):
            piece, score = "", 0.0
            for f, v in _fields(value):
                if f == 1 and isinstance(v, bytes):
                    piece = v.decode("utf-8")
                elif f == 2 and isinstance(v, bytes):
                    (score,) = struct.unpack("<f", v)
            pieces.append((piece, score))
        elif field == 3 and isinstance(value, bytes):
            for f, v in _fields(value):
                if f == 2 and isinstance(v, bytes) and v:
                    charsmap = v
    return pieces, charsmap


def _from_sentencepiece(path: Path, specials: dict) -> Tokenizer:
    """The pipeline transformers' XLMRobertaTokenizer builds from a sentencepiece model."""
    from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    try:
        pieces, charsmap = read_sentencepiece(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a valid SentencePiece model ({exc})") from None
    if len(pieces) < 4:
        raise CheckpointError(f"{path} is not a valid SentencePiece model (too few pieces)")
    bos = _token_str(specials.get("bos_token"), "<s>")
    pad = _token_str(specials.get("pad_token"), "<pad>")
    eos = _token_str(specials.get("eos_token"), "</s>")
    unk = _token_str(specials.get("unk_token"), "<unk>")
    mask = _token_str(specials.get("mask_token"), "<mask>")
    # fairseq order: spm's <unk>, <s>, </s> (ids 0-2) are replaced by four specials.
    vocab = [(bos, 0.0), (pad, 0.0), (eos, 0.0), (unk, 0.0), *pieces[3:], (mask, 0.0)]
    tok = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    if charsmap is not None:
        tok.normalizer = normalizers.Precompiled(charsmap)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        ]
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in (bos, pad, eos, unk, mask)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, 0), (eos, 2)],
    )
    return tok
