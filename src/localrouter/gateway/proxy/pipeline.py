"""One generation request (chat, completions, embeddings) through the gateway.

Read the body (size-capped while reading), check the few fields routing needs (no model of
the whole body), resolve the model name, classify when routed (with the named router or
``routing.router``; micro-batched, off the event loop), walk the fallback chain, answer
(relaying streams), and queue one :class:`~localrouter.gateway.access_log.AccessRecord`.
The record and the headers keep both the router's decision (``routed_tier``) and the tier
of the model that answered (``tier``): a cross-tier fallback answers from the other tier.

A client that disconnects while the chain waits for an upstream's answer cancels it: the
upstream connection is closed, no further target is tried, and the entry says 499 "client
disconnected", as for a stream the client left. So does one that leaves while its body is
still being read.

The body's ``model`` is passed through as the upstream reported it (the model that
answered); ``x-localrouter-model`` names it as ``provider/model``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive

from localrouter.gateway.access_log import AccessRecord
from localrouter.gateway.auth import request_client
from localrouter.gateway.errors import ApiError
from localrouter.gateway.metrics import error_kind
from localrouter.gateway.proxy.fallback import AllFailed, Outcome, error_text, run_chain
from localrouter.gateway.proxy.providers import Target, scrub
from localrouter.gateway.proxy.routing import (
    AUTO_MODELS,
    Chain,
    Resolved,
    chat_text,
    direct_chain,
    model_not_found,
    prompt_text,
    resolve_model,
    tier_chain,
)
from localrouter.gateway.proxy.streaming import DONE_EVENT, SseRelay, error_event
from localrouter.gateway.state import GatewayState, gateway_state
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.base import UnknownRouter, route
from localrouter.settings import Settings

_JSON = "application/json"
_CLIENT_GONE = "client disconnected"
_T = TypeVar("_T")


@dataclass(slots=True)
class Decision:
    chain: Chain  # its tier is the router's decision (or "direct")
    router: str | None  # the router that decided; None when nothing was classified
    win_rate: float | None
    threshold: float | None
    routing_ms: float
    routing_error: str | None = None


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object in the body; 413 as soon as more than ``limit`` bytes arrived."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone before the whole body arrived: logged like any other disconnect, not a 500.
        raise client_gone() from None
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", "invalid_json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return body


def client_gone() -> ApiError:
    """The 499 of a client that left; its answer is sent to nobody (uvicorn drops it)."""
    return ApiError(499, _CLIENT_GONE, "client_disconnected")


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {limit} bytes (server.max_body_bytes)",
        "request_too_large",
    )


def _missing(name: str) -> ApiError:
    return ApiError(
        400, f"'{name}' is a required property", "missing_required_parameter", param=name
    )


def _invalid(name: str, why: str) -> ApiError:
    return ApiError(400, f"'{name}' {why}", "invalid_parameter", param=name)


def _check_fields(body: dict[str, Any], kind: str) -> str:
    """The few checks routing depends on; the upstream validates the rest."""
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "must be a non-empty string")
    if kind == "chat":
        messages = body.get("messages")
        if messages is None:
            raise _missing("messages")
        if not isinstance(messages, list) or not messages:
            raise _invalid("messages", "must be a non-empty array of messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _invalid(f"messages[{index}]", "must be an object with a string 'role'")
    elif kind in ("completions", "embeddings"):
        name = "prompt" if kind == "completions" else "input"
        value = body.get(name)
        if value is None:
            raise _missing(name)
        if not isinstance(value, str | list):
            raise _invalid(name, "must be a string or an array")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "must be a boolean")
    return model


def _headers(request_id: str, decision: Decision | None, target: Target | None) -> dict[str, str]:
    headers = {"x-request-id": request_id}
    if decision is not None:
        headers["x-localrouter-routed-tier"] = decision.chain.tier
        headers["x-localrouter-routing-ms"] = f"{decision.routing_ms:.3f}"
        if decision.win_rate is not None:
            headers["x-localrouter-win-rate"] = f"{decision.win_rate:.6f}"
        if target is not None:
            headers["x-localrouter-tier"] = decision.chain.tier_of(target)
    if target is not None:
        headers["x-localrouter-model"] = target.ref
    return headers


async def _decide(
    state: GatewayState, settings: Settings, resolved: Resolved, model: str, text: str
) -> Decision:
    if not resolved.routed:
        assert resolved.target is not None
        return Decision(direct_chain(resolved.target), None, None, None, 0.0)
    routing = settings.routing
    threshold = resolved.threshold if resolved.threshold is not None else routing.threshold
    if not routing.enabled:
        # Routing switched off: the auto models mean "the strong tier", nothing is classified.
        return Decision(tier_chain(settings, "strong"), None, None, None, 0.0)
    name = resolved.router or routing.router
    started = time.perf_counter()
    metrics = state.metrics
    try:
        classifier = await state.classifier(name)
        prediction = await classifier.classify(text)
    except RouterUnavailable as exc:
        if isinstance(exc, UnknownRouter) and resolved.router is not None:
            raise model_not_found(model, settings, why=str(exc)) from None
        routing_ms = (time.perf_counter() - started) * 1000
        metrics.router_unavailable.inc()
        metrics.routing_decisions.labels("strong").inc()
        return Decision(
            tier_chain(settings, "strong"),
            name,
            None,
            threshold,
            routing_ms,
            routing_error=f"router unavailable, sent to the strong tier: {exc}",
        )
    routing_ms = (time.perf_counter() - started) * 1000
    tier = route(prediction.win_rate, threshold)
    metrics.routing_latency.observe(routing_ms / 1000)
    metrics.win_rate.observe(prediction.win_rate)
    metrics.routing_decisions.labels(tier).inc()
    return Decision(tier_chain(settings, tier), name, prediction.win_rate, threshold, routing_ms)


def _refuses_stream_options(outcome: Outcome) -> bool:
    return (
        not outcome.ok
        and outcome.response.status_code in (400, 422)
        and b"stream_options" in outcome.content
    )


class ClientGone(Exception):
    """The client disconnected before its answer started."""


async def _until_disconnect(receive: Receive) -> None:
    # The body is read: the server's next message is ``http.disconnect`` (uvicorn sets it
    # the moment the connection is lost; no polling). Starlette's StreamingResponse listens
    # the same way once a stream's answer has started.
    while (await receive())["type"] != "http.disconnect":
        pass


def _cancel_on_disconnect(work: asyncio.Task[Any], watcher: asyncio.Task[None]) -> None:
    if not watcher.cancelled() and watcher.exception() is None:
        work.cancel()


async def unless_disconnected(receive: Receive, work: Coroutine[Any, Any, _T]) -> _T:
    """``work``'s result, or :class:`ClientGone` as soon as the client disconnects (``work``
    is then cancelled: an upstream request in flight has its connection closed).

    ``work`` runs in its own task, raced by a task awaiting ``receive()``: two task switches,
    a few microseconds, per request."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    watcher.add_done_callback(functools.partial(_cancel_on_disconnect, task))
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            raise ClientGone from None
        raise  # we were cancelled ourselves (shutdown): ``task`` was cancelled with us
    finally:
        watcher.cancel()


def _usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


class GenerationRequest:
    """One generation request on its way through the gateway."""

    def __init__(self, request: Request, kind: str, path: str) -> None:
        self.request = request
        self.kind = kind
        self.upstream_path = path
        self.state = gateway_state(request.scope)
        self.settings = self.state.settings.current  # one snapshot for the whole request
        self.started = time.perf_counter()
        self.request_id = "req_" + os.urandom(12).hex()
        self.client = request_client(request.scope)
        self.entry = AccessRecord(
            request_id=self.request_id, client=self.client.name, endpoint=request.scope["path"]
        )
        self.decision: Decision | None = None

    async def handle(self) -> Response:
        try:
            return await self._handle()
        except ApiError as exc:
            if exc.headers is None:
                exc.headers = _headers(self.request_id, self.decision, None)
            self.finish(exc.status, exc.message)
            return exc.response()

    async def _handle(self) -> Response:
        settings = self.settings
        body = await read_json(self.request, settings.server.max_body_bytes)
        model = _check_fields(body, self.kind)
        self.entry.requested_model = model
        stream = bool(body.get("stream")) and self.kind != "embeddings"
        self.entry.stream = stream
        resolved = resolve_model(model, settings)
        self._check_allowed(model, resolved)

        if self.kind == "chat":
            text = chat_text(body["messages"], settings.routellm.classify)
        elif self.kind == "completions":
            text = prompt_text(body["prompt"])
        else:
            text = prompt_text(body["input"])
            if resolved.routed:
                raise ApiError(
                    400,
                    f"embeddings are not routed: name a provider/model instead of {model!r}",
                    "model_not_supported",
                    param="model",
                )
        if settings.access_log.include_prompts:
            self.entry.prompt = text

        decision = self.decision = await _decide(self.state, settings, resolved, model, text)
        entry = self.entry
        entry.routed_tier = decision.chain.tier
        entry.router = decision.router
        entry.routellm_win_rate = decision.win_rate
        entry.threshold = decision.threshold
        entry.routing_ms = round(decision.routing_ms, 3)
        entry.routing_error = decision.routing_error
        if decision.chain.tier != "direct":
            # The savings baseline: what the strong tier's first model was for this request.
            strong = self.settings.routing.strong
            entry.baseline_model = strong[0] if strong else None

        strip_usage = False
        if stream and "stream_options" not in body:
            # Ask for the final usage chunk (token counts for the log); the relay removes it
            # again, so the client gets what it asked for.
            body["stream_options"] = {"include_usage": True}
            strip_usage = True

        upstreams = self.state.upstreams
        secrets = self.state.secrets(settings)

        async def run(targets: list[Target], earlier: list[dict[str, Any]]) -> Outcome:
            """The fallback chain over ``targets``; ``earlier`` attempts lead the trail.
            Raced by the client's disconnect until the answer (or a stream's first bytes)."""
            trail: list[dict[str, Any]] = []
            chain = run_chain(
                upstreams,
                targets,
                self.upstream_path,
                body,
                stream=stream,
                secrets=secrets,
                on_retry=self._on_retry,
                trail=trail,
            )
            try:
                return await unless_disconnected(self.request.receive, chain)
            except ClientGone:
                if trail and trail[-1]["error"] == "cancelled":
                    trail[-1]["error"] = _CLIENT_GONE  # the attempt in flight
                entry.attempts = earlier + trail
                raise client_gone() from None
            except AllFailed as exc:
                entry.attempts = earlier + exc.attempts
                raise ApiError(
                    502,
                    f"all upstreams failed: {exc.summary()}",
                    "upstream_unavailable",
                    attempts=entry.attempts,
                ) from None

        targets = list(decision.chain.targets)
        outcome = await run(targets, [])
        if strip_usage and _refuses_stream_options(outcome):
            # An older upstream that rejects the usage request we added: ask again without
            # it, from the same model on (token counts of this stream stay unknown).
            del body["stream_options"]
            strip_usage = False
            earlier = outcome.attempts
            outcome = await run(targets[targets.index(outcome.target) :], earlier)
            outcome.attempts[:0] = earlier
        entry.attempts = outcome.attempts
        entry.provider = outcome.target.provider_name
        entry.model = outcome.target.model
        entry.tier = decision.chain.tier_of(outcome.target)
        headers = _headers(self.request_id, decision, outcome.target)

        if not outcome.ok:
            # A non-retryable upstream answer (bad parameter, upstream auth, ...): pass it on.
            message = scrub(error_text(outcome.content), secrets)
            self.finish(outcome.response.status_code, message)
            content = scrub(outcome.content.decode("utf-8", "replace"), secrets).encode()
            return Response(
                content,
                outcome.response.status_code,
                headers=headers,
                media_type=outcome.response.headers.get("content-type", _JSON),
            )
        if stream:
            relay = SseRelay(strip_usage_chunk=strip_usage)
            return StreamingResponse(
                self._relay(outcome, relay, secrets),
                status_code=outcome.response.status_code,
                headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
                media_type=outcome.response.headers.get("content-type", "text/event-stream"),
            )
        try:
            usage = json.loads(outcome.content).get("usage")
        except (ValueError, AttributeError):
            usage = None
        entry.input_tokens, entry.output_tokens = _usage_tokens(usage)
        self.finish(outcome.response.status_code, None)
        return Response(
            outcome.content,
            outcome.response.status_code,
            headers=headers,
            media_type=outcome.response.headers.get("content-type", _JSON),
        )

    def _check_allowed(self, model: str, resolved: Resolved) -> None:
        names = {model}
        if model in AUTO_MODELS:
            names.update(AUTO_MODELS)
        if resolved.target is not None:
            names.add(resolved.target.ref)
        if not any(self.client.allows(name) for name in names):
            raise ApiError(
                403,
                f"client {self.client.name!r} may not use the model {model!r}",
                "model_not_allowed",
                param="model",
            )

    def _on_retry(self, target: Target, reason: str) -> None:
        metrics = self.state.metrics
        metrics.upstream_errors.labels(target.provider_name, error_kind(reason)).inc()
        metrics.fallbacks.labels(target.provider_name).inc()

    async def _relay(
        self, outcome: Outcome, relay: SseRelay, secrets: list[str]
    ) -> AsyncIterator[bytes]:
        error: str | None = None
        status = outcome.response.status_code
        assert outcome.chunks is not None
        try:
            data = relay.feed(outcome.first_chunk)
            if data:
                yield data
            async for chunk in outcome.chunks:
                data = relay.feed(chunk)
                if data:
                    yield data
            data = relay.finish()
            if data:
                yield data
        except httpx.HTTPError as exc:
            # Part of the answer is out: no fallback now; end the stream OpenAI-style.
            error = scrub(
                f"upstream {outcome.target.ref} failed mid-stream: {type(exc).__name__}: {exc}",
                secrets,
            )
            self.state.metrics.upstream_errors.labels(
                outcome.target.provider_name, "midstream"
            ).inc()
            status = 502  # logged as the upstream failure it was (the client saw 200 + error)
            yield error_event(error)
            yield DONE_EVENT
        except (asyncio.CancelledError, GeneratorExit):
            error = _CLIENT_GONE
            status = 499  # nginx's "client closed request": nobody received an answer
            raise
        finally:
            await outcome.response.aclose()  # also cancels the upstream when the client left
            self.entry.input_tokens, self.entry.output_tokens = _usage_tokens(relay.usage)
            if error is not None and self.entry.attempts:
                self.entry.attempts[-1]["error"] = error
            self.finish(status, error)

    def finish(self, status_code: int, error: str | None) -> None:
        elapsed = time.perf_counter() - self.started
        entry = self.entry
        entry.status = "success" if error is None and status_code < 400 else "error"
        entry.status_code = status_code
        entry.error = error
        entry.latency_ms = round(elapsed * 1000, 3)
        state = self.state
        state.access_log.write(entry)
        endpoint = self.kind
        state.metrics.requests.labels(endpoint, entry.tier or "none", str(status_code)).inc()
        state.metrics.latency.labels(endpoint).observe(elapsed)
