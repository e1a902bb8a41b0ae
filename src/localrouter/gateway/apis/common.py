"""Helpers shared by the translators: ids, the 400 for untranslatable features, JSON bits."""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

from localrouter.gateway.errors import ApiError

Json = dict[str, Any]
Api = Literal["openai-chat", "openai-responses", "anthropic"]

API_NAMES: dict[str, str] = {
    "openai-chat": "the OpenAI Chat Completions API",
    "openai-responses": "the OpenAI Responses API",
    "anthropic": "the Anthropic Messages API",
}

# The pivot's output limit field. OpenAI's current name (``max_tokens`` is refused by its
# reasoning models); servers that only know ``max_tokens`` ignore it, which costs the limit,
# not the answer. One place to change if a provider needs the other.
MAX_TOKENS_FIELD = "max_completion_tokens"


def new_id(prefix: str) -> str:
    """An id in the target API's style: ``resp_``, ``msg_``, ``fc_``, ``toolu_``, ``chatcmpl-``."""
    return prefix + secrets.token_hex(12)


def unsupported(what: str, api: Api, *, param: str | None = None, hint: str = "") -> ApiError:
    """The 400 for a feature the target API has no equivalent for."""
    message = f"{what} cannot be translated to {API_NAMES[api]}"
    message += f"; {hint}" if hint else "; send it to a provider that speaks the request's API"
    return ApiError(400, message + ".", "unsupported_feature", param=param)


def invalid(message: str, *, param: str | None = None) -> ApiError:
    """A 400 for a request that breaks its own API's rules."""
    return ApiError(400, message, "invalid_request", param=param)


def max_tokens_of(chat: Json) -> int | None:
    """The output limit a chat request asks for, under either of its names."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = chat.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def parse_arguments(arguments: Any) -> Json:
    """A tool call's JSON arguments as an object. Invalid JSON (a weak model's slip) is kept
    under ``_raw_arguments`` so the client's tool sees it and can report the error."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def dump_arguments(value: Any) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def text_of_parts(content: Any, kinds: tuple[str, ...] = ("text",)) -> str:
    """The text of a content value: a string, or the text parts of a list joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") in kinds
        and isinstance(part.get("text"), str)
    ]
    return "".join(texts)


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a base64 ``data:`` URL, else None."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head or "application/octet-stream", data
