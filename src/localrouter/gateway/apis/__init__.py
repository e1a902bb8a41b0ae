"""The other client APIs (Anthropic Messages, OpenAI Responses), translated through one pivot.

The pivot is the OpenAI Chat Completions format, the one every provider path already speaks:
each other API has a request translator to chat and a response translator from chat (for
clients of that API answered by a chat provider), and the reverse pair (for providers that
speak that API answering a chat-format request). A Responses client answered by an Anthropic
provider goes Responses -> chat -> Anthropic and back. Streams have stateful translators in
the same pattern (``stream_anthropic``, ``stream_responses``). Everything here is pure: dicts
in, dicts out; HTTP, routing and fallback are the gateway core's.

Modules: ``common`` (ids, the 400, shared bits), ``anthropic_messages`` and
``openai_responses`` (requests and answers), ``chunks`` (chat stream chunks), ``sse`` (event
framing), ``stream_anthropic`` and ``stream_responses`` (stream translators), ``errors``
(Anthropic-shaped errors, :class:`~localrouter.gateway.apis.errors.StreamFailed`),
``prompt_text`` (what the router classifies, per API), ``count_tokens`` (the
``/v1/messages/count_tokens`` estimate), ``response_store`` (stored Responses, SQLite).

What cannot be translated raises a 400 :class:`~localrouter.gateway.errors.ApiError` with code
``unsupported_feature`` naming the feature (see ``common.unsupported``).
"""
