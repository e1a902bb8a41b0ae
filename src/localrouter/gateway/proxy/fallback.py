"""Fallback chains: try each ``provider/model`` in order until one answers.

Every send is one attempt; a request is never sent twice to the same target (the transport
never resends a request once written). An attempt falls through to the next target when the
upstream could not be reached or did not answer in full: a connect error, a timeout (the
provider's ``timeout_secs`` between bytes; for a non-streaming request also its
``total_timeout_secs`` for the whole answer), a dropped connection, a non-streaming answer
that is not complete JSON (a body cut short by a closing connection), a stream without a
first chunk, HTTP 408 / 429 / 5xx, or a context-length error (another model may have a
larger window). Any other 4xx (a bad parameter, a wrong upstream key, ...) is the caller's
answer and is passed on as it is.

When the chain runs out, the last attempt's meaning is kept: a 429 stays a 429 (with the
upstream's ``retry-after``), a context-length error becomes the upstream's 400 with code
``context_length_exceeded``; anything else raises :class:`AllFailed` (the gateway's 502).

Every attempt lands in the trail ``[{"model", "status", "error"}]`` that the access log keeps
and that a 502 "all upstreams failed" error carries. A chain cancelled mid-attempt (the client
left) closes that attempt's upstream connection, notes it as ``"cancelled"`` and tries no
further target.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from localrouter.gateway.proxy.providers import Target, Upstreams, scrub


class Failure(enum.Enum):
    """What an upstream's non-2xx answer means for the chain."""

    CALLER = "caller"  # the request itself is wrong: passed on, never retried
    CONTEXT_LENGTH = "context_length"  # too long for this model: the next may fit it
    RATE_LIMIT = "rate_limit"  # this upstream is busy or out of quota
    UPSTREAM = "upstream"  # the upstream failed (5xx, 408)


# error.code (or error.type) values that name the failure; checked before any text.
_CONTEXT_CODES = frozenset(
    {
        "context_length_exceeded",  # OpenAI, Azure, Groq, DeepSeek
        "context_window_exceeded",
        "model_context_window_exceeded",
        "exceed_context_size_error",  # llama.cpp server (error.type)
    }
)
_RATE_CODES = frozenset(
    {"rate_limit_exceeded", "rate_limit_error", "too_many_requests", "insufficient_quota"}
)
# Without such a code: messages that speak of the model's context or of the prompt's token
# count against a limit. Anchored to those words, so that "temperature 3 exceeds the maximum
# of 2" or "array too long" (a caller's bad parameter) never match.
_CONTEXT_TEXT = re.compile(
    r"\bcontext[ _-]?(length|window|size|limit)\b"  # "maximum context length is 8192 tokens"
    r"|\bmax(imum)?[ _]model[ _]len(gth)?\b"  # vLLM: "longer than the maximum model length"
    r"|\b(prompt|input)\b[^.]{0,20}\btoo long\b"  # Anthropic: "prompt is too long: ..."
    r"|\btoo many (input|prompt) tokens\b"
    r"|\b(prompt|input|messages?)\b[^.]{0,30}\btoo many tokens\b"
    r"|\b(input|prompt)[ _]tokens?\b[^.]{0,60}\b(exceed|exceeds|exceeded|exceeding)\b"
    r"|\binputs?`? must have less than \d+ tokens\b",  # TGI
    re.IGNORECASE,
)
_RETRY_STATUSES = frozenset({408, 429})
_CONTEXT_STATUSES = frozenset({400, 413, 422})
# Upstream answer headers that clients read, passed on (names lower-case).
_PASSED_HEADERS = frozenset({"retry-after", "retry-after-ms", "openai-processing-ms"})
_REQUEST_ID_HEADERS = frozenset({"x-request-id", "request-id"})
_BODY_HEADERS = frozenset(
    {"content-length", "content-type", "content-encoding", "transfer-encoding"}
)


@dataclass
class Outcome:
    """What the chain produced: a 2xx answer, or an upstream error answer to pass on."""

    target: Target
    response: httpx.Response
    attempts: list[dict[str, Any]]
    content: bytes = b""  # the whole body (non-streaming, or any error answer)
    body: Any = None  # non-streaming 2xx: ``content`` parsed (it is complete JSON)
    first_chunk: bytes = b""  # streaming: the first bytes, already read
    chunks: AsyncIterator[bytes] | None = None  # streaming: the rest
    failure: Failure | None = None  # an error answer: what it means

    @property
    def ok(self) -> bool:
        return 200 <= self.response.status_code < 300

    def headers(self) -> dict[str, str]:
        """The upstream's headers that clients read: ``retry-after``, ``x-ratelimit-*``,
        ``openai-processing-ms``, and its request id as ``x-upstream-request-id``."""
        return relay_headers(self.response)


@dataclass
class AllFailed(Exception):
    """Every target failed in a way that allowed trying the next one, the last one without
    an answer worth passing on."""

    attempts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if not self.attempts:
            return "no upstream is configured for this tier"
        return "; ".join(f"{a['model']}: {a['error']}" for a in self.attempts)


def relay_headers(response: httpx.Response) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        if name in _PASSED_HEADERS or name.startswith("x-ratelimit-"):
            headers[name] = value
        elif name in _REQUEST_ID_HEADERS:
            headers["x-upstream-request-id"] = value
    return headers


def _error_object(content: bytes) -> dict[str, Any] | None:
    """The ``error`` object of an OpenAI- (or Anthropic-) shaped error body."""
    try:
        data = json.loads(content[:65536])
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error: dict[str, Any] = data["error"]
        return error
    return None


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


def classify(status: int, content: bytes) -> Failure:
    """What a non-2xx upstream answer means: by ``error.code`` (or ``error.type``) first,
    then by the status, then by the message's words."""
    error = _error_object(content)
    codes: set[str] = set()
    if error is not None:
        codes = {value for key in ("code", "type") if isinstance(value := error.get(key), str)}
    if codes & _CONTEXT_CODES and status < 500:
        return Failure.CONTEXT_LENGTH
    if status == 429 or codes & _RATE_CODES:
        return Failure.RATE_LIMIT
    if status in _RETRY_STATUSES or status >= 500:
        return Failure.UPSTREAM
    if status in _CONTEXT_STATUSES:
        if error is not None:
            text = str(error.get("message") or "")
        else:
            text = content[:8192].decode("utf-8", errors="replace")
        if _CONTEXT_TEXT.search(text):
            return Failure.CONTEXT_LENGTH
    return Failure.CALLER


def is_context_length_error(status: int, content: bytes) -> bool:
    return classify(status, content) is Failure.CONTEXT_LENGTH


def is_retryable(status: int, content: bytes) -> bool:
    return classify(status, content) is not Failure.CALLER


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


@dataclass
class _Answer:
    response: httpx.Response
    content: bytes = b""
    first_chunk: bytes = b""
    chunks: AsyncIterator[bytes] | None = None


async def _attempt(upstreams: Upstreams, request: httpx.Request, stream: bool) -> _Answer:
    """One send: the whole answer, or for a 2xx stream its first bytes."""
    response = await upstreams.send(request)
    try:
        if not 200 <= response.status_code < 300:
            return _Answer(response, content=await _read_quietly(response))
        if stream:
            chunks = response.aiter_raw()
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                await response.aclose()
                return _Answer(response)
            return _Answer(response, first_chunk=first, chunks=chunks)
        content = await response.aread()
        await response.aclose()
        return _Answer(response, content=content)
    except BaseException:
        await response.aclose()  # failed or cancelled (client gone): free the connection
        raise


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
    first chunk still falls back. An error answer to pass on comes back as an Outcome that
    is not ``ok`` (the caller's error, or a 429 / context-length error of the last target);
    raises :class:`AllFailed` when the last target gave nothing worth passing on.
    ``trail``, when given, receives the attempts as they happen (the caller still has them
    when the chain is cancelled).
    """
    attempts: list[dict[str, Any]] = [] if trail is None else trail
    last: Outcome | None = None  # the last attempt's answer, when it is worth passing on

    def failed(target: Target, status: int | None, reason: str) -> None:
        attempts.append({"model": target.ref, "status": status, "error": scrub(reason, secrets)})
        if on_retry is not None:
            on_retry(target, reason)

    for target in targets:
        last = None
        payload["model"] = target.model
        request = upstreams.build(target, path, json.dumps(payload).encode())
        deadline = None if stream else target.provider.total_timeout_secs
        try:
            async with asyncio.timeout(deadline):
                answer = await _attempt(upstreams, request, stream)
        except TimeoutError:
            failed(target, None, f"timeout: no complete answer within {deadline:g} s")
            continue
        except httpx.HTTPError as exc:
            failed(target, None, _describe_exception(exc))
            continue
        except asyncio.CancelledError:
            attempts.append({"model": target.ref, "status": None, "error": "cancelled"})
            raise
        response = answer.response
        status = response.status_code
        if not 200 <= status < 300:
            kind = classify(status, answer.content)
            reason = f"HTTP {status}: {error_text(answer.content)}"
            if kind is Failure.CALLER:
                attempts.append(
                    {"model": target.ref, "status": status, "error": scrub(reason, secrets)}
                )
                return Outcome(target, response, attempts, content=answer.content, failure=kind)
            failed(target, status, reason)
            if kind in (Failure.RATE_LIMIT, Failure.CONTEXT_LENGTH):
                last = _final_error(target, response, attempts, answer.content, kind)
            continue
        if stream:
            if answer.chunks is None:
                failed(target, status, "empty response")
                continue
            attempts.append({"model": target.ref, "status": status, "error": None})
            return Outcome(
                target, response, attempts, first_chunk=answer.first_chunk, chunks=answer.chunks
            )
        try:
            body = json.loads(answer.content)
        except (ValueError, UnicodeDecodeError):
            failed(target, status, "incomplete answer: the body is not complete JSON")
            continue
        attempts.append({"model": target.ref, "status": status, "error": None})
        return Outcome(target, response, attempts, content=answer.content, body=body)
    if last is not None:
        return last
    raise AllFailed(attempts)


def _final_error(
    target: Target,
    response: httpx.Response,
    attempts: list[dict[str, Any]],
    content: bytes,
    kind: Failure,
) -> Outcome:
    """The answer that ends an exhausted chain: a 429 as the upstream sent it; a
    context-length error as a 400 with code ``context_length_exceeded`` (whatever status
    and code the upstream used), its message kept."""
    if kind is Failure.CONTEXT_LENGTH:
        error = _error_object(content) or {}
        if response.status_code != 400 or error.get("code") != "context_length_exceeded":
            body = {
                "error": {
                    "message": str(error.get("message") or error_text(content)),
                    "type": "invalid_request_error",
                    "param": error.get("param", "messages"),
                    "code": "context_length_exceeded",
                }
            }
            content = json.dumps(body).encode()
            headers = [
                (name, value)
                for name, value in response.headers.multi_items()
                if name not in _BODY_HEADERS
            ]
            headers.append(("content-type", "application/json"))
            response = httpx.Response(400, headers=headers, content=content)
    return Outcome(target, response, attempts, content=content, failure=kind)


async def _read_quietly(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError:
        return b""
    finally:
        await response.aclose()
