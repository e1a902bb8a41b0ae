"""What the router classifies in each API: the human's latest request, not tool results or
harness-injected blocks, so an agent's tool loop keeps the tier of the request that started it."""

from __future__ import annotations

from typing import Any

import pytest

from localrouter.gateway.apis.prompt_text import (
    anthropic_prompt_text,
    chat_prompt_text,
    responses_prompt_text,
)

REMINDER = "<system-reminder>\nThe user opened file.py\n</system-reminder>"

# A Claude Code session: the first turn carries injected context blocks, then a tool loop.
CLAUDE_CODE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": REMINDER},
            {"type": "text", "text": "Refactor the parser"},
            {"type": "text", "text": "<system-reminder>todo list empty</system-reminder>"},
        ],
    },
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"p": "a"}}],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "def parse(): ..."},
            {"type": "text", "text": REMINDER},
        ],
    },
]


@pytest.mark.parametrize(
    ("messages", "classify", "expected"),
    [
        (CLAUDE_CODE, "last_user", "Refactor the parser"),
        (
            [
                *CLAUDE_CODE,
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "thanks, now tests"},
            ],
            "last_user",
            "thanks, now tests",
        ),
        (
            [
                *CLAUDE_CODE,
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "now tests"},
            ],
            "all_user",
            "Refactor the parser\nnow tests",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image", "source": {}},
                        {"type": "text", "text": "b"},
                    ],
                }
            ],
            "last_user",
            "a\nb",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}],
                }
            ],
            "last_user",
            "",
        ),
        ([], "last_user", ""),
    ],
)
def test_anthropic_prompt_text(messages: list[Any], classify: str, expected: str) -> None:
    assert anthropic_prompt_text(messages, classify) == expected


def test_chat_prompt_text_skips_tool_messages_and_reminder_only_turns() -> None:
    messages = [
        {"role": "system", "content": "You are helpful"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Fix the bug"},
                {"type": "image_url", "image_url": {"url": "x"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "traceback"},
        {"role": "user", "content": REMINDER},
    ]
    assert chat_prompt_text(messages) == "Fix the bug"
    assert chat_prompt_text(messages, "all_user") == "Fix the bug"
    assert (
        chat_prompt_text([{"role": "user", "content": f"{REMINDER}\nwhy is it slow?"}])
        == "why is it slow?"
    )


def test_responses_prompt_text() -> None:
    codex_turn = [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "<environment_context>cwd=/x</environment_context>"}
            ],
        },
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "<user_instructions>AGENTS.md</user_instructions>"}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "add a flag"},
                {"type": "input_image", "image_url": "data:x"},
            ],
        },
    ]
    assert responses_prompt_text("plain question") == "plain question"
    assert responses_prompt_text(codex_turn) == "add a flag"
    # A tool-loop turn continuing a stored conversation: only function_call_output in input.
    history = [{"role": "user", "content": "add a flag"}, {"role": "assistant", "content": None}]
    loop_turn = [{"type": "function_call_output", "call_id": "c", "output": "ok"}]
    assert responses_prompt_text(loop_turn) == ""
    assert responses_prompt_text(loop_turn, history=history) == "add a flag"
    assert responses_prompt_text("and docs", "all_user", history) == "add a flag\nand docs"
