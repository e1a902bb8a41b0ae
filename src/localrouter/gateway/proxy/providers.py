"""Upstreams: any OpenAI-compatible server, by ``base_url`` and a key from the config or the
environment. One shared ``httpx.AsyncClient`` (connection pooling, keep-alive) serves all
providers; timeouts come from each provider's settings.

Keys come only from settings (``api_key``) or the environment (``api_key_env``), never from
request bodies or the caller's headers; :func:`scrub` removes them from any text we echo or log.
"""

from __future__ import annotations

import http.cookiejar
import os
import urllib.request
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

from localrouter.gateway.apis.anthropic_messages import upstream_headers
from localrouter.gateway.proxy.transport import FastHTTPTransport
from localrouter.settings import ProviderSettings, Settings

# Upstream connections, all providers together. Keep-alive connections are reused across
# requests; a burst above the keep-alive limit would pay new TCP (and TLS) handshakes, so the
# limits are generous. Beyond ``max_connections`` a request waits for a free connection up
# to its provider's ``timeout_secs`` (the pool timeout).
LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30)
# https: httpcore's pool bookkeeping costs O(n^2) in its open connections on every request
# start and end. Several small pools ("lanes"), used round-robin, keep n small; each lane
# has its share of LIMITS. Plain http:// goes through one FastHTTPTransport (no such cost).
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
    """The shared HTTP clients and how requests to a provider are built."""

    def __init__(self, lanes: int = LANES, limits: httpx.Limits = LIMITS) -> None:
        ssl_context = httpx.create_ssl_context()  # loading CA certificates once, not per lane
        # Plain-http upstreams (the local servers) use the lean transport, called directly:
        # nothing of a client's per-request work (auth, redirects, cookies, event hooks)
        # applies to a relayed request. https keeps httpx's transport (and so does http when
        # an HTTP proxy is configured in the environment).
        self.http: FastHTTPTransport | None = None
        if not any(os.environ.get(name) for name in _HTTP_PROXY_VARS):
            self.http = FastHTTPTransport(limits=limits)
        lane_limits = httpx.Limits(
            max_connections=_share(limits.max_connections, lanes),
            max_keepalive_connections=_share(limits.max_keepalive_connections, lanes),
            keepalive_expiry=limits.keepalive_expiry,
        )
        self.clients = [
            httpx.AsyncClient(
                verify=ssl_context,
                limits=lane_limits,
                timeout=httpx.Timeout(120.0, connect=5.0),
                follow_redirects=False,
                cookies=_NoCookies(),
            )
            for _ in range(lanes)
        ]
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
        """Send once (never resent); the answer's body is left to stream."""
        if self.http is not None and request.url.scheme == "http":
            return await self.http.handle_async_request(request)
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        for client in self.clients:
            await client.aclose()


def _share(total: int | None, lanes: int) -> int | None:
    return None if total is None else max(1, total // lanes)


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing (httpx's ``cookies=`` accepts any CookieJar): the
    gateway is not a browser, and upstream cookies must not leak from one caller to the
    next."""

    def extract_cookies(self, response: object, request: urllib.request.Request) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None
