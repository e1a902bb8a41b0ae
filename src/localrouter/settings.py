"""settings.yaml: the typed configuration (README "Configuration", docs/providers.md).

A bad file is refused whole: :func:`load_settings` raises :class:`SettingsError` naming the
field's path and the reason, and nothing of the file is applied.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from localrouter.fileio import atomic_write_text
from localrouter.paths import settings_path
from localrouter.settings_yaml import YamlSyntaxError, load_yaml

_MODEL_REF = re.compile(r"^[A-Za-z0-9_.-]+/.+$")
# A host name or address as a browser sends it in Host, optionally with a port.
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?$")
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?$")
# Upper bounds: every number has one, so no value can overflow a timer or a buffer later.
_DAY = 86_400
_YEAR = 365 * _DAY
# What an alias may stand for: a routed name (auto, router-<name>-<t>) or provider/model.
_ALIAS_TARGET = re.compile(
    r"^(auto|router-[A-Za-z0-9_]+-(0(\.[0-9]+)?|1(\.0+)?)|[A-Za-z0-9_.-]+/.+)$"
)
# The API a provider speaks (docs/providers.md "Provider APIs"); requests in another API
# are translated.
ProviderApi = Literal["openai-chat", "openai-responses", "anthropic"]


class _Strict(BaseModel):
    # Unknown keys are typos more often than not: refuse them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 3625
    # Extra Host names (DNS rebinding guard): "name" at any port, or "name:port".
    allowed_hosts: list[str] = []
    # Browser origins ("scheme://host[:port]") allowed to call /v1 (CORS); none by default.
    cors_origins: list[str] = []
    shutdown_grace_secs: Annotated[float, Field(ge=0, le=3600)] = 30.0
    max_body_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 10 * 1024 * 1024
    # The whole request body must arrive within this time (a slow sender holds a connection).
    body_timeout_secs: Annotated[float, Field(gt=0, le=3600)] = 60.0
    allow_remote_without_keys: StrictBool = False

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _HOST.match(value):
                raise ValueError(f"{value!r} is not a host name, or host:port")
        return [value.lower() for value in values]

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        origins = []
        for value in values:
            origin = value.rstrip("/").lower()
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{value!r} is not a browser origin such as http://localhost:5173 "
                    "(scheme, host and optional port, no path, no wildcard)"
                )
            origins.append(origin)
        return origins


class ProviderSettings(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    base_url: str
    api_key_env: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    api_key_file: Path | None = None  # a file holding only the key (the dashboard's, 0600)
    _file_key: str | None = PrivateAttr(default=None)
    models: list[str] = []
    timeout_secs: Annotated[float, Field(gt=0, le=_DAY)] = 120.0
    connect_timeout_secs: Annotated[float, Field(gt=0, le=3600)] = 5.0
    headers: dict[str, str] = {}
    # A non-streaming answer must be complete within this (an upstream dripping bytes slower
    # than timeout_secs never times out otherwise); the chain then tries the next model.
    total_timeout_secs: Annotated[float, Field(gt=0, le=_DAY)] = 600.0
    # base_url includes the version prefix for every API (…/v1); the gateway appends
    # /chat/completions, /responses or /messages.
    api: ProviderApi = "openai-chat"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def resolve_api_key(self) -> str | None:
        """The key from the config, else from the named environment variable, else the file."""
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return self._file_key

    def model_post_init(self, context: object, /) -> None:
        # Read once per settings snapshot, not on every request (settings are replaced whole).
        if self.api_key_file:
            try:
                key = Path(self.api_key_file).expanduser().read_text("utf-8").strip()
            except OSError:
                key = ""
            self._file_key = key or None


def _check_model_refs(refs: list[str]) -> list[str]:
    for ref in refs:
        if not _MODEL_REF.match(ref):
            raise ValueError(f"{ref!r} is not of the form provider/model")
    return refs


class RoutingSettings(_Strict):
    enabled: StrictBool = True
    # The router of localrouter/auto: bert (RouteLLM) or a trained router's name.
    router: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")] = "bert"
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    strong: list[str] = ["openai/gpt-4o"]
    weak: list[str] = ["ollama/llama3.2"]
    cross_tier_fallback: StrictBool = True
    # Names clients send -> the model name used instead (claude-sonnet-4-5: localrouter/auto).
    aliases: dict[str, str] = {}

    _refs = field_validator("strong", "weak")(_check_model_refs)

    @field_validator("aliases")
    @classmethod
    def _alias_targets(cls, aliases: dict[str, str]) -> dict[str, str]:
        for name, target in aliases.items():
            if not name:
                raise ValueError("an alias name must not be empty")
            if not _ALIAS_TARGET.match(target):
                raise ValueError(
                    f"{name}: {target!r} is not a model name (localrouter/auto, auto, "
                    "router-<name>-<threshold> or provider/model)"
                )
        return aliases


class RouteLLMSettings(_Strict):
    repo_id: str = "routellm/bert_gpt4_augmented"
    revision: str = "main"
    model_dir: Path | None = None
    precision: Literal["int8", "fp32"] = "int8"
    idle_timeout_secs: Annotated[int, Field(ge=0, le=_YEAR)] = 600  # 0 = never unload
    classify: Literal["last_user", "all_user"] = "last_user"
    threads: Annotated[int, Field(ge=0, le=1024)] = 0  # 0 = let ONNX Runtime pick


class AccessLogSettings(_Strict):
    enabled: StrictBool = True
    retention_days: Annotated[int, Field(ge=1, le=36_500)] = 31
    include_prompts: StrictBool = False


class ResponsesSettings(_Strict):
    """Stored Responses API answers (``previous_response_id``, ``GET /v1/responses/{id}``)."""

    retention_days: Annotated[float, Field(gt=0, le=36_500)] = 30.0  # as long as OpenAI keeps them
    max_stored: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000


class ClientSettings(_Strict):
    name: str
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    allowed_models: list[str] = ["*"]
    # client: the model APIs only; admin: also /api, /metrics, /docs and the dashboard.
    role: Literal["client", "admin"] = "client"


class Price(_Strict):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0, le=1_000_000)]
    output: Annotated[float, Field(ge=0, le=1_000_000)]


class Settings(_Strict):
    server: ServerSettings = ServerSettings()
    providers: list[ProviderSettings] = [
        ProviderSettings(
            name="openai", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"
        ),
        ProviderSettings(name="ollama", base_url="http://127.0.0.1:11434/v1"),
    ]
    routing: RoutingSettings = RoutingSettings()
    routellm: RouteLLMSettings = RouteLLMSettings()
    access_log: AccessLogSettings = AccessLogSettings()
    responses: ResponsesSettings = ResponsesSettings()
    clients: list[ClientSettings] = []
    prices: dict[str, Price] = {}  # "provider/model" -> price; unknown models cost nothing known

    @model_validator(mode="after")
    def _providers_exist(self) -> Settings:
        names = [p.name for p in self.providers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"providers: duplicate name(s) {', '.join(dupes)}")
        for tier in ("strong", "weak"):
            for ref in getattr(self.routing, tier):
                if ref.split("/", 1)[0] not in names:
                    raise ValueError(
                        f"routing.{tier}: {ref!r} names provider "
                        f"{ref.split('/', 1)[0]!r}, which is not configured"
                    )
        return self

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)


class SettingsError(Exception):
    """The configuration file cannot be used; the message names the field and the reason."""


# pydantic's wording for the common failures, said the way a user reads a config file.
_PLAIN = {
    "extra_forbidden": "is not a known setting",
    "missing": "is required",
    "bool_type": "must be true or false",
}


def _describe(error: ValidationError, source: Path | str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "value_error":
            # Our own validators' sentences, without pydantic's "Value error, " prefix.
            reason = str(item.get("ctx", {}).get("error", item["msg"]))
        else:
            reason = _PLAIN.get(item["type"], item["msg"].replace("Input should be", "must be"))
        lines.append(f"{where}: {reason}" if where else reason)
    return f"invalid configuration in {source}: " + "; ".join(lines)


def parse_settings(data: object, source: Path | str = "<settings>") -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"invalid configuration in {source}: the top level must be a mapping")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, source)) from None


def load_settings(path: Path | None = None, *, create: bool = True) -> Settings:
    """Read settings.yaml; with ``create`` write the defaults first when it does not exist."""
    path = path or settings_path()
    if not path.exists():
        if not create:
            raise SettingsError(f"configuration file {path} does not exist")
        settings = Settings()
        save_settings(settings, path)
        return settings
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read configuration {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"invalid configuration in {path}: the file is not UTF-8 text "
            f"(byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise SettingsError(f"invalid configuration in {path}: not valid YAML: {exc}") from None
    return parse_settings(data, path)


def settings_to_yaml(settings: Settings) -> str:
    data = settings.model_dump(mode="json", exclude_none=False)
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a config."""
    path = path or settings_path()
    atomic_write_text(path, settings_to_yaml(settings))
    return path
