"""Chat-completion stream chunks: reading the pieces of one, and building them."""

from __future__ import annotations

import time
from typing import Any

from localrouter.gateway.apis.common import Json
from localrouter.gateway.apis.errors import StreamFailed


def raise_if_error(chunk: Json) -> None:
    """An upstream's mid-stream error chunk (``{"error": {...}}``) as :class:`StreamFailed`."""
    error = chunk.get("error")
    if error is None or chunk.get("choices"):
        return
    details = error if isinstance(error, dict) else {"message": str(error)}
    raise StreamFailed(
        str(details.get("message") or "the upstream stream failed"),
        str(details.get("type") or "api_error"),
        details.get("code") if isinstance(details.get("code"), str) else None,
    )


def chunk_choice(chunk: Json) -> Json:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def delta_text(delta: Json) -> str:
    """The visible text of a chunk's delta (content, or a refusal's text)."""
    text = delta.get("content")
    out = text if isinstance(text, str) else ""
    refusal = delta.get("refusal")
    return out + (refusal if isinstance(refusal, str) else "")


class ChunkBuilder:
    """Chat chunks of one stream: same id, model and created time on each."""

    def __init__(self, chunk_id: str, model: str) -> None:
        self.id = chunk_id
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: Json, finish_reason: str | None = None) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }

    def usage_chunk(self, usage: Json) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }

    def tool_start(self, index: int, call_id: str, name: str, arguments: str = "") -> Json:
        call = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return self.chunk({"tool_calls": [call]})

    def tool_arguments(self, index: int, arguments: str) -> Json:
        return self.chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


class ToolCallCollector:
    """Chat tool-call deltas per index: id and name come once (sometimes late, sometimes
    repeated), arguments in pieces. ``add`` returns the call's index, its state and the new
    argument text; a call is ``ready`` once its name is known (what the other APIs need first)."""

    def __init__(self) -> None:
        self.calls: dict[int, Json] = {}

    def add(self, delta: Any) -> tuple[int, Json, str]:
        index = delta.get("index", len(self.calls)) if isinstance(delta, dict) else 0
        call = self.calls.setdefault(index, {"id": None, "name": None, "arguments": ""})
        if not isinstance(delta, dict):
            return index, call, ""
        if delta.get("id") and not call["id"]:
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        piece = function.get("arguments")
        piece = piece if isinstance(piece, str) else ""
        call["arguments"] += piece
        return index, call, piece
