"""The client APIs the pipeline serves, one small adapter each.

An adapter holds what differs between OpenAI Chat (with the legacy completions and
embeddings), OpenAI Responses and Anthropic Messages: checking the few fields routing needs,
the text to classify, the body for a target of each provider API (the client's own body when
the APIs match, else translated through the chat pivot of ``gateway/apis``), the answer and
the stream back in the client's API, upstream errors in the client's shape, and what happens
after an answer (Responses are stored). Routing, fallback, logging and relaying are the
pipeline's, the same for all.

One adapter object serves one request (it caches the pivot and per-API bodies).
"""

from __future__ import annotations

import json
from typing import Any

from localrouter.gateway.apis import anthropic_messages, openai_responses
from localrouter.gateway.apis.common import Api, Json, unsupported
from localrouter.gateway.apis.errors import openai_from_anthropic
from localrouter.gateway.apis.prompt_text import (
    anthropic_prompt_text,
    chat_prompt_text,
    responses_prompt_text,
)
from localrouter.gateway.apis.response_store import ResponseStore
from localrouter.gateway.errors import ApiError
from localrouter.gateway.proxy.providers import API_PATHS
from localrouter.gateway.proxy.routing import prompt_text
from localrouter.gateway.proxy.streams import ChatRelay, NativeRelay, Relay, TranslatedRelay

_LEGACY_PATHS = {"completions": "/completions", "embeddings": "/embeddings"}


def missing(name: str) -> ApiError:
    return ApiError(
        400, f"'{name}' is a required property", "missing_required_parameter", param=name
    )


def invalid(name: str, why: str) -> ApiError:
    return ApiError(400, f"'{name}' {why}", "invalid_parameter", param=name)


def _check_model_and_stream(body: Json) -> str:
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "must be a non-empty string")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "must be a boolean")
    return model


def _check_messages(body: Json) -> None:
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "must be a non-empty array of messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{index}]", "must be an object with a string 'role'")


def _json_object(content: bytes) -> Json:
    data = json.loads(content)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _chat_from(api: Api, content: bytes) -> Json:
    """An upstream's (2xx) answer in its API, as a chat completion."""
    data = _json_object(content)
    if api == "anthropic":
        return anthropic_messages.chat_from_message(data)
    if api == "openai-responses":
        return openai_responses.chat_from_response(data)
    return data


class ClientApi:
    """The OpenAI Chat Completions API; the base of the others."""

    api: Api = "openai-chat"

    def __init__(self, kind: str = "chat") -> None:
        self.kind = kind  # the metrics' endpoint label
        self.body: Json = {}
        self._pivot: Json | None = None

    # -- the request ------------------------------------------------------------------------

    def check(self, body: Json) -> str:
        """The requested model, after the checks routing depends on (the upstream or the
        translators validate the rest)."""
        self.body = body
        model = _check_model_and_stream(body)
        if self.kind == "chat":
            _check_messages(body)
        else:
            name = "prompt" if self.kind == "completions" else "input"
            value = body.get(name)
            if value is None:
                raise missing(name)
            if not isinstance(value, str | list):
                raise invalid(name, "must be a string or an array")
        return model

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream")) and self.kind != "embeddings"

    async def prepare(self, store: ResponseStore | None) -> None:
        """Load what the request refers to (a stored conversation)."""

    def prompt(self, classify: str) -> str:
        if self.kind == "chat":
            return chat_prompt_text(self.body["messages"], classify)
        return prompt_text(self.body["prompt" if self.kind == "completions" else "input"])

    def pivot(self) -> Json:
        """The request as a chat-completions request (computed once)."""
        if self._pivot is None:
            self._pivot = self._to_pivot()
        return self._pivot

    def _to_pivot(self) -> Json:
        return self.body

    def native(self, api: Api) -> bool:
        """Whether a provider of ``api`` gets the client's body as it is."""
        return api == self.api

    def path(self, api: Api) -> str:
        return _LEGACY_PATHS.get(self.kind) or API_PATHS[api]

    def payload(self, api: Api) -> Json:
        """The body for a provider of ``api``; 400 for what cannot be translated."""
        if self.native(api):
            return self.body
        if self.kind in _LEGACY_PATHS:
            raise unsupported(f"/v1/{self.kind}", api, hint="use a provider with api: openai-chat")
        chat = self.pivot()
        if api == "anthropic":
            return anthropic_messages.anthropic_request(chat)
        if api == "openai-responses":
            return openai_responses.responses_request(chat)
        return dict(chat)  # run_chain sets each target's model: leave the pivot as it is

    # -- the answer -------------------------------------------------------------------------

    def answer(self, api: Api, content: bytes) -> Json:
        """A translated (2xx) answer in the client's API; ValueError when it is not JSON."""
        return _chat_from(api, content)

    def relay(self, api: Api, strip_usage: bool) -> Relay:
        if self.native(api):
            if self.api == "openai-chat":
                return ChatRelay(strip_usage_chunk=strip_usage)
            return NativeRelay(self.api)
        return TranslatedRelay(api, self.api, self.body, include_usage=not strip_usage)

    def upstream_error(self, api: Api, status: int, content: bytes) -> tuple[int, bytes]:
        """An upstream's error answer in the client's error shape (Anthropic clients: the
        Anthropic-errors middleware reshapes OpenAI-shaped ones)."""
        if api == "anthropic" and self.api != "anthropic":
            try:
                data: Any = json.loads(content)
            except ValueError:
                data = None
            status, body = openai_from_anthropic(status, data)
            return status, json.dumps(body).encode()
        return status, content

    async def answered(self, store: ResponseStore | None, response: Json | None) -> None:
        """After a successful answer (``response``: the Responses object, when there is one)."""


class ResponsesApi(ClientApi):
    """The OpenAI Responses API: ``previous_response_id`` reads the store, answers go in."""

    api: Api = "openai-responses"

    def __init__(self) -> None:
        super().__init__("responses")
        self.history: list[Json] | None = None

    def check(self, body: Json) -> str:
        self.body = body
        model = _check_model_and_stream(body)
        value = body.get("input")
        if value is not None and not isinstance(value, str | list):
            raise invalid("input", "must be a string or an array of items")
        previous = body.get("previous_response_id")
        if previous is not None and not isinstance(previous, str):
            raise invalid("previous_response_id", "must be a string")
        return model

    async def prepare(self, store: ResponseStore | None) -> None:
        previous = self.body.get("previous_response_id")
        if previous is None:
            return
        stored = await store.aget(previous) if store is not None else None
        if stored is None:
            raise ApiError(
                404,
                f"Previous response with id '{previous}' not found.",
                "previous_response_not_found",
                param="previous_response_id",
            )
        self.history = stored.messages

    def prompt(self, classify: str) -> str:
        return responses_prompt_text(self.body.get("input"), classify, self.history)

    def native(self, api: Api) -> bool:
        # A continued conversation is ours (the upstream never saw it): send it whole.
        return api == self.api and self.history is None

    def _to_pivot(self) -> Json:
        return openai_responses.chat_request(self.body, self.history)

    def answer(self, api: Api, content: bytes) -> Json:
        return openai_responses.response_from_chat(_chat_from(api, content), self.body)

    async def answered(self, store: ResponseStore | None, response: Json | None) -> None:
        if store is None or response is None or self.body.get("store") is False:
            return
        messages = openai_responses.conversation_after(self.body, self.history or [], response)
        await store.aput(response, messages)


class MessagesApi(ClientApi):
    """The Anthropic Messages API."""

    api: Api = "anthropic"

    def __init__(self) -> None:
        super().__init__("messages")

    def check(self, body: Json) -> str:
        self.body = body
        model = _check_model_and_stream(body)
        messages = body.get("messages")
        if messages is None:
            raise missing("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages", "must be a non-empty array of messages")
        if not isinstance(body.get("max_tokens"), int):
            raise missing("max_tokens")
        return model

    def prompt(self, classify: str) -> str:
        return anthropic_prompt_text(self.body["messages"], classify)

    def _to_pivot(self) -> Json:
        return anthropic_messages.chat_request(self.body)

    def answer(self, api: Api, content: bytes) -> Json:
        return anthropic_messages.message_from_chat(_chat_from(api, content))
