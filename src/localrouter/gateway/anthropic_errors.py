"""Errors in Anthropic's shape on the Anthropic API paths (``/v1/messages...``).

The gateway's errors are OpenAI-shaped wherever they come from (the auth middleware, the
pipeline, Starlette's 404/405, an OpenAI-speaking upstream's answer). On the Anthropic paths
this ASGI middleware reshapes any error answer that is not Anthropic-shaped already into
``{"type": "error", "error": {"type", "message"}}`` with Anthropic's status, so the Anthropic
SDKs raise their matching exception classes. Success answers (and streams) pass untouched;
only error bodies, which are small, are buffered.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localrouter.gateway.apis.errors import anthropic_from_openai

_PREFIXES = ("/v1/messages", "/messages")


def _reshape(status: int, content: bytes) -> tuple[int, bytes] | None:
    try:
        data: Any = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("type") == "error":
        return None  # an Anthropic upstream's own error
    status, body = anthropic_from_openai(status, data)
    return status, json.dumps(body).encode()


class AnthropicErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_PREFIXES):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def reshaping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                else:
                    start = message  # held until the body is complete
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            content = b"".join(parts)
            status = start["status"]
            reshaped = _reshape(status, content)
            if reshaped is not None:
                status, content = reshaped
                headers = MutableHeaders(raw=list(start["headers"]))
                headers["content-length"] = str(len(content))
                headers["content-type"] = "application/json"
                start = {**start, "status": status, "headers": headers.raw}
            await send(start)
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, reshaping_send)
