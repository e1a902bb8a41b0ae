"""Embedders: how a prompt becomes a vector (README "Trained routers").

- ``bert``: the installed RouteLLM model's encoder, first token (no second model);
- a local folder of a sentence-embedding model (BERT / RoBERTa / XLM-R layout);
- ``hf:REPO_ID``: such a model downloaded into ``HOME/embedders/hf`` like the router model;
- ``provider/model``: an OpenAI-compatible embeddings upstream from settings' providers.

Every embedder comes wrapped in the text-hash cache (cache.py).
"""

from __future__ import annotations

from pathlib import Path

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.precision import Precision
from localrouter.routers.trained.embedders.base import Embedder
from localrouter.routers.trained.embedders.cache import CachedEmbedder

__all__ = ["DEFAULT_MAX_TOKENS", "Embedder", "cache_root", "make_embedder"]

DEFAULT_MAX_TOKENS = 128


def cache_root(home: Path) -> Path:
    return home / "embedders"


def make_embedder(
    spec: str,
    home: Path,
    precision: Precision = "fp32",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    *,
    cache_writes: bool = False,
    threads: int = 0,
) -> CachedEmbedder:
    """The embedder named by ``spec``; raises RouterUnavailable with a sentence naming what
    is missing. ``cache_writes``: store computed vectors (training) or only read them.
    ``threads``: ONNX Runtime threads (0: one per core, best for batches; 1 is fastest for
    one short prompt at a time, as a router embeds)."""
    from localrouter.routers.trained.embedders.onnx_encoder import (
        OnnxEncoderEmbedder,
        PoolingSpec,
    )

    onnx_cache = cache_root(home) / "onnx"
    db = cache_root(home) / "cache.db"
    local: OnnxEncoderEmbedder | None = None
    if spec == "bert":
        from localrouter.routellm.acquisition.install import installed_model_dir

        model_dir = installed_model_dir(home)
        if model_dir is None:
            raise RouterUnavailable(
                "embedder 'bert' needs the RouteLLM model: run `localrouter routellm download`"
            )
        local = OnnxEncoderEmbedder(
            spec, model_dir, onnx_cache, precision, max_tokens, PoolingSpec("cls", False), threads
        )
    elif spec.startswith("hf:"):
        from localrouter.routers.trained.embedders.hub import hub_model_dir

        model_dir = hub_model_dir(home, spec[3:])
        local = OnnxEncoderEmbedder(
            spec, model_dir, onnx_cache, precision, max_tokens, threads=threads
        )
    elif Path(spec).expanduser().is_dir():
        folder = Path(spec).expanduser().resolve()
        local = OnnxEncoderEmbedder(
            spec, folder, onnx_cache, precision, max_tokens, threads=threads
        )
    if local is not None:
        return CachedEmbedder(local, local.identity, db, cache_writes)
    if "/" in spec and not spec.startswith((".", "/", "~")):
        from localrouter.paths import settings_path
        from localrouter.routers.trained.embedders.remote import RemoteEmbedder
        from localrouter.settings import SettingsError, load_settings

        provider_name, model = spec.split("/", 1)
        try:
            provider = load_settings(settings_path(home), create=False).provider(provider_name)
        except SettingsError as exc:
            raise RouterUnavailable(f"embedder {spec!r} needs the settings ({exc})") from None
        if provider is None:
            raise RouterUnavailable(
                f"embedder {spec!r} is neither a folder nor a configured provider/model "
                f"(no provider named {provider_name!r})"
            )
        remote = RemoteEmbedder(spec, provider, model)
        return CachedEmbedder(remote, f"remote:{spec}", db, write=True)
    raise RouterUnavailable(
        f"embedder {spec!r} is not 'bert', 'hf:REPO_ID', a model folder or provider/model"
    )
