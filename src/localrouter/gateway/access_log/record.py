"""One access-log entry (its fields: README "Access log entry"), typed, in one place.

The request pipeline fills an :class:`AccessRecord` as the request goes; the writer stores
:meth:`AccessRecord.to_json`; the reader and the dashboard read the same field names. Adding
a field is adding it here (with its default).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

# Besides request entries the file holds marker lines, told apart by a "type" field that
# request entries never have: "lost_entries" (entries dropped while the disk failed).
LOST_ENTRIES = "lost_entries"


def now_timestamp() -> str:
    """An entry's timestamp: UTC, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class AccessRecord:
    timestamp: str = field(default_factory=now_timestamp)
    request_id: str = ""
    client: str | None = None
    endpoint: str | None = None
    requested_model: str | None = None
    provider: str | None = None  # of the model that answered (or last failed)
    model: str | None = None
    tier: str | None = None  # strong | weak | direct: the tier of the model that ANSWERED
    routed_tier: str | None = None  # strong | weak | direct: the router's decision
    router: str | None = None  # the router that decided (bert, random, a trained one)
    routellm_win_rate: float | None = None
    threshold: float | None = None
    routing_ms: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # {model, status, error}
    status: str = "error"  # success | error
    status_code: int | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stream: bool = False
    error: str | None = None
    # Written only when set: the prompt (access_log.include_prompts), why routing failed,
    prompt: str | None = None
    routing_error: str | None = None
    # Routed requests: the strong chain's first model then (the savings' stable baseline).
    baseline_model: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one log line (optional fields only when set)."""
        data = {name: getattr(self, name) for name in FIELDS}
        for name in OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


OPTIONAL_FIELDS: tuple[str, ...] = ("prompt", "routing_error", "baseline_model")
FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(AccessRecord) if f.name not in OPTIONAL_FIELDS
)
