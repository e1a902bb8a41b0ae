"""What an upstream's error answer means for the fallback chain: by error.code first, then by
status, then by words anchored to context/token limits (never a caller's bad parameter)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from localrouter.gateway.proxy.fallback import (
    Failure,
    classify,
    error_text,
    is_context_length_error,
    is_retryable,
    relay_headers,
)


def openai_error(message: str, code: Any = None, kind: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


CONTEXT = Failure.CONTEXT_LENGTH
CALLER = Failure.CALLER

CASES = [
    # -- by code (or type), whatever the words --------------------------------------------
    (
        400,
        openai_error("Please reduce the length of the messages.", "context_length_exceeded"),
        CONTEXT,
    ),
    (400, openai_error("too big", "context_window_exceeded"), CONTEXT),
    (
        400,
        openai_error(
            "the request exceeds the available context size", 400, "exceed_context_size_error"
        ),
        CONTEXT,
    ),
    (413, openai_error("Request too large", "context_length_exceeded"), CONTEXT),
    (400, openai_error("slow down", "rate_limit_exceeded"), Failure.RATE_LIMIT),
    (
        429,
        openai_error("Rate limit reached for requests", "rate_limit_exceeded"),
        Failure.RATE_LIMIT,
    ),
    (
        429,
        openai_error("You exceeded your current quota", "insufficient_quota"),
        Failure.RATE_LIMIT,
    ),
    (429, b"", Failure.RATE_LIMIT),
    (
        429,
        json.dumps(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}
        ).encode(),
        Failure.RATE_LIMIT,
    ),
    # -- by status ------------------------------------------------------------------------
    (500, openai_error("internal error"), Failure.UPSTREAM),
    (503, b"<html>Service Unavailable</html>", Failure.UPSTREAM),
    (529, openai_error("Overloaded", kind="overloaded_error"), Failure.UPSTREAM),
    (408, b"", Failure.UPSTREAM),
    (500, openai_error("This model's maximum context length is 4096 tokens"), Failure.UPSTREAM),
    # -- by words, anchored to context / token limits --------------------------------------
    (
        400,
        openai_error(
            "This model's maximum context length is 8192 tokens. "
            "However, your messages resulted in 9000 tokens."
        ),
        CONTEXT,
    ),
    (400, openai_error("prompt is too long: 210000 tokens > 200000 maximum"), CONTEXT),
    (400, openai_error("Input tokens exceed the configured limit of 272000 tokens."), CONTEXT),
    (
        400,
        openai_error(
            "The input token count (1200000) exceeds the maximum number of tokens "
            "allowed (1048576)."
        ),
        CONTEXT,
    ),
    (
        400,
        openai_error(
            "The decoder prompt (length 9000) is longer than the maximum model length of 8192."
        ),
        CONTEXT,
    ),
    (
        400,
        openai_error(
            "Prompt contains 40000 tokens, too large for model with 32768 maximum context length"
        ),
        CONTEXT,
    ),
    (
        422,
        openai_error(
            "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000"
        ),
        CONTEXT,
    ),
    (400, b"the request exceeds the available context size, try increasing it", CONTEXT),
    (400, openai_error("too many input tokens"), CONTEXT),
    # -- negatives: a caller's bad parameter, whatever "maximum" or "too long" it says -----
    (400, openai_error("temperature 3 exceeds the maximum of 2"), CALLER),
    (
        400,
        openai_error("temperature 3 exceeds the maximum of 2", "decimal_above_max_value"),
        CALLER,
    ),
    (400, openai_error("max_tokens 5000 exceeds the maximum of 4096"), CALLER),
    (
        400,
        openai_error(
            "max_tokens is too large: 100000. This model supports at most 16384 completion tokens",
            "invalid_value",
        ),
        CALLER,
    ),
    (400, openai_error("n exceeds the maximum of 128"), CALLER),
    (
        400,
        openai_error(
            "Invalid 'messages': array too long. Expected an array with maximum length 2048"
        ),
        CALLER,
    ),
    (
        400,
        openai_error(
            "Invalid 'messages[0].content': string too long. "
            "Expected a string with maximum length 1048576"
        ),
        CALLER,
    ),
    (400, openai_error("Invalid 'logit_bias': too many tokens (max 300)"), CALLER),
    (400, openai_error("Unrecognized request argument supplied: stream_options"), CALLER),
    (400, b"not json at all", CALLER),
    (401, openai_error("Incorrect API key provided", "invalid_api_key"), CALLER),
    (403, openai_error("context length is fine, you are not allowed"), CALLER),
    (404, openai_error("The model `gpt-x` does not exist", "model_not_found"), CALLER),
]


@pytest.mark.parametrize(("status", "content", "expected"), CASES)
def test_classify(status: int, content: bytes, expected: Failure) -> None:
    assert classify(status, content) is expected
    assert is_context_length_error(status, content) is (expected is CONTEXT)
    assert is_retryable(status, content) is (expected is not CALLER)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (openai_error("  two\n lines  "), "two lines"),
        (json.dumps({"error": "plain string"}).encode(), "plain string"),
        (json.dumps({"message": "top-level"}).encode(), "top-level"),
        (b"<html>bad gateway</html>", "<html>bad gateway</html>"),
        (openai_error("x" * 400), "x" * 300 + "…"),
    ],
)
def test_error_text(content: bytes, expected: str) -> None:
    assert error_text(content) == expected


def test_relay_headers_pass_what_clients_read() -> None:
    response = httpx.Response(
        429,
        headers=[
            ("Retry-After", "3"),
            ("retry-after-ms", "2500"),
            ("x-ratelimit-remaining-requests", "0"),
            ("X-RateLimit-Reset-Tokens", "6m0s"),
            ("openai-processing-ms", "12"),
            ("x-request-id", "req_abc"),
            ("set-cookie", "session=1"),
            ("content-length", "10"),
            ("server", "upstream"),
        ],
    )
    assert relay_headers(response) == {
        "retry-after": "3",
        "retry-after-ms": "2500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-tokens": "6m0s",
        "openai-processing-ms": "12",
        "x-upstream-request-id": "req_abc",
    }
    anthropic = httpx.Response(200, headers={"request-id": "req_01"})
    assert relay_headers(anthropic) == {"x-upstream-request-id": "req_01"}
