"""Who may reach the gateway from a browser (README "Configuration").

A gateway on 127.0.0.1 is reachable by every page the user opens. This middleware, outermost,
refuses what a page could do that the user did not ask for:

- DNS rebinding: only ``Host`` names of the gateway itself are served (the loopback names and
  addresses, ``server.host``, the address the connection arrived on, all with the gateway's
  port, and ``server.allowed_hosts``); others get 403.
- Cross-origin requests: an ``Origin`` that is neither the gateway's own nor one of
  ``server.cors_origins`` gets 403; without ``Origin``, ``Sec-Fetch-Site: cross-site`` counts
  the same (except a plain navigation, a link the user clicked: GET, nothing changes).
- Simple requests: a POST/PUT/PATCH with a body must be ``application/json`` (415), so an HTML
  form or a ``text/plain`` fetch never reaches an endpoint.
- ``server.cors_origins`` get real CORS on ``/v1`` (preflight answered, headers on answers).

It also applies the body limits of :mod:`localrouter.gateway.request_body` to every request.
What is allowed is computed once per settings snapshot and server address; a request costs a
pass over its headers and a few set lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localrouter.gateway.errors import ApiError
from localrouter.gateway.request_body import limit_body
from localrouter.gateway.state import gateway_state
from localrouter.settings import Settings

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_CORS_PREFIX = "/v1/"
_CORS_METHODS = b"GET, POST, OPTIONS"
# Headers the OpenAI and Anthropic SDKs send; their families by prefix (x-stainless-os, ...).
_CORS_HEADERS = frozenset(
    {"authorization", "content-type", "x-api-key", "anthropic-version", "accept", "x-request-id"}
)
_CORS_HEADER_PREFIXES = ("x-stainless-", "anthropic-", "openai-")
_CORS_EXPOSE = (
    b"x-request-id, x-localrouter-model, x-localrouter-tier, x-localrouter-routed-tier, "
    b"x-localrouter-win-rate, x-localrouter-routing-ms, x-upstream-request-id, retry-after, "
    b"openai-processing-ms, x-ratelimit-limit-requests, x-ratelimit-limit-tokens, "
    b"x-ratelimit-remaining-requests, x-ratelimit-remaining-tokens, "
    b"x-ratelimit-reset-requests, x-ratelimit-reset-tokens"
)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True, slots=True)
class _Policy:
    hosts: frozenset[str]  # exact Host values served
    any_port: frozenset[str]  # server.allowed_hosts names given without a port
    cors: frozenset[str]
    max_body: int
    body_timeout: float


def _policy(settings: Settings, server: tuple[str, int | None] | None) -> _Policy:
    cfg = settings.server
    port = server[1] if server and server[1] else cfg.port
    names = {*_LOOPBACK_NAMES, _url_host(cfg.host.lower())}
    if server:
        names.add(_url_host(server[0].lower()))  # the address this connection arrived on
    names -= _WILDCARD_HOSTS
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:  # browsers leave the default port out of Host
        hosts |= names
    any_port = set()
    for entry in cfg.allowed_hosts:
        if entry.rsplit(":", 1)[-1].isdigit() and not entry.endswith("]"):
            hosts.add(entry)
        else:
            any_port.add(entry)
            hosts.add(entry)
    return _Policy(
        frozenset(hosts),
        frozenset(any_port),
        frozenset(cfg.cors_origins),
        cfg.max_body_bytes,
        cfg.body_timeout_secs,
    )


def _host_name(host: str) -> str:
    """``name`` of ``name:port`` (``[::1]`` stays bracketed)."""
    if host.endswith("]"):
        return host
    return host.rsplit(":", 1)[0]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json"


def _forbidden(message: str, code: str) -> ApiError:
    return ApiError(403, message, code)


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._for: Settings | None = None
        self._policies: dict[tuple[str, int | None] | None, _Policy] = {}

    def _current(self, scope: Scope) -> _Policy:
        settings = gateway_state(scope).settings.current
        if settings is not self._for:
            self._policies = {}
            self._for = settings
        server = scope.get("server")
        key = (str(server[0]), server[1]) if server else None
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = _policy(settings, key)
        return policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = fetch_site = fetch_mode = content_type = preflight = None
        declared: int | None = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
            elif name == b"origin":
                origin = value.decode("latin-1").lower()
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                has_body = value != b"0"
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"sec-fetch-mode":
                fetch_mode = value
            elif name == b"access-control-request-method":
                preflight = value
        policy = self._current(scope)
        method: str = scope["method"]
        path: str = scope["path"]
        try:
            cors_origin = self._check(policy, method, path, host, origin, fetch_site, fetch_mode)
            if has_body and method in _BODY_METHODS and not _is_json(content_type or ""):
                raise ApiError(
                    415,
                    "send the request body as JSON with Content-Type: application/json",
                    "unsupported_media_type",
                    type="invalid_request_error",
                )
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        if cors_origin is not None and method == "OPTIONS" and preflight is not None:
            await self._preflight(scope, send, cors_origin)
            return
        if has_body:
            receive = limit_body(receive, declared, policy.max_body, policy.body_timeout)
        if cors_origin is not None:
            send = _with_cors(send, cors_origin.encode("latin-1"))
        await self.app(scope, receive, send)

    @staticmethod
    def _check(
        policy: _Policy,
        method: str,
        path: str,
        host: str | None,
        origin: str | None,
        fetch_site: bytes | None,
        fetch_mode: bytes | None,
    ) -> str | None:
        """The CORS origin to answer for, None for the gateway's own callers; ApiError(403)
        for a request a foreign page made."""
        if host is None or (host not in policy.hosts and _host_name(host) not in policy.any_port):
            raise _forbidden(
                f"the Host {host or '(none)'!r} is not this gateway's; add it to "
                "server.allowed_hosts to serve it",
                "host_not_allowed",
            )
        if origin is not None:
            # The gateway's own pages, under any of its own names (the dashboard opened as
            # localhost calling 127.0.0.1 too). A port-less allowed host is its own only
            # without a port (the reverse proxy's), not at every port of that name.
            _, _, origin_host = origin.partition("://")
            if origin_host in policy.hosts and origin.startswith(("http://", "https://")):
                return None
            if origin in policy.cors and path.startswith(_CORS_PREFIX):
                return origin
            raise _forbidden(
                f"requests from the web origin {origin!r} are refused; add it to "
                "server.cors_origins to let it call /v1",
                "origin_not_allowed",
            )
        if fetch_site == b"cross-site" and not (
            method in _SAFE_METHODS and fetch_mode == b"navigate"
        ):
            raise _forbidden("cross-site requests are refused", "origin_not_allowed")
        return None

    @staticmethod
    async def _preflight(scope: Scope, send: Send, origin: str) -> None:
        requested = b""
        for name, value in scope["headers"]:
            if name == b"access-control-request-headers":
                requested = value
        allowed = [
            header
            for header in (h.strip() for h in requested.decode("latin-1").lower().split(","))
            if header in _CORS_HEADERS or header.startswith(_CORS_HEADER_PREFIXES)
        ]
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", _CORS_METHODS),
            (b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")),
            (b"access-control-max-age", b"600"),
            (b"vary", b"origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: bytes) -> Send:
    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            headers += [
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", _CORS_EXPOSE),
                (b"vary", b"origin"),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return cors_send
