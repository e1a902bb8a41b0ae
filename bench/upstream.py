"""A minimal, fast OpenAI-compatible upstream: ``python -m bench.upstream --port P``.

Raw ASGI on uvicorn (uvloop + httptools when installed), no framework, no access log, so
the gateways under test, not the upstream, are what costs time. Every chat completion gets
the same small answer, with ``model`` echoed from the request.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

_ANSWER = "Paris."
_MODELS = json.dumps(
    {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "owned_by": "bench"}
            for m in ("bench-model", "strong", "weak")
        ],
    }
).encode()


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _ANSWER},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
        }
    ).encode()


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"].removeprefix("/v1")
    if scope["method"] == "POST" and path == "/chat/completions":
        try:
            model = str(json.loads(body).get("model", "bench-model"))
        except (ValueError, AttributeError):
            await _send(send, 400, b'{"error": {"message": "bad json", "type": "invalid"}}')
            return
        await _send(send, 200, _completion(model))
    elif scope["method"] == "GET" and path == "/models":
        await _send(send, 200, _MODELS)
    elif path == "/health":
        await _send(send, 200, b'{"status": "ok"}')
    else:
        await _send(send, 404, b'{"error": {"message": "not found", "type": "not_found"}}')


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
