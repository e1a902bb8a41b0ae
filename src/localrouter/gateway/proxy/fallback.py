"""Fallback chains: try each ``provider/model`` in order until one answers.

An attempt falls through to the next target on a connect error, a timeout, a dropped
connection, HTTP 408/429/5xx, or a context-length error (a 400 whose error code or message
says the prompt is too long for the model). Any other upstream answer (a 400 for a bad
parameter, a 401 for a wrong upstream key, ...) is the caller's answer and is passed through.

Every attempt lands in the trail ``[{"model", "status", "error"}]`` that the access log keeps
and that a 502 "all upstreams failed" error carries. A chain cancelled mid-attempt (the client
left) closes that attempt's upstream connection, notes it as ``"cancelled"`` and tries no
further target.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from localrouter.gateway.proxy.providers import Target, Upstreams, scrub

_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_window_exceeded"})
_CONTEXT_TEXT = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long"
    r"|input is too long|exceeds? the (model's )?(maximum|max)",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    """What the chain produced: a 2xx answer, or a non-retryable upstream error to pass on."""

    target: Target
    response: httpx.Response
    attempts: list[dict[str, Any]]
    content: bytes = b""  # the whole body (non-streaming, or any error answer)
    first_chunk: bytes = b""  # streaming: the first bytes, already read
    chunks: AsyncIterator[bytes] | None = None  # streaming: the rest

    @property
    def ok(self) -> bool:
        return 200 <= self.response.status_code < 300


@dataclass
class AllFailed(Exception):
    """Every target failed in a way that allowed trying the next one."""

    attempts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if not self.attempts:
            return "no upstream is configured for this tier"
        return "; ".join(f"{a['model']}: {a['error']}" for a in self.attempts)


def error_text(content: bytes, limit: int = 300) -> str:
    """The upstream's error message (OpenAI shape when possible), shortened."""
    text = content[:8192].decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif isinstance(error, str):
            text = error
        elif isinstance(data.get("message"), str):
            text = data["message"]
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def is_context_length_error(status: int, content: bytes) -> bool:
    if status not in (400, 413, 422):
        return False
    text = content[:8192].decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        if data["error"].get("code") in _CONTEXT_CODES:
            return True
        text = str(data["error"].get("message", ""))
    return bool(_CONTEXT_TEXT.search(text))


def is_retryable(status: int, content: bytes) -> bool:
    return status in (408, 429) or status >= 500 or is_context_length_error(status, content)


def _describe_exception(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect error"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        kind = "connection dropped"
    else:
        kind = type(exc).__name__
    detail = str(exc).strip()
    return f"{kind}: {detail}" if detail else kind


async def run_chain(
    upstreams: Upstreams,
    targets: Sequence[Target],
    path: str,
    payload: dict[str, Any],
    *,
    stream: bool,
    secrets: Sequence[str],
    on_retry: Callable[[Target, str], None] | None = None,
    trail: list[dict[str, Any]] | None = None,
) -> Outcome:
    """Send ``payload`` (its ``model`` replaced per target) down the chain.

    Streaming: returns once the first bytes of a 2xx answer arrived, so a failure before the
    first chunk still falls back. Raises :class:`AllFailed` when no target answered.
    ``trail``, when given, receives the attempts as they happen (the caller still has them
    when the chain is cancelled).
    """
    attempts: list[dict[str, Any]] = [] if trail is None else trail
    for target in targets:
        payload["model"] = target.model
        request = upstreams.build(target, path, json.dumps(payload).encode())
        try:
            response = await upstreams.send(request)
        except httpx.HTTPError as exc:
            _failed(attempts, target, None, _describe_exception(exc), secrets, on_retry)
            continue
        except asyncio.CancelledError:
            # Cancelled before the answer's headers: the transport closed the connection.
            attempts.append({"model": target.ref, "status": None, "error": "cancelled"})
            raise
        try:
            status = response.status_code
            if not 200 <= status < 300:
                content = await _read_quietly(response)
                reason = f"HTTP {status}: {error_text(content)}"
                if is_retryable(status, content):
                    _failed(attempts, target, status, reason, secrets, on_retry)
                    continue
                attempts.append(
                    {"model": target.ref, "status": status, "error": scrub(reason, secrets)}
                )
                return Outcome(target, response, attempts, content=content)
            if stream:
                chunks = response.aiter_raw()
                try:
                    first = await anext(chunks)
                except StopAsyncIteration:
                    await response.aclose()
                    _failed(attempts, target, status, "empty response", secrets, on_retry)
                    continue
                attempts.append({"model": target.ref, "status": status, "error": None})
                return Outcome(target, response, attempts, first_chunk=first, chunks=chunks)
            content = await response.aread()
            await response.aclose()
        except httpx.HTTPError as exc:
            await response.aclose()
            _failed(attempts, target, None, _describe_exception(exc), secrets, on_retry)
            continue
        except BaseException as exc:
            await response.aclose()  # cancelled (client gone): do not leak the connection
            if isinstance(exc, asyncio.CancelledError):
                attempts.append({"model": target.ref, "status": status, "error": "cancelled"})
            raise
        attempts.append({"model": target.ref, "status": status, "error": None})
        return Outcome(target, response, attempts, content=content)
    raise AllFailed(attempts)


async def _read_quietly(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError:
        return b""
    finally:
        await response.aclose()


def _failed(
    attempts: list[dict[str, Any]],
    target: Target,
    status: int | None,
    reason: str,
    secrets: Sequence[str],
    on_retry: Callable[[Target, str], None] | None,
) -> None:
    attempts.append({"model": target.ref, "status": status, "error": scrub(reason, secrets)})
    if on_retry is not None:
        on_retry(target, reason)
