"""Providers in the admin API: list, add, change, remove, test the connection.

A key typed into the dashboard is stored once in ``HOME/keys/<provider>.key`` (mode 0600,
folder 0700) and settings.yaml names that file (``api_key_file``); an environment variable's
name may be given instead. No answer ever carries a key: only ``has_key`` and where it
comes from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from localrouter.fileio import atomic_write_text
from localrouter.gateway.admin.common import (
    Body,
    read_body,
    state_of,
    update_settings,
    without_userinfo,
)
from localrouter.gateway.errors import ApiError
from localrouter.gateway.state import GatewayState
from localrouter.settings import ProviderApi, ProviderSettings

TEST_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_NAME = r"^[A-Za-z0-9_.-]+$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ProviderBody(Body):
    name: str = Field(pattern=_NAME, max_length=64)
    base_url: str = Field(min_length=1, max_length=2000)
    api: ProviderApi = "openai-chat"
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME)
    api_key: str | None = Field(default=None, min_length=1, max_length=4000, repr=False)
    models: list[str] = Field(default_factory=list)


class ProviderPatch(Body):
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    api: ProviderApi | None = None
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME)
    api_key: str | None = Field(default=None, min_length=1, max_length=4000, repr=False)
    remove_key: bool = False
    models: list[str] | None = None


def key_file(home: Path, name: str) -> Path:
    return home / "keys" / f"{name}.key"


def _store_key(home: Path, name: str, key: str) -> Path:
    """Write the key where only this user can read it (mkstemp files are 0600)."""
    path = key_file(home, name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    atomic_write_text(path, key.strip() + "\n")
    path.chmod(0o600)
    return path


def _drop_key_file(home: Path, provider: ProviderSettings | None) -> None:
    # Only a file the dashboard wrote: a file the user named themselves stays.
    if provider is not None and provider.api_key_file is not None:
        path = Path(provider.api_key_file).expanduser()
        if path.parent == home / "keys":
            path.unlink(missing_ok=True)


def key_source(provider: ProviderSettings) -> str | None:
    if provider.api_key:
        return "config"
    if provider.api_key_env:
        return "env"
    if provider.api_key_file:
        return "file"
    return None


def provider_view(state: GatewayState, provider: ProviderSettings) -> dict[str, Any]:
    """What the dashboard may see of a provider: never the key, nor the variable's value."""
    routing = state.settings.current.routing
    prefix = provider.name + "/"
    return {
        "name": provider.name,
        "base_url": without_userinfo(provider.base_url),
        "api": provider.api,
        "models": list(provider.models),
        "api_key_env": provider.api_key_env,
        "key_source": key_source(provider),
        "has_key": provider.resolve_api_key() is not None,
        "used_in": [
            tier
            for tier in ("strong", "weak")
            if any(ref.startswith(prefix) for ref in getattr(routing, tier))
        ],
    }


def providers_view(state: GatewayState) -> list[dict[str, Any]]:
    return [provider_view(state, p) for p in state.settings.current.providers]


def _find(state: GatewayState, name: str) -> ProviderSettings:
    provider = state.settings.current.provider(name)
    if provider is None:
        raise ApiError(404, f"no provider named {name!r}", "provider_not_found", param="name")
    return provider


def _upstream_request(provider: ProviderSettings) -> tuple[str, dict[str, str]]:
    """The URL and headers of the provider's model list, for its kind of API."""
    headers = dict(provider.headers)
    key = provider.resolve_api_key()
    if provider.api == "anthropic":
        headers.setdefault("anthropic-version", "2023-06-01")
        if key:
            headers["x-api-key"] = key
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    return f"{provider.base_url}/models", headers


async def test_provider(provider: ProviderSettings) -> dict[str, Any]:
    """Ask the upstream for its model list: reachable, key accepted, which models."""
    url, headers = _upstream_request(provider)
    started = time.perf_counter()
    result: dict[str, Any] = {"ok": False, "status_code": None, "models": [], "error": None}
    try:
        async with httpx.AsyncClient(timeout=TEST_TIMEOUT, trust_env=False) as client:
            answer = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not connect"
        result["error"] = f"{kind}: {without_userinfo(url)}"
        return result
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["status_code"] = answer.status_code
    if answer.status_code in (401, 403):
        result["error"] = f"the provider refused the key (HTTP {answer.status_code})"
        return result
    if answer.status_code != 200:
        result["error"] = f"the provider answered HTTP {answer.status_code} to GET /models"
        return result
    try:
        data = answer.json().get("data", [])
        ids = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (ValueError, AttributeError, TypeError):
        result["error"] = "the provider's /models answer is not an OpenAI-style model list"
        return result
    result.update(ok=True, models=[f"{provider.name}/{i}" for i in ids])
    return result


def add_provider_routes(api: APIRouter) -> None:
    """``/api/providers`` on the admin router."""

    @api.get("/providers")
    async def list_providers(request: Request) -> dict[str, Any]:
        return {"providers": providers_view(state_of(request))}

    @api.post("/providers", status_code=201)
    async def add_provider(request: Request) -> dict[str, Any]:
        state = state_of(request)
        body: ProviderBody = await read_body(request, ProviderBody)
        if state.settings.current.provider(body.name) is not None:
            raise ApiError(409, f"a provider named {body.name!r} exists already", "exists")
        if body.api_key and body.api_key_env:
            raise ApiError(400, "give the key or its variable's name, not both", "invalid_body")
        entry: dict[str, Any] = {
            "name": body.name,
            "base_url": body.base_url,
            "api": body.api,
            "models": body.models,
            "api_key_env": body.api_key_env,
        }
        written: Path | None = None
        if body.api_key:
            written = await run_in_threadpool(_store_key, state.home, body.name, body.api_key)
            entry["api_key_file"] = str(written)
        try:
            await run_in_threadpool(
                update_settings, state, lambda data: data["providers"].append(entry)
            )
        except ApiError:
            if written is not None:
                written.unlink(missing_ok=True)
            raise
        return provider_view(state, _find(state, body.name))

    @api.patch("/providers/{name}")
    async def change_provider(request: Request, name: str) -> dict[str, Any]:
        state = state_of(request)
        before = _find(state, name)
        patch: ProviderPatch = await read_body(request, ProviderPatch)
        if patch.api_key and patch.api_key_env:
            raise ApiError(400, "give the key or its variable's name, not both", "invalid_body")
        fields: dict[str, Any] = patch.model_dump(
            exclude_none=True, exclude={"api_key", "remove_key", "api_key_env"}
        )
        if patch.api_key:
            path = await run_in_threadpool(_store_key, state.home, name, patch.api_key)
            fields.update(api_key_file=str(path), api_key_env=None, api_key=None)
        elif patch.api_key_env:
            fields.update(api_key_env=patch.api_key_env, api_key_file=None, api_key=None)
        elif patch.remove_key:
            fields.update(api_key_env=None, api_key_file=None, api_key=None)

        def change(data: dict[str, Any]) -> None:
            for item in data["providers"]:
                if item["name"] == name:
                    item.update(fields)

        await run_in_threadpool(update_settings, state, change)
        if (patch.api_key_env or patch.remove_key) and not patch.api_key:
            await run_in_threadpool(_drop_key_file, state.home, before)
        return provider_view(state, _find(state, name))

    @api.delete("/providers/{name}")
    async def remove_provider(request: Request, name: str) -> dict[str, Any]:
        state = state_of(request)
        provider = _find(state, name)
        used = provider_view(state, provider)["used_in"]
        if used:
            chains = " and ".join(f"the {tier} chain" for tier in used)
            raise ApiError(
                409,
                f"provider {name!r} has models in {chains}; remove them there first",
                "provider_in_use",
            )

        def change(data: dict[str, Any]) -> None:
            data["providers"] = [p for p in data["providers"] if p["name"] != name]

        await run_in_threadpool(update_settings, state, change)
        await run_in_threadpool(_drop_key_file, state.home, provider)
        return {"deleted": name, "providers": providers_view(state)}

    @api.post("/providers/{name}/test")
    async def test_connection(request: Request, name: str) -> dict[str, Any]:
        return await test_provider(_find(state_of(request), name))
