"""The text RouteLLM classifies, for each API (README "How a request is routed").

The human's latest request: the last user turn that a person wrote, its text parts joined,
without tool results, images, and blocks a harness injects (``<system-reminder>`` from Claude
Code, ``<environment_context>`` / ``<user_instructions>`` from Codex). A user turn left with
no text after that (one holding only tool results) is not a human turn, so every turn of an
agent's tool loop is classified by the request that started it. ``all_user``: every human
turn, joined by newlines. Each function reads its API's own shape, so a request passed to its
upstream natively is never translated just to be classified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

INJECTED_TAGS = ("system-reminder", "environment_context", "user_instructions")
_INJECTED = re.compile(r"<(" + "|".join(INJECTED_TAGS) + r")>.*?</\1>\s*", re.DOTALL)
_TEXT_KINDS = ("text", "input_text")


def strip_injected(text: str) -> str:
    return _INJECTED.sub("", text).strip()


def _part_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        part if isinstance(part, str) else part["text"]
        for part in content
        if isinstance(part, str)  # some chat clients send bare strings as parts
        or (
            isinstance(part, dict)
            and part.get("type", "text") in _TEXT_KINDS
            and isinstance(part.get("text"), str)
        )
    ]


def _human_text(content: Any) -> str:
    """A user turn's own text: text parts with injected blocks removed, joined."""
    texts = (strip_injected(text) for text in _part_texts(content))
    return "\n".join(text for text in texts if text)


def _pick(turns: Iterable[str], classify: str) -> str:
    human = [turn for turn in turns if turn]
    if not human:
        return ""
    return "\n".join(human) if classify == "all_user" else human[-1]


def chat_prompt_text(messages: Any, classify: str = "last_user") -> str:
    """Chat Completions ``messages`` (tool results are ``tool`` messages, never user turns)."""
    if not isinstance(messages, list):
        return ""
    return _pick(
        (
            _human_text(m.get("content"))
            for m in messages
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        classify,
    )


def anthropic_prompt_text(messages: Any, classify: str = "last_user") -> str:
    """Anthropic ``messages``: ``tool_result`` blocks are skipped (they are not text blocks)."""
    return chat_prompt_text(messages, classify)


def responses_prompt_text(
    input: Any, classify: str = "last_user", history: list[Any] | None = None
) -> str:
    """Responses ``input`` (a string or items), after ``history``: the stored chat messages
    of ``previous_response_id``, so a turn carrying only ``function_call_output`` keeps the
    request that started the loop."""
    turns = [
        _human_text(m.get("content"))
        for m in history or []
        if isinstance(m, dict) and m.get("role") == "user"
    ]
    if isinstance(input, str):
        turns.append(strip_injected(input))
    elif isinstance(input, list):
        turns += [
            _human_text(item.get("content"))
            for item in input
            if isinstance(item, dict)
            and item.get("type", "message") == "message"
            and item.get("role") == "user"
        ]
    return _pick(turns, classify)
