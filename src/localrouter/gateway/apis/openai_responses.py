"""OpenAI Responses <-> the chat pivot, requests and (non-streamed) responses.

Client side: :func:`chat_request` (Responses request -> chat; the caller passes the stored
history of ``previous_response_id``) and :func:`response_from_chat` (chat completion ->
``Response`` object). Upstream side, for providers with ``api: openai-responses``:
:func:`responses_request` and :func:`chat_from_response`.

Built-in tools (``web_search``, ``file_search``, ``code_interpreter``, ``computer_use``, MCP,
...) run on OpenAI's side and have no chat equivalent: a 400 naming the tool. Reasoning
items are dropped (their encrypted content only means something to OpenAI), as are
``include``, ``truncation``, ``text.verbosity`` and ``reasoning.summary``.
"""

from __future__ import annotations

import time
from typing import Any

from localrouter.gateway.apis.common import (
    MAX_TOKENS_FIELD,
    Json,
    invalid,
    max_tokens_of,
    new_id,
    text_of_parts,
    unsupported,
)
from localrouter.gateway.errors import ApiError

# Request fields echoed on the Response object, with the defaults OpenAI reports.
_ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "temperature": None,
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "user": None,
    "store": True,
}


# ------------------------------------------------- Responses client -> chat


def chat_request(body: Json, history: list[Json] | None = None) -> Json:
    """A Responses request as a chat request. ``history``: the chat messages of the stored
    conversation ``previous_response_id`` names (its instructions are not carried over, as
    in OpenAI's API)."""
    for key, what in (
        ("background", "background mode"),
        ("conversation", "conversations"),
        ("prompt", "prompt templates"),
    ):
        if body.get(key):
            raise unsupported(what, "openai-chat", param=key)
    messages: list[Json] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages.extend(input_messages(instructions))
    messages.extend(history or [])
    messages.extend(input_messages(body.get("input")))
    chat: Json = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_output_tokens"), int):
        chat[MAX_TOKENS_FIELD] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "user", "safety_identifier"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("tools"):
        chat["tools"] = [_tool_to_chat(tool) for tool in body["tools"]]
        # Chat servers refuse these two without tools (Responses clients send them anyway).
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice_to_chat(body["tool_choice"])
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict):
        response_format = _format_to_chat(fmt)
        if response_format is not None:
            chat["response_format"] = response_format
    effort = (body.get("reasoning") or {}).get("effort")
    if isinstance(effort, str):
        chat["reasoning_effort"] = effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def input_messages(items: Any) -> list[Json]:
    """Responses ``input`` (a string or items) as chat messages."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid("input: a string or a list of items is required", param="input")
    out: list[Json] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"input.{index}: an object is required", param="input")
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message_to_chat(item, index))
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            last = out[-1] if out else None
            # Consecutive calls (and a text turn just before them) form one assistant turn.
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            elif last is not None and last["role"] == "assistant":
                last["tool_calls"] = [call]
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else text_of_parts(output, ("input_text",))
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        elif kind == "reasoning":
            continue
        else:
            raise unsupported(f"input.{index}: a {kind!r} item", "openai-chat", param="input")
    return out


def _message_to_chat(item: Json, index: int) -> Json:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise invalid(f"input.{index}.role: unknown role {role!r}", param="input")
    # Not every chat server knows "developer"; "system" means the same to all of them.
    chat_role = "system" if role == "developer" else role
    content = item.get("content")
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": text_of_parts(content, ("output_text", "refusal"))}
    parts: list[Json] = []
    for number, part in enumerate(content or []):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"input.{index}.content.{number}"
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            if not part.get("image_url"):
                raise unsupported(f"{where}: an image given by file_id", "openai-chat")
            image: Json = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            if not part.get("file_data"):
                raise unsupported(f"{where}: a file given by file_id or URL", "openai-chat")
            file = {"file_data": part["file_data"], "filename": part.get("filename") or "file"}
            parts.append({"type": "file", "file": file})
        else:
            raise unsupported(f"{where}: a {kind!r} part", "openai-chat")
    if all(part["type"] == "text" for part in parts):
        return {"role": chat_role, "content": "\n".join(part["text"] for part in parts)}
    return {"role": chat_role, "content": parts}


def _tool_to_chat(tool: Json) -> Json:
    if tool.get("type") != "function":
        raise unsupported(
            f"the built-in tool {tool.get('type')!r}",
            "openai-chat",
            param="tools",
            hint="only function tools can be; use a provider with api: openai-responses",
        )
    function: Json = {"name": tool.get("name")}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice_to_chat(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise unsupported(f"tool_choice {kind!r}", "openai-chat", param="tool_choice")


def _format_to_chat(fmt: Json) -> Json | None:
    kind = fmt.get("type")
    if kind == "json_schema":
        schema: Json = {"name": fmt.get("name", "output"), "schema": fmt.get("schema", {})}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


# ------------------------------------------------- chat answer -> Responses client


def response_skeleton(
    request: Json, *, response_id: str | None = None, model: str | None = None
) -> Json:
    """A ``Response`` object for ``request`` with no output yet (status ``in_progress``)."""
    response: Json = {
        "id": response_id or new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "model": model or request.get("model") or "",
        "output": [],
        "usage": None,
    }
    for key, default in _ECHOED.items():
        value = request.get(key)
        response[key] = default if value is None else value
    fmt = (request.get("text") or {}).get("format") or {"type": "text"}
    response["text"] = {"format": fmt}
    reasoning = request.get("reasoning") or {}
    response["reasoning"] = {"effort": reasoning.get("effort"), "summary": None}
    response["truncation"] = request.get("truncation") or "disabled"
    return response


def response_from_chat(
    chat: Json, request: Json, *, response_id: str | None = None, model: str | None = None
) -> Json:
    """A chat completion as the ``Response`` object answering ``request``."""
    response = response_skeleton(request, response_id=response_id, model=model or chat.get("model"))
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text = message.get("content")
    if isinstance(text, list):
        text = text_of_parts(text)
    output: list[Json] = []
    parts: list[Json] = []
    if isinstance(text, str) and text:
        parts.append(output_text(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        output.append(message_item(new_id("msg_"), parts, "completed"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(
            function_call_item(
                new_id("fc_"),
                call.get("id") or new_id("call_"),
                function.get("name", ""),
                function.get("arguments") or "",
                "completed",
            )
        )
    response["output"] = output
    finish(response, choice.get("finish_reason"), chat.get("usage"))
    return response


def output_text(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, content: list[Json], status: str) -> Json:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Json:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def finish(response: Json, finish_reason: Any, usage: Any) -> None:
    """Set a response's final status and usage from the chat finish reason and usage."""
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    if response["status"] == "incomplete":
        for item in response["output"]:
            item["status"] = "incomplete"
    response["usage"] = usage_from_chat(usage)
    response["completed_at"] = int(time.time())


def usage_from_chat(usage: Any) -> Json:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def output_messages(response: Json) -> list[Json]:
    """A response's output as chat messages, for the conversation store."""
    return input_messages(
        [item for item in response.get("output") or [] if item.get("type") != "reasoning"]
    )


def conversation_after(request: Json, history: list[Json], response: Json) -> list[Json]:
    """What the store keeps for ``response``: the earlier conversation, this request's input
    and the answer, in chat format (instructions left out, as OpenAI does)."""
    return [*history, *input_messages(request.get("input")), *output_messages(response)]


# ------------------------------------------------- chat request -> Responses upstream


def responses_request(chat: Json) -> Json:
    """A chat request for a provider that speaks the Responses API (stored nowhere upstream:
    chat clients keep their own history)."""
    messages = chat.get("messages")
    if not isinstance(messages, list):
        raise invalid("messages: a list of messages is required", param="messages")
    if chat.get("stop"):
        raise unsupported("stop sequences (stop)", "openai-responses", param="stop")
    if (chat.get("n") or 1) > 1:
        raise unsupported("n > 1 (several choices)", "openai-responses", param="n")
    if chat.get("logprobs"):
        raise unsupported("logprobs", "openai-responses", param="logprobs")
    if chat.get("audio") or chat.get("modalities"):
        raise unsupported("audio output", "openai-responses", param="audio")
    items: list[Json] = []
    for index, message in enumerate(messages):
        items.extend(_chat_message_items(message, index))
    body: Json = {"model": chat.get("model"), "input": items, "store": False}
    limit = max_tokens_of(chat)
    if limit is not None:
        body["max_output_tokens"] = limit
    for key in (
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "metadata",
        "prompt_cache_key",
        "service_tier",
    ):
        if chat.get(key) is not None:
            body[key] = chat[key]
    if chat.get("tools"):
        body["tools"] = [_tool_to_responses(tool) for tool in chat["tools"]]
    choice = chat.get("tool_choice")
    if choice is not None:
        if isinstance(choice, dict) and choice.get("type") == "function":
            choice = {"type": "function", "name": (choice.get("function") or {}).get("name")}
        elif choice not in ("auto", "none", "required"):
            raise unsupported(f"tool_choice {choice!r}", "openai-responses", param="tool_choice")
        body["tool_choice"] = choice
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") or {}
        body["text"] = {"format": {"type": "json_schema", **schema}}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    if isinstance(chat.get("reasoning_effort"), str):
        body["reasoning"] = {"effort": chat["reasoning_effort"]}
    if chat.get("stream"):
        body["stream"] = True
    return body


def _chat_message_items(message: Any, index: int) -> list[Json]:
    role = message.get("role") if isinstance(message, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if role in ("system", "developer", "user"):
        if isinstance(content, str):
            return [{"type": "message", "role": role, "content": content}]
        parts = [_part_to_responses(part, index, n) for n, part in enumerate(content or [])]
        return [{"type": "message", "role": role, "content": parts}]
    if role == "assistant":
        assert isinstance(message, dict)
        items: list[Json] = []
        text = text_of_parts(content, ("text", "refusal"))
        if text:
            items.append({"type": "message", "role": "assistant", "content": text})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "",
                }
            )
        return items
    if role == "tool":
        assert isinstance(message, dict)
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": text_of_parts(content),
            }
        ]
    raise unsupported(f"messages.{index}: a {role!r} message", "openai-responses")


def _part_to_responses(part: Any, index: int, number: int) -> Json:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url") or {}
        out: Json = {"type": "input_image", "image_url": image.get("url"), "detail": "auto"}
        if image.get("detail"):
            out["detail"] = image["detail"]
        return out
    if kind == "file":
        file = part.get("file") or {}
        result: Json = {"type": "input_file"}
        for key in ("file_data", "file_id", "filename"):
            if file.get(key):
                result[key] = file[key]
        return result
    raise unsupported(f"messages.{index}.content.{number}: a {kind!r} part", "openai-responses")


def _tool_to_responses(tool: Json) -> Json:
    if tool.get("type") != "function":
        raise unsupported(f"a {tool.get('type')!r} tool", "openai-responses", param="tools")
    function = tool.get("function") or {}
    out: Json = {"type": "function", "name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    out["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
    # Responses function tools are strict unless told otherwise; chat tools are not.
    out["strict"] = bool(function.get("strict", False))
    return out


# ------------------------------------------------- Responses upstream answer -> chat


def chat_from_response(response: Json) -> Json:
    """A ``Response`` object as a chat completion (a failed one as a 502)."""
    if response.get("status") == "failed":
        error = response.get("error") or {}
        reason = error.get("message") or "no reason given"
        raise ApiError(502, f"the upstream response failed: {reason}", "upstream_error")
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[Json] = []
    for item in response.get("output") or []:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "refusal":
                    refusals.append(part.get("refusal", ""))
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
                }
            )
    message: Json = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": "".join(refusals) or None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + str(response.get("id") or new_id("")),
        "object": "chat.completion",
        "created": int(response.get("created_at") or time.time()),
        "model": response.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(response, bool(calls)),
                "logprobs": None,
            }
        ],
        "usage": chat_usage(response.get("usage")),
    }


def finish_reason(response: Json, has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def chat_usage(usage: Any) -> Json:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": int(
                (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
            )
        },
        "completion_tokens_details": {
            "reasoning_tokens": int(
                (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
            )
        },
    }
