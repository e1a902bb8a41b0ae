"""``POST /v1/messages/count_tokens``: an estimate of a Messages request's input tokens.

No upstream is asked (the answering model is not chosen yet) and no tokenizer is loaded:
the count is the UTF-8 length of the request's text / 4, rounded up (about 4 characters a
token for English, about 1 a character for CJK, both within a few tens of percent of real
tokenizers), plus a fixed cost per image and document (Anthropic's ceiling for a full-size
image, ~1,600 tokens) and per message. Clients use it to decide when to compact a
conversation, where an estimate that errs a little high is what they need.
"""

from __future__ import annotations

import json
import math
from typing import Any

from localrouter.gateway.apis.common import Json, invalid

BYTES_PER_TOKEN = 4
IMAGE_TOKENS = 1600
MESSAGE_TOKENS = 3  # role and separators


def estimate_text(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def count_tokens(body: Json) -> Json:
    """The ``{"input_tokens": n}`` answer for a count_tokens request."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise invalid("messages: a list of messages is required", param="messages")
    total = _content_tokens(body.get("system"))
    for message in messages:
        if isinstance(message, dict):
            total += MESSAGE_TOKENS + _content_tokens(message.get("content"))
    for tool in body.get("tools") or []:
        total += estimate_text(json.dumps(tool, ensure_ascii=False))
    return {"input_tokens": total}


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_text(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("image", "document"):
            total += IMAGE_TOKENS
        elif kind == "text":
            total += estimate_text(str(block.get("text", "")))
        elif kind == "tool_use":
            total += estimate_text(str(block.get("name", "")))
            total += estimate_text(json.dumps(block.get("input", {}), ensure_ascii=False))
        elif kind == "tool_result":
            total += _content_tokens(block.get("content"))
        elif kind == "thinking":
            total += estimate_text(str(block.get("thinking", "")))
    return total
