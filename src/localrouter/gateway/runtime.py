"""The running gateway's parts, shared by the request handlers (``app.state.gateway``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from localrouter.gateway.access_log import AccessLog
from localrouter.gateway.context import GatewayContext
from localrouter.gateway.metrics import Metrics
from localrouter.gateway.proxy.classifier import MicroBatcher
from localrouter.gateway.proxy.providers import Upstreams, provider_secrets
from localrouter.settings import Settings


@dataclass
class Gateway:
    ctx: GatewayContext
    classifier: MicroBatcher
    access_log: AccessLog
    metrics: Metrics = field(default_factory=Metrics)
    allow_remote: bool = False  # `serve --allow-remote`
    upstreams: Upstreams | None = None  # created inside the server's event loop (lifespan)
    _secrets_for: Settings | None = field(default=None, repr=False)
    _secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def settings(self) -> Settings:
        # Always the context's current settings: the admin API swaps them at run time.
        return self.ctx.settings

    def secrets(self, settings: Settings) -> list[str]:
        """Provider keys to scrub from anything echoed or logged (cached per settings)."""
        if settings is not self._secrets_for:
            self._secrets = provider_secrets(settings)
            self._secrets_for = settings
        return self._secrets
