"""settings.yaml: the typed configuration (SPEC: "settings.yaml").

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
    ValidationError,
    field_validator,
    model_validator,
)

from localrouter.fileio import atomic_write_text
from localrouter.paths import settings_path

_MODEL_REF = re.compile(r"^[A-Za-z0-9_.-]+/.+$")


class _Strict(BaseModel):
    # Unknown keys are typos more often than not: refuse them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 3625
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    allow_remote_without_keys: bool = False


ProviderApi = Literal["openai-chat", "openai-responses", "anthropic"]


class ProviderSettings(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    base_url: str
    api: ProviderApi = "openai-chat"
    api_key_env: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    api_key_file: Path | None = None  # a file holding only the key (the dashboard's, 0600)
    _file_key: str | None = PrivateAttr(default=None)
    models: list[str] = []
    timeout_secs: Annotated[float, Field(gt=0)] = 120.0
    connect_timeout_secs: Annotated[float, Field(gt=0)] = 5.0
    headers: dict[str, str] = {}

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
    enabled: bool = True
    # The router of localrouter/auto: bert (RouteLLM) or a trained router's name.
    router: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")] = "bert"
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    strong: list[str] = ["openai/gpt-4o"]
    weak: list[str] = ["ollama/llama3.2"]
    cross_tier_fallback: bool = True

    _refs = field_validator("strong", "weak")(_check_model_refs)


class RouteLLMSettings(_Strict):
    repo_id: str = "routellm/bert_gpt4_augmented"
    revision: str = "main"
    model_dir: Path | None = None
    precision: Literal["int8", "fp32"] = "int8"
    idle_timeout_secs: Annotated[int, Field(ge=0)] = 600
    classify: Literal["last_user", "all_user"] = "last_user"
    threads: Annotated[int, Field(ge=0)] = 0  # 0 = let ONNX Runtime pick


class AccessLogSettings(_Strict):
    enabled: bool = True
    retention_days: Annotated[int, Field(ge=1)] = 31
    include_prompts: bool = False


class ClientSettings(_Strict):
    name: str
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    allowed_models: list[str] = ["*"]


class Price(_Strict):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]


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


def _describe(error: ValidationError, source: Path | str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"invalid configuration in {path}: not valid YAML ({exc})") from None
    except OSError as exc:
        raise SettingsError(f"cannot read configuration {path}: {exc.strerror}") from None
    return parse_settings(data, path)


def settings_to_yaml(settings: Settings) -> str:
    data = settings.model_dump(mode="json", exclude_none=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a config."""
    path = path or settings_path()
    atomic_write_text(path, settings_to_yaml(settings))
    return path
