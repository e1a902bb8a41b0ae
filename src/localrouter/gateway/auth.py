"""Who may call the gateway (README "Configuration", ``clients[].role``).

- With ``clients`` configured, a key is needed: ``Authorization: Bearer <key>`` or (as
  Anthropic clients send it) ``x-api-key: <key>``, whose SHA-256 matches a client's
  ``key_sha256`` (else 401). Every key reaches the model APIs, limited by its client's
  ``allowed_models`` patterns (``openai/*``, ``localrouter/auto``, ``*``); ``/api``,
  ``/metrics`` and the API docs need a key with ``role: admin`` (403 for a client key).
  ``/health`` and the dashboard's static files are open (the dashboard asks for a key).
- With no clients configured only loopback callers are served (others 403), unless remote
  callers were explicitly allowed (``server.allow_remote_without_keys`` or ``--allow-remote``).
  Browser pages of other origins are refused before this, by the security middleware.

A pure ASGI middleware: cheap on the hot path, and it covers every route (``/api/*`` too).
Keys are never logged or echoed; only their hashes are compared.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from localrouter.gateway.errors import ApiError
from localrouter.gateway.proxy.routing import AUTO_MODELS
from localrouter.gateway.state import gateway_state
from localrouter.settings import ClientSettings

# With clients configured: what needs an admin key, and what any key (the model APIs).
_ADMIN_PATHS = frozenset({"/api", "/metrics", "/openapi.json", "/docs", "/redoc"})
_ADMIN_PREFIXES = ("/api/", "/docs/")
_MODEL_PREFIXES = (
    "/v1/",
    "/chat/",
    "/completions",
    "/embeddings",
    "/models",
    "/responses",
    "/messages",
)


@dataclass(frozen=True, slots=True)
class Client:
    """The caller of one request: a configured client, or an anonymous caller by address."""

    name: str
    allowed_models: tuple[str, ...] = ("*",)
    admin: bool = False  # may use /api, /metrics and the docs

    def allows(self, model: str) -> bool:
        return any(fnmatchcase(model, pattern) for pattern in self.allowed_models)


@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    if host in ("localhost", "testclient"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class _KeyTable:
    """sha256 -> client, rebuilt when the settings object is replaced (never mutated)."""

    def __init__(self) -> None:
        self._source: list[ClientSettings] | None = None
        self._table: dict[str, Client] = {}

    def get(self, clients: list[ClientSettings]) -> dict[str, Client]:
        if clients is not self._source:
            self._table = {
                c.key_sha256: Client(c.name, tuple(c.allowed_models), c.role == "admin")
                for c in clients
            }
            self._source = clients
        return self._table


def _presented_key(scope: Scope) -> str | None:
    """``Authorization: Bearer <key>`` (OpenAI clients), else ``x-api-key`` (Anthropic's)."""
    api_key: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer: str = token.strip()
                return bearer
        elif name == b"x-api-key" and value.strip():
            api_key = value.decode("latin-1").strip()
    return api_key


def may_use(client: Client, model: str) -> bool:
    """Whether ``client`` may use ``model`` by that name (``auto`` and ``localrouter/auto``
    are one model), as ``/v1/models`` lists it."""
    if client.allows(model):
        return True
    return model in AUTO_MODELS and any(client.allows(name) for name in AUTO_MODELS)


def request_client(scope: Scope) -> Client:
    """The :class:`Client` the middleware attached to this request."""
    state = scope.get("state") or {}
    client: object = state.get("lr_client")
    if isinstance(client, Client):
        return client
    peer = scope.get("client")
    return Client(peer[0] if peer else "unknown")


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._keys = _KeyTable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            client = self._authenticate(scope)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        scope.setdefault("state", {})["lr_client"] = client
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> Client:
        state = gateway_state(scope)
        settings = state.settings.current
        peer = scope.get("client")
        host = peer[0] if peer else ""
        if not settings.clients:
            if is_loopback(host) or settings.server.allow_remote_without_keys or state.allow_remote:
                return Client(host or "unknown", admin=True)
            raise ApiError(
                403,
                "only loopback callers are served when no client API keys are configured",
                "forbidden",
            )
        path: str = scope.get("path", "")
        admin_only = path in _ADMIN_PATHS or path.startswith(_ADMIN_PREFIXES)
        if not admin_only and not path.startswith(_MODEL_PREFIXES):
            return Client(host or "unknown")  # /health, the dashboard's files, 404s
        token = _presented_key(scope)
        if token is None:
            raise ApiError(
                401,
                "missing API key: send Authorization: Bearer <key> (or x-api-key: <key>)",
                "invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        client = self._keys.get(settings.clients).get(hash_key(token))
        if client is None:
            raise ApiError(
                401, "invalid API key", "invalid_api_key", headers={"www-authenticate": "Bearer"}
            )
        if admin_only and not client.admin:
            raise ApiError(
                403,
                f"the key of client {client.name!r} reaches the model APIs only; "
                f"{path} needs a key with role: admin",
                "admin_key_required",
            )
        return client
