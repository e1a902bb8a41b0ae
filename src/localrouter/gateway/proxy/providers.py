"""Upstreams: any OpenAI-compatible server, by ``base_url`` and a key from the config or the
environment. One shared ``httpx.AsyncClient`` (connection pooling, keep-alive) serves all
providers; timeouts come from each provider's settings.

Keys come only from settings (``api_key``) or the environment (``api_key_env``), never from
request bodies or the caller's headers; :func:`scrub` removes them from any text we echo or log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

from localrouter.gateway.apis.anthropic_messages import upstream_headers
from localrouter.gateway.proxy.transport import FastHTTPTransport
from localrouter.settings import ProviderSettings, Settings

# Keep-alive connections are reused across requests; a burst above the keep-alive limit would
# pay new TCP (and TLS) handshakes, so the limits are generous.
_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=64, keepalive_expiry=30)
# httpcore's pool bookkeeping costs O(n^2) in its open connections on every request start and
# end (measured: the largest CPU cost of a proxied request at concurrency 50). Several small
# pools ("lanes"), used round-robin, keep n small; each lane is a normal pooled client.
LANES = 8
_HTTP_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True, slots=True)
class Target:
    """One ``provider/model`` an attempt goes to."""

    ref: str  # "provider/model" as configured or requested
    provider: ProviderSettings
    model: str  # the model name the upstream knows

    @property
    def provider_name(self) -> str:
        return self.provider.name


# An Anthropic client's own ``anthropic-version`` / ``anthropic-beta`` headers, set by the
# pipeline for the request in flight: a native request needs the betas its body relies on.
# (A context variable, so the fallback chain's request building needs no extra argument.)
ANTHROPIC_CLIENT_HEADERS: ContextVar[dict[str, str] | None] = ContextVar(
    "anthropic_client_headers", default=None
)

# The generation path of each provider API, under its base_url (which ends in /v1).
API_PATHS = {
    "openai-chat": "/chat/completions",
    "openai-responses": "/responses",
    "anthropic": "/messages",
}


def split_ref(ref: str) -> tuple[str, str]:
    provider, _, model = ref.partition("/")
    return provider, model


def target_for(settings: Settings, ref: str) -> Target | None:
    """The target of ``provider/model``, or None when the provider is not configured."""
    name, model = split_ref(ref)
    provider = settings.provider(name)
    if provider is None or not model:
        return None
    return Target(ref, provider, model)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced, for anything echoed to clients or logged."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


class Upstreams:
    """The shared HTTP client and how requests to a provider are built."""

    def __init__(self, lanes: int = LANES) -> None:
        ssl_context = httpx.create_ssl_context()  # loading CA certificates once, not per lane
        # Plain-http upstreams (the local servers) use the lean transport; https keeps httpx's
        # (and so does http when an HTTP proxy is configured in the environment).
        self._fast = FastHTTPTransport()
        mounts: dict[str, httpx.AsyncBaseTransport] = {}
        if not any(os.environ.get(name) for name in _HTTP_PROXY_VARS):
            mounts["http://"] = self._fast
        self.clients = [
            httpx.AsyncClient(
                mounts=mounts,
                verify=ssl_context,
                limits=_LIMITS,
                timeout=httpx.Timeout(120.0, connect=5.0),
                follow_redirects=False,
            )
            for _ in range(lanes)
        ]
        for client in self.clients:
            _ignore_cookies(client)
        self._next = 0
        self._timeouts: dict[tuple[float, float], dict[str, float | None]] = {}
        self._urls: dict[str, httpx.URL] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        """The next lane's client (round-robin)."""
        self._next = (self._next + 1) % len(self.clients)
        return self.clients[self._next]

    def _timeout(self, provider: ProviderSettings) -> dict[str, float | None]:
        key = (provider.timeout_secs, provider.connect_timeout_secs)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # read/write: the provider's timeout (time between bytes, not the whole answer,
            # so long streams are fine); pool: waiting for a free pooled connection.
            timeout = httpx.Timeout(
                provider.timeout_secs,
                connect=provider.connect_timeout_secs,
                pool=provider.timeout_secs,
            ).as_dict()
            self._timeouts[key] = timeout
        return timeout

    def build(self, target: Target, path: str, body: bytes) -> httpx.Request:
        provider = target.provider
        # identity: bodies are relayed byte for byte (a gzipped SSE stream would reach the
        # client still compressed but without its content-encoding header).
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "accept-encoding": "identity",
        }
        if provider.headers:
            headers.update(provider.headers)
        key = provider.resolve_api_key()
        if provider.api == "anthropic":
            # x-api-key; anthropic-version / -beta from the client, the configured headers or
            # the default version
            client = ANTHROPIC_CLIENT_HEADERS.get()
            wanted = {**provider.headers, **client} if client else provider.headers
            headers.update(upstream_headers(key, wanted))
        elif key:
            headers["authorization"] = f"Bearer {key}"
        raw_url = provider.base_url + path
        url = self._urls.get(raw_url)
        if url is None:  # parsing a URL is a measurable part of a request's cost
            url = self._urls[raw_url] = httpx.URL(raw_url)
        # A plain Request, not client.build_request(): nothing of the client's defaults
        # (headers, cookies, params) applies, and merging them cost more than the request.
        return httpx.Request(
            "POST",
            url,
            content=body,
            headers=headers,
            extensions={"timeout": self._timeout(provider)},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send on the next lane; the answer's body is left to stream."""
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class _NoCookies(httpx.Cookies):
    """Upstream cookies are never kept: the gateway is not a browser, and httpx's cookie
    extraction (urllib and email objects per response) was a large share of a request's
    CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _ignore_cookies(client: httpx.AsyncClient) -> None:
    # httpx has no switch for this; its cookie jar lives in ``_cookies``. Should that name
    # change, cookies are merely kept again (slower, same behaviour for the gateway).
    if isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        client._cookies = _NoCookies()


def provider_secrets(settings: Settings) -> list[str]:
    """Every configured key (config or environment), for :func:`scrub`."""
    keys = []
    for provider in settings.providers:
        key = provider.resolve_api_key()
        if key:
            keys.append(key)
    return keys
