"""What a request body may be: how large, how slow, how deeply nested.

- :func:`limit_body` wraps an ASGI ``receive`` so that reading the body raises an OpenAI-shaped
  :class:`ApiError` (413 past ``server.max_body_bytes``, 408 when the whole body has not
  arrived within ``server.body_timeout_secs``). It raises inside the app's own read, so each
  endpoint answers (and the generation endpoints log) the error as any other: /v1 and /api
  get the same limits.
- :func:`parse_json_body` turns the bytes into the JSON object, refusing nesting deeper than
  :data:`MAX_DEPTH` with a 400 (``json.loads`` would raise RecursionError: a 500).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive

from localrouter.gateway.errors import ApiError

# Deeper JSON is refused. OpenAI's structured outputs allow 10 levels of schema nesting; 128
# leaves room for anything real and keeps every later walk (translation, re-encoding) far
# from Python's recursion limit.
MAX_DEPTH = 128


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {limit} bytes (server.max_body_bytes)",
        "request_too_large",
    )


def too_slow(timeout: float) -> ApiError:
    return ApiError(
        408,
        f"the request body did not arrive within {timeout:g} s (server.body_timeout_secs)",
        "request_timeout",
    )


def limit_body(receive: Receive, declared: int | None, limit: int, timeout: float) -> Receive:
    """``receive`` for a request with a body: the size and time limits apply while the body
    is read; afterwards (the disconnect listeners of streams) it is ``receive`` itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    size = 0
    done = False

    async def limited() -> Message:
        nonlocal size, done
        if done:
            return await receive()
        if declared is not None and declared > limit:
            done = True  # nothing is read: the answer is the 413
            raise too_large(limit)
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            done = True
            raise too_slow(timeout) from None
        if message["type"] != "http.request":
            done = True
            return message
        size += len(message.get("body", b""))
        if size > limit:
            done = True
            raise too_large(limit)
        if not message.get("more_body", False):
            done = True
        return message

    return limited


# Brackets only, all as "(" and ")": each pass of removing "()" peels one level of nesting.
_BRACKETS = bytes.maketrans(b"{[}]", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{[}]")


def _brackets_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the brackets in ``raw`` nest more than ``limit`` deep, in C-speed passes.
    Brackets inside strings count too, so True is confirmed on the parsed value."""
    shape = raw.translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        peeled = shape.replace(b"()", b"")
        if len(peeled) == len(shape):
            return False
        shape = peeled
    return b"()" in shape


def _deeper_than(value: Any, limit: int) -> bool:
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; a 400 ``invalid_json`` ApiError for anything else."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", "invalid_json")
    try:
        body = json.loads(raw)
    except RecursionError:
        body = None
        nested = True
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None
    else:
        # Cheapest first: most bodies have fewer brackets than the limit.
        nested = (
            raw.count(b"{") + raw.count(b"[") > MAX_DEPTH
            and _brackets_deeper_than(raw, MAX_DEPTH)
            and _deeper_than(body, MAX_DEPTH)
        )
    if nested:
        raise ApiError(
            400,
            f"the request body is nested more than {MAX_DEPTH} levels deep",
            "invalid_json",
        )
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return body
