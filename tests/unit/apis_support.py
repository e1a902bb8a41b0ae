"""Strict parsing of translated output with the SDKs' own types (shared by test_apis_*)."""

from __future__ import annotations

from typing import Any

import anthropic.types as at
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

_ANTHROPIC_EVENT: TypeAdapter[Any] = TypeAdapter(at.RawMessageStreamEvent)
_RESPONSE_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
# Fields OpenAI's API sends on a Response that the SDK's type does not declare.
RESPONSE_EXTRAS = frozenset({"store"})


def no_extra(model: Any, allowed: frozenset[str] = frozenset(), path: str = "") -> None:
    """The SDK types accept unknown keys; a typo'd or invented field must fail the test."""
    if isinstance(model, BaseModel):
        if isinstance(model, Response):
            allowed = allowed | RESPONSE_EXTRAS
        extra = set(model.model_extra or {}) - allowed
        assert not extra, f"unknown fields at {path or 'top'}: {sorted(extra)}"
        for name in type(model).model_fields:
            no_extra(getattr(model, name), path=f"{path}.{name}")
    elif isinstance(model, list):
        for index, item in enumerate(model):
            no_extra(item, path=f"{path}[{index}]")


def message(data: Any) -> at.Message:
    parsed = at.Message.model_validate(data, strict=True)
    no_extra(parsed)
    return parsed


def anthropic_event(name: str, data: Any) -> Any:
    assert data["type"] == name, "the SSE event name is the data's type"
    if name == "ping":
        assert data == {"type": "ping"}
        return None
    parsed = _ANTHROPIC_EVENT.validate_python(data, strict=True)
    no_extra(parsed)
    return parsed


def response(data: Any) -> Response:
    parsed = Response.model_validate(data, strict=True)
    no_extra(parsed)
    return parsed


def response_event(name: str, data: Any) -> Any:
    assert data["type"] == name, "the SSE event name is the data's type"
    parsed = _RESPONSE_EVENT.validate_python(data, strict=True)
    no_extra(parsed)
    return parsed


def chat(data: Any) -> ChatCompletion:
    parsed = ChatCompletion.model_validate(data, strict=True)
    no_extra(parsed)
    return parsed


def chunk(data: Any) -> ChatCompletionChunk:
    parsed = ChatCompletionChunk.model_validate(data, strict=True)
    no_extra(parsed)
    return parsed
