"""The /v1/messages/count_tokens estimate: grows with the text, counts every part, and is
in the right range for English text."""

from __future__ import annotations

import anthropic.types as at
import pytest

from localrouter.gateway.apis.count_tokens import IMAGE_TOKENS, MESSAGE_TOKENS, count_tokens
from localrouter.gateway.errors import ApiError


def _count(**body: object) -> int:
    result = count_tokens({"model": "m", **body})
    return at.MessageTokensCount.model_validate(result, strict=True).input_tokens


def test_estimate_is_about_four_characters_a_token() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 40  # 1,800 chars, ~400 real tokens
    tokens = _count(messages=[{"role": "user", "content": text}])
    assert tokens == MESSAGE_TOKENS + 450
    assert 300 <= tokens <= 600


def test_every_part_of_the_request_counts() -> None:
    base = _count(messages=[{"role": "user", "content": "hi"}])
    assert _count(system="Be brief and exact.", messages=[{"role": "user", "content": "hi"}]) > base
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}
    with_image = _count(
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    )
    assert with_image == base + IMAGE_TOKENS
    tool = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
    assert _count(messages=[{"role": "user", "content": "hi"}], tools=[tool]) > base
    loop = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t", "name": "ls", "input": {"p": "."}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t", "content": "a.txt b.txt"}],
        },
    ]
    assert _count(messages=loop) > base + 2 * MESSAGE_TOKENS
    # CJK takes about a token a character, not a quarter.
    assert (
        _count(messages=[{"role": "user", "content": "日本語のテキスト" * 10}])
        >= 60 + MESSAGE_TOKENS
    )


def test_messages_are_required() -> None:
    with pytest.raises(ApiError) as caught:
        count_tokens({"model": "m"})
    assert (caught.value.status, caught.value.param) == (400, "messages")
