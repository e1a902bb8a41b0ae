"""Anthropic Messages <-> the chat pivot, requests and (non-streamed) responses.

Client side: :func:`chat_request` (Anthropic request -> chat) and :func:`message_from_chat`
(chat response -> Anthropic ``Message``). Upstream side, for providers with
``api: anthropic``: :func:`anthropic_request` (chat request -> Anthropic) and
:func:`chat_from_message` (Anthropic ``Message`` -> chat response).

Dropped on purpose (no meaning on the other side, and harmless to lose): ``cache_control``,
``top_k``, ``thinking`` and ``thinking`` / ``redacted_thinking`` blocks (signed by Anthropic,
they cannot be replayed elsewhere, and another model's reasoning cannot be signed),
``service_tier``; on the way to Anthropic ``presence_penalty``, ``frequency_penalty``,
``seed``, ``logit_bias``, ``stream_options`` (usage is always reported). What has no
equivalent and would change the answer (server tools, ``n > 1``, logprobs, audio, JSON mode
without a schema) is a 400 naming it.
"""

from __future__ import annotations

import time
from typing import Any

from localrouter.gateway.apis.common import (
    MAX_TOKENS_FIELD,
    Json,
    data_url,
    dump_arguments,
    invalid,
    max_tokens_of,
    new_id,
    parse_arguments,
    split_data_url,
    text_of_parts,
    unsupported,
)

# The API version sent to Anthropic upstreams when the client named none (a chat client).
ANTHROPIC_VERSION = "2023-06-01"

# Anthropic requires ``max_tokens``; chat clients usually leave it out. 8192 is accepted by
# every Claude model since 3.5 (their smallest output ceiling), long enough for most answers.
DEFAULT_MAX_TOKENS = 8192

STOP_REASONS = {  # chat finish_reason -> Anthropic stop_reason
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
FINISH_REASONS = {  # Anthropic stop_reason -> chat finish_reason
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


# ------------------------------------------------- Anthropic client -> chat


def chat_request(body: Json) -> Json:
    """An Anthropic Messages request as a chat-completions request."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise invalid("messages: a list of messages is required", param="messages")
    if not isinstance(body.get("max_tokens"), int):
        raise invalid("max_tokens: an integer is required", param="max_tokens")
    out: list[Json] = []
    system = _system_text(body.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: must be 'user' or 'assistant'", param="messages")
        if message["role"] == "user":
            out.extend(_user_to_chat(message.get("content"), index))
        else:
            assistant = _assistant_to_chat(message.get("content"), index)
            if assistant is not None:
                out.append(assistant)
    chat: Json = {"model": body.get("model"), "messages": out, MAX_TOKENS_FIELD: body["max_tokens"]}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if isinstance(body.get("stop_sequences"), list) and body["stop_sequences"]:
        chat["stop"] = list(body["stop_sequences"])
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str):
        chat["user"] = user_id
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chat["tools"] = [_tool_to_chat(tool) for tool in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and chat.get("tools"):  # chat servers refuse it without tools
        _tool_choice_to_chat(choice, chat)
    if body.get("mcp_servers"):
        raise unsupported("MCP servers (mcp_servers)", "openai-chat", param="mcp_servers")
    output_config = body.get("output_config")
    output_config = output_config if isinstance(output_config, dict) else {}
    fmt = output_config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.get("schema", {}), "strict": True},
        }
    effort = output_config.get("effort")
    if isinstance(effort, str):
        chat["reasoning_effort"] = effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            block["text"]
            for block in system
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ""


def _image_part(block: Json, where: str) -> Json:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        url = data_url(source.get("media_type", "image/png"), source.get("data", ""))
    elif kind == "url":
        url = source.get("url", "")
    else:
        raise unsupported(f"{where}: an image with source type {kind!r}", "openai-chat")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: Json, where: str) -> Json:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": source.get("data", "")}
    if kind == "base64" and source.get("media_type") == "application/pdf":
        return {
            "type": "file",
            "file": {
                "filename": block.get("title") or "document.pdf",
                "file_data": data_url("application/pdf", source.get("data", "")),
            },
        }
    raise unsupported(f"{where}: a document with source type {kind!r}", "openai-chat")


def _user_content(parts: list[Json]) -> str | list[Json]:
    """All-text content as one string (what every chat server takes), else the parts."""
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _user_to_chat(content: Any, index: int) -> list[Json]:
    """One Anthropic user turn: its tool results as ``tool`` messages first (they answer the
    previous assistant turn), then the rest as a user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise invalid(f"messages.{index}.content: a string or a list of blocks is required")
    tools: list[Json] = []
    parts: list[Json] = []
    for number, block in enumerate(content):
        where = f"messages.{index}.content.{number}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(_image_part(block, where))
        elif kind == "document":
            parts.append(_document_part(block, where))
        elif kind == "tool_result":
            text, images = _tool_result(block, where)
            tools.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}
            )
            # Chat tool messages hold text only: the images follow in the next user message.
            parts.extend(images)
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise unsupported(f"{where}: a {kind!r} block", "openai-chat")
    out = list(tools)
    if parts:
        out.append({"role": "user", "content": _user_content(parts)})
    return out


def _tool_result(block: Json, where: str) -> tuple[str, list[Json]]:
    content = block.get("content")
    images: list[Json] = []
    if isinstance(content, list):
        texts = []
        for number, item in enumerate(content):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "text":
                texts.append(item.get("text", ""))
            elif item.get("type") == "image":
                images.append(_image_part(item, f"{where}.content.{number}"))
            else:
                raise unsupported(
                    f"{where}.content.{number}: a {item.get('type')!r} block in a tool result",
                    "openai-chat",
                )
        text = "\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error"):
        # Chat has no error flag on tool results; say it in the text so the model knows.
        text = f"[tool error] {text}"
    return text, images


def _assistant_to_chat(content: Any, index: int) -> Json | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise invalid(f"messages.{index}.content: a string or a list of blocks is required")
    texts: list[str] = []
    calls: list[Json] = []
    for number, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": dump_arguments(block.get("input")),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise unsupported(f"messages.{index}.content.{number}: a {kind!r} block", "openai-chat")
    if not texts and not calls:
        return None
    message: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_to_chat(tool: Json) -> Json:
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise unsupported(
            f"the Anthropic server tool {tool.get('name')!r} (type {kind!r})",
            "openai-chat",
            param="tools",
            hint="only custom tools (name, description, input_schema) can be",
        )
    function: Json = {
        "name": tool.get("name"),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice_to_chat(choice: Json, chat: Json) -> None:
    kind = choice.get("type")
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        raise unsupported(f"tool_choice type {kind!r}", "openai-chat", param="tool_choice")
    if choice.get("disable_parallel_tool_use") and chat.get("tools"):
        chat["parallel_tool_calls"] = False


# ------------------------------------------------- chat answer -> Anthropic client


def message_from_chat(chat: Json, *, model: str | None = None) -> Json:
    """A chat completion as an Anthropic ``Message``."""
    choices = chat.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[Json] = []
    text = message.get("content")
    if isinstance(text, list):
        text = text_of_parts(text)
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        content.append({"type": "text", "text": message["refusal"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or new_id("toolu_"),
                "name": function.get("name", ""),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    stop_reason, stop_sequence = _stop_reason(choice)
    if stop_reason == "end_turn" and message.get("tool_calls"):
        stop_reason = "tool_use"  # some servers say "stop" after tool calls
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model or chat.get("model") or "",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_from_chat(chat.get("usage")),
    }


def _stop_reason(choice: Json) -> tuple[str, str | None]:
    finish = choice.get("finish_reason")
    # vLLM reports the stop string it matched; plain OpenAI does not.
    matched = choice.get("stop_reason")
    if finish == "stop" and isinstance(matched, str):
        return "stop_sequence", matched
    return STOP_REASONS.get(finish or "stop", "end_turn"), None


def usage_from_chat(usage: Any) -> Json:
    """Chat usage as Anthropic's: ``input_tokens`` excludes the cache reads it lists apart."""
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    out: Json = {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }
    if cached:
        out["cache_read_input_tokens"] = cached
    return out


# ------------------------------------------------- chat request -> Anthropic upstream


def upstream_headers(
    api_key: str | None, client_headers: dict[str, str] | None = None
) -> dict[str, str]:
    """Headers for an Anthropic upstream: the key as ``x-api-key``, and the client's
    ``anthropic-version`` / ``anthropic-beta`` when an Anthropic client sent them (native
    pass-through), else the default version. Header names as lower-case keys."""
    client = {k.lower(): v for k, v in (client_headers or {}).items()}
    headers = {"anthropic-version": client.get("anthropic-version") or ANTHROPIC_VERSION}
    if client.get("anthropic-beta"):
        headers["anthropic-beta"] = client["anthropic-beta"]
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def anthropic_request(chat: Json) -> Json:
    """A chat-completions request for a provider that speaks the Anthropic Messages API."""
    messages = chat.get("messages")
    if not isinstance(messages, list):
        raise invalid("messages: a list of messages is required", param="messages")
    for key, what in (("audio", "audio output"), ("modalities", "output modalities")):
        if chat.get(key):
            raise unsupported(what, "anthropic", param=key)
    if (chat.get("n") or 1) > 1:
        raise unsupported("n > 1 (several choices)", "anthropic", param="n")
    if chat.get("logprobs") or chat.get("top_logprobs"):
        raise unsupported("logprobs", "anthropic", param="logprobs")
    system: list[str] = []
    turns: list[Json] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system.append(text_of_parts(message.get("content")))
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), index))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, index))
        elif role == "tool":
            result: Json = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": text_of_parts(message.get("content")),
            }
            _append(turns, "user", [result])
        else:
            raise unsupported(f"messages.{index}: a {role!r} message", "anthropic")
    body: Json = {
        "model": chat.get("model"),
        "messages": turns,
        "max_tokens": max_tokens_of(chat) or DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(s for s in system if s)
    temperature = chat.get("temperature")
    if isinstance(temperature, int | float):
        body["temperature"] = min(float(temperature), 1.0)  # Anthropic's range is 0..1
    if chat.get("top_p") is not None:
        body["top_p"] = chat["top_p"]
    stop = chat.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(chat.get("user"), str):
        body["metadata"] = {"user_id": chat["user"]}
    if chat.get("tools"):
        body["tools"] = [_tool_to_anthropic(tool) for tool in chat["tools"]]
        choice = _tool_choice_to_anthropic(chat.get("tool_choice"))
        if chat.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice
    output_config = _output_config(chat)
    if output_config:
        body["output_config"] = output_config
    if chat.get("stream"):
        body["stream"] = True
    return body


def _append(turns: list[Json], role: str, blocks: list[Json]) -> None:
    """Add blocks as a turn, merged into the previous one of the same role; a user turn's
    tool results go first, as Anthropic requires."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        merged = turns[-1]["content"] + blocks
        if role == "user":
            merged.sort(key=lambda block: block["type"] != "tool_result")  # stable
        turns[-1]["content"] = merged
    else:
        turns.append({"role": role, "content": list(blocks)})


def _image_block(url: str) -> Json:
    inline = split_data_url(url)
    if inline is not None:
        media_type, data = inline
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any, index: int) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Json] = []
    for number, part in enumerate(content or []):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            blocks.append(_image_block(image.get("url", "") if isinstance(image, dict) else image))
        elif kind == "file":
            blocks.append(_file_block(part.get("file") or {}, f"messages.{index}.content.{number}"))
        else:
            raise unsupported(f"messages.{index}.content.{number}: a {kind!r} part", "anthropic")
    return blocks


def _file_block(file: Json, where: str) -> Json:
    inline = split_data_url(str(file.get("file_data") or ""))
    if inline is None or inline[0] != "application/pdf":
        raise unsupported(f"{where}: a file other than an inline PDF", "anthropic")
    block: Json = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": inline[1]},
    }
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def _assistant_blocks(message: Json, index: int) -> list[Json]:
    blocks: list[Json] = []
    text = text_of_parts(message.get("content"), ("text", "refusal"))
    if not text and isinstance(message.get("refusal"), str):
        text = message["refusal"]
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        if call.get("type", "function") != "function":
            raise unsupported(f"messages.{index}: a {call.get('type')!r} tool call", "anthropic")
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_to_anthropic(tool: Json) -> Json:
    if tool.get("type") != "function":
        raise unsupported(f"a {tool.get('type')!r} tool", "anthropic", param="tools")
    function = tool.get("function") or {}
    out: Json = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    if function.get("strict") is not None:
        out["strict"] = function["strict"]
    return out


def _tool_choice_to_anthropic(choice: Any) -> Json | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    raise unsupported(f"tool_choice {choice!r}", "anthropic", param="tool_choice")


def _output_config(chat: Json) -> Json:
    config: Json = {}
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        config["format"] = {
            "type": "json_schema",
            "schema": (fmt.get("json_schema") or {}).get("schema", {}),
        }
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        raise unsupported(
            "response_format json_object (JSON mode without a schema)",
            "anthropic",
            param="response_format",
            hint="use response_format json_schema",
        )
    effort = chat.get("reasoning_effort")
    if effort == "minimal":
        effort = "low"
    if isinstance(effort, str) and effort in _EFFORTS:
        config["effort"] = _EFFORTS[effort]
    return config


# ------------------------------------------------- Anthropic upstream answer -> chat


def chat_from_message(message: Json) -> Json:
    """An Anthropic ``Message`` as a chat completion."""
    texts: list[str] = []
    calls: list[Json] = []
    for block in message.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": dump_arguments(block.get("input")),
                    },
                }
            )
    reply: Json = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + str(message.get("id") or new_id("")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": chat_usage(message.get("usage")),
    }


def chat_usage(usage: Any) -> Json:
    """Anthropic usage as chat usage: prompt tokens include the cache reads and writes."""
    usage = usage if isinstance(usage, dict) else {}
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = (
        int(usage.get("input_tokens") or 0)
        + cached
        + int(usage.get("cache_creation_input_tokens") or 0)
    )
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
