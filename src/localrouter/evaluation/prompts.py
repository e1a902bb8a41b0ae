"""Prompt files, as ``routellm predict --file`` reads them: one prompt per line, or a
``.jsonl`` file of ``{"prompt": ...}`` objects. Blank lines are skipped."""

from __future__ import annotations

import json
from pathlib import Path


class PromptFileError(ValueError):
    """The prompt file cannot be read; the message names the file and line."""


def read_prompt_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptFileError(f"prompt file {path} does not exist") from None
    except UnicodeDecodeError:
        raise PromptFileError(f"prompt file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise PromptFileError(f"cannot read prompt file {path}: {exc.strerror}") from None
    prompts: list[str] = []
    jsonl = path.suffix.lower() == ".jsonl"
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not jsonl:
            prompts.append(line)
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise PromptFileError(f'{path}:{number}: expected an object with a "prompt" string')
        prompts.append(item["prompt"])
    if not prompts:
        raise PromptFileError(f"prompt file {path} holds no prompts")
    return prompts
