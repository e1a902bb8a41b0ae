"""What the router classifies (gateway/proxy/routing.py): every content shape, plain calls."""

from __future__ import annotations

from typing import Any

import pytest

from localrouter.gateway.proxy.routing import chat_text, prompt_text

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain text", "plain text"),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "a\nb"),
        ([{"type": "text", "text": "look"}, IMAGE], "look"),  # images are ignored
        ([IMAGE], ""),
        (["bare", "strings"], "bare\nstrings"),
        ([{"type": "input_text", "text": "responses-style"}], "responses-style"),
        ([{"text": "no type"}], "no type"),  # a part without a type is text
        ([{"type": "text", "text": 5}, {"type": "text"}], ""),  # not text: skipped
        ([{"type": "input_audio", "text": "transcript?"}], ""),
        (None, ""),
        (42, ""),
        ([], ""),
    ],
)
def test_content_shapes(content: Any, text: str) -> None:
    assert chat_text([user(content)], "last_user") == text


CONVERSATION = [
    {"role": "system", "content": "be brief"},
    user("first"),
    {"role": "assistant", "content": "answer"},
    user([{"type": "text", "text": "second"}, IMAGE]),
    {"role": "tool", "content": "tool output", "tool_call_id": "t1"},
]


@pytest.mark.parametrize(
    ("messages", "classify", "text"),
    [
        (CONVERSATION, "last_user", "second"),
        (CONVERSATION, "all_user", "first\nsecond"),
        ([{"role": "system", "content": "only system"}], "last_user", ""),
        ([{"role": "system", "content": "only system"}], "all_user", ""),
        (["not a message", user("kept")], "last_user", "kept"),
        ([user("a"), user("b")], "last_user", "b"),
        # A harness's injected reminder is not the human's request.
        (
            [user("<system-reminder>todo list</system-reminder>\nfix the bug")],
            "last_user",
            "fix the bug",
        ),
    ],
)
def test_which_messages(messages: list[Any], classify: str, text: str) -> None:
    assert chat_text(messages, classify) == text


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("one prompt", "one prompt"),
        (["a", "b"], "a\nb"),
        ([], ""),
        ([1, 2, 3], ""),  # token ids: nothing to classify
        ([[1, 2], [3]], ""),
        (["text", 3], ""),
        (None, ""),
    ],
)
def test_prompt_text(prompt: Any, text: str) -> None:
    assert prompt_text(prompt) == text
