"""Tokenization identical to Hugging Face's for the router checkpoint.

Fast path: ``tokenizer.json`` through the ``tokenizers`` library, as transformers' fast
tokenizer does (any model type: XLM-R's Unigram, BERT's WordPiece, ...). Fallback when only
``sentencepiece.bpe.model`` exists: the same ``tokenizers`` pipeline transformers builds from
it for XLM-R (a SentencePiece *unigram* model; fairseq ids <s>=0 <pad>=1 </s>=2 <unk>=3,
spm piece p -> p + 1, <mask> last). Either way inputs become ``<s> tokens </s>`` truncated to
``model_max_length`` the way ``truncation=True`` does (the closing token is kept).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localrouter.fileio import atomic_write_text
from localrouter.routellm.errors import CheckpointError
from localrouter.routellm.inference.memory import release_memory

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


def _read_optional_json(path: Path) -> dict[str, Any]:
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


class _TokenizersBackend:
    """``tokenizers`` (what transformers' fast tokenizers run)."""

    name = "tokenizers"

    def __init__(self, tok: Tokenizer) -> None:
        self._tok = tok

    def encode(self, texts: list[str]) -> list[Encoded]:
        encodings = self._tok.encode_batch(texts, add_special_tokens=True)
        return [Encoded(e.ids, bool(e.overflowing)) for e in encodings]


class _SentencePieceBackend:
    """XLM-R tokenization straight from ``sentencepiece.bpe.model`` with the sentencepiece
    library. Same ids as the ``tokenizers`` pipeline (checked on load, see
    :func:`_choose_backend`), but for XLM-R's 250k-piece vocabulary it loads about twice as
    fast and takes ~50 MB instead of several hundred: ``tokenizers`` builds a hash-map trie.
    """

    name = "sentencepiece"

    def __init__(self, path: Path, specials: dict[str, Any], max_length: int, left: bool) -> None:
        import re

        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        names = [
            _token_str(specials.get(k), d)
            for k, d in (
                ("bos_token", "<s>"),
                ("pad_token", "<pad>"),
                ("eos_token", "</s>"),
                ("unk_token", "<unk>"),
            )
        ]
        ids = {name: i for i, name in enumerate(names)}  # fairseq: 0..3
        ids[_token_str(specials.get("mask_token"), "<mask>")] = self._sp.get_piece_size() + 1
        self._special_ids = ids
        self._split = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(ids, key=len, reverse=True)) + ")"
        )
        self._bos, self._eos = ids[names[0]], ids[names[2]]
        self._room = max_length - 2
        self._left = left

    def _pieces(self, text: str) -> list[int]:
        out: list[int] = []
        for i, part in enumerate(self._split.split(text)):
            if i % 2:  # a special token matched literally, as the added-token pass does
                out.append(self._special_ids[part])
            elif part:
                out.extend(3 if p == 0 else p + 1 for p in self._sp.encode(part))
        return out

    def encode(self, texts: list[str]) -> list[Encoded]:
        result = []
        for text in texts:
            ids = self._pieces(text)
            cut = len(ids) > self._room
            if cut:
                ids = ids[-self._room :] if self._left else ids[: self._room]
            result.append(Encoded([self._bos, *ids, self._eos], cut))
        return result


# Texts on which both backends must agree before the sentencepiece one is trusted.
_PROBES = [
    "Hello world, what is the capital of France?",
    "  leading, trailing  and   repeated   spaces \t tabs\n\nnewlines  ",
    "def f(x):\n    return {'a': x ** 2}  # comment",
    "日本語のテキストです。北京是中国的首都。한국어 문장입니다.",
    "مرحبا بالعالم नमस्ते दुनिया Привет, мир! Ελληνικά",
    "emoji 😀🚀🔥👍🏽 symbols ∑ ∫ √ π ≈ ≠ ≤ € £ ¥",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ﬁ ① ½ ㎏ Å é é",
    "control\x00\x01\x07chars\u200b\ufeff\u00a0nbsp\u3000ideographic",
    "specials<s>x</s> <pad> y <unk>z <mask> w<mask>",
    "",
    "   ",
    "x " * 700,
]
_CHECK_FILE = "tokenizer_check.json"
_CHECK_VERSION = 1


def _stamp(model_dir: Path) -> dict[str, list[int] | None]:
    out: dict[str, list[int] | None] = {}
    for name in (TOKENIZER_JSON, SENTENCEPIECE_MODEL, TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP):
        try:
            st = (model_dir / name).stat()
            out[name] = [st.st_size, st.st_mtime_ns]
        except OSError:
            out[name] = None
    return out


def _choose_backend(
    model_dir: Path,
    specials: dict[str, Any],
    max_length: int,
    left: bool,
    build_tokenizers: Callable[[], _TokenizersBackend],
    cache_dir: Path | None,
) -> _TokenizersBackend | _SentencePieceBackend:
    """The sentencepiece backend when it provably gives the same ids as ``tokenizers`` on
    the probes; the verdict is cached in ``cache_dir`` (keyed by the tokenizer files' sizes
    and mtimes), so only the first load ever pays for building both."""
    stamp = _stamp(model_dir)
    check = cache_dir / _CHECK_FILE if cache_dir is not None else None
    if check is not None:
        cached = _read_optional_json(check)
        if cached.get("version") == _CHECK_VERSION and cached.get("stamp") == stamp:
            if cached.get("backend") == "sentencepiece":
                return _SentencePieceBackend(
                    model_dir / SENTENCEPIECE_MODEL, specials, max_length, left
                )
            return build_tokenizers()
    reference = build_tokenizers()
    try:
        candidate = _SentencePieceBackend(
            model_dir / SENTENCEPIECE_MODEL, specials, max_length, left
        )
        same = candidate.encode(_PROBES) == reference.encode(_PROBES)
    except Exception:  # an unreadable model: keep the reference
        same = False
    if check is not None:
        with contextlib.suppress(OSError):
            verdict = {
                "version": _CHECK_VERSION,
                "stamp": stamp,
                "backend": "sentencepiece" if same else "tokenizers",
            }
            atomic_write_text(check, json.dumps(verdict), fsync=False)  # a cache
    if same:
        del reference
        release_memory()
        return candidate
    return reference


class RouterTokenizer:
    """Encodes prompts into model input ids; safe to share between threads."""

    def __init__(
        self,
        backend: _TokenizersBackend | _SentencePieceBackend,
        max_length: int,
        pad_id: int,
        source: str,
    ) -> None:
        self._backend = backend
        self.max_length = max_length
        self.pad_id = pad_id
        self.source = source  # which file defines the vocabulary
        self.backend = backend.name

    @classmethod
    def load(
        cls,
        model_dir: Path,
        max_positions: int | None = None,
        pad_token_id: int | None = None,
        *,
        cache_dir: Path | None = None,
        backend: str = "auto",
    ) -> RouterTokenizer:
        """Load from ``model_dir``; ``max_positions`` (tokens the model can take) caps the
        length when tokenizer_config.json sets none. ``backend``: "auto" (sentencepiece for
        XLM-R-style checkpoints when it matches, see :func:`_choose_backend`; the verdict is
        cached in ``cache_dir``), "tokenizers" or "sentencepiece"."""
        model_dir = Path(model_dir)
        config = _read_optional_json(model_dir / TOKENIZER_CONFIG)
        specials = {**_read_optional_json(model_dir / SPECIAL_TOKENS_MAP), **config}
        has_json = (model_dir / TOKENIZER_JSON).is_file()
        has_spm = (model_dir / SENTENCEPIECE_MODEL).is_file()
        if not has_json and not has_spm:
            raise CheckpointError(
                f"{model_dir} has neither {TOKENIZER_JSON} nor {SENTENCEPIECE_MODEL}"
            )
        source = TOKENIZER_JSON if has_json else SENTENCEPIECE_MODEL
        limit = config.get("model_max_length")
        if not isinstance(limit, int | float) or isinstance(limit, bool) or limit >= _HUGE:
            limit = max_positions if max_positions is not None else 512
        max_length = int(limit)
        if max_positions is not None:
            max_length = min(max_length, max_positions)
        left = config.get("truncation_side") == "left"

        def build_tokenizers() -> _TokenizersBackend:
            tok = (
                _from_tokenizer_json(model_dir / TOKENIZER_JSON)
                if has_json
                else _from_sentencepiece(model_dir / SENTENCEPIECE_MODEL, specials)
            )
            # tokenizer.json may carry its own padding/truncation (e.g. 128 for sentence
            # transformers); transformers overrides them per call, so do we.
            tok.no_padding()
            tok.enable_truncation(
                max_length, strategy="longest_first", direction="left" if left else "right"
            )
            return _TokenizersBackend(tok)

        chosen: _TokenizersBackend | _SentencePieceBackend
        if backend == "sentencepiece" and has_spm:
            chosen = _SentencePieceBackend(
                model_dir / SENTENCEPIECE_MODEL, specials, max_length, left
            )
        elif backend == "auto" and has_spm and _is_xlmr_style(config):
            chosen = _choose_backend(
                model_dir, specials, max_length, left, build_tokenizers, cache_dir
            )
        else:
            chosen = build_tokenizers()
        if isinstance(chosen, _TokenizersBackend):
            pad_token = _token_str(specials.get("pad_token"), "<pad>")
            found = chosen._tok.token_to_id(pad_token)
            pad_id = found if found is not None else (pad_token_id or 0)
        else:
            pad_id = 1
        return cls(chosen, max_length, pad_id, source)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return self._backend.encode(list(texts))


def _is_xlmr_style(config: dict[str, Any]) -> bool:
    """A sentencepiece model with fairseq ids (XLM-R, CamemBERT-like): the only layout the
    sentencepiece backend reproduces."""
    return str(config.get("tokenizer_class", "XLMRobertaTokenizer")).startswith(
        "XLMRobertaTokenizer"
    )


def _from_tokenizer_json(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception on bad input
        raise CheckpointError(f"{path} is not a valid tokenizer file ({exc})") from None


def read_sentencepiece(path: Path) -> tuple[list[tuple[str, float]], bytes | None]:
    """(pieces with scores, precompiled normalizer charsmap) of a SentencePiece model file,
    parsed with sentencepiece's own protobuf model class."""
    from sentencepiece import sentencepiece_model_pb2

    # The message classes are built when the module is imported: no static attribute.
    model = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    model.ParseFromString(path.read_bytes())
    pieces = [(p.piece, float(p.score)) for p in model.pieces]
    charsmap = bytes(model.normalizer_spec.precompiled_charsmap) or None
    return pieces, charsmap


def _from_sentencepiece(path: Path, specials: dict[str, Any]) -> Tokenizer:
    """The pipeline transformers' XLMRobertaTokenizer builds from a sentencepiece model."""
    from google.protobuf.message import DecodeError
    from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    try:
        pieces, charsmap = read_sentencepiece(path)
    except (DecodeError, ValueError, UnicodeDecodeError) as exc:
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
