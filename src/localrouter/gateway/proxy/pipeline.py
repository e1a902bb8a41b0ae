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
from itertools import groupby
from typing import Any, TypeVar

import httpx
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive

from localrouter.gateway.access_log import AccessRecord
from localrouter.gateway.apis.common import Api
from localrouter.gateway.apis.response_store import ResponseStore
from localrouter.gateway.auth import request_client
from localrouter.gateway.errors import ApiError
from localrouter.gateway.metrics import error_kind
from localrouter.gateway.proxy.client_apis import ClientApi
from localrouter.gateway.proxy.fallback import AllFailed, Outcome, error_text, run_chain
from localrouter.gateway.proxy.providers import ANTHROPIC_CLIENT_HEADERS, Target, scrub
from localrouter.gateway.proxy.routing import (
    AUTO_MODELS,
    Chain,
    Resolved,
    direct_chain,
    model_not_found,
    resolve_model,
    tier_chain,
)
from localrouter.gateway.proxy.streams import Relay
from localrouter.gateway.request_body import parse_json_body
from localrouter.gateway.shutdown import SHUTDOWN_MESSAGE, ShuttingDown, shutdown_error
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


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body. Its size and time limits apply while it is read (the
    security middleware wraps ``receive`` with ``request_body.limit_body``)."""
    try:
        raw = await request.body()
    except ClientDisconnect:
        # Gone before the whole body arrived: logged like any other disconnect, not a 500.
        raise client_gone() from None
    return parse_json_body(raw)


def client_gone() -> ApiError:
    """The 499 of a client that left; its answer is sent to nobody (uvicorn drops it)."""
    return ApiError(499, _CLIENT_GONE, "client_disconnected")


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


def _by_api(targets: list[Target]) -> list[tuple[Api, list[Target]]]:
    """Consecutive targets of the same provider API: each run gets one translated body."""
    return [(api, list(group)) for api, group in groupby(targets, lambda t: t.provider.api)]


class GenerationRequest:
    """One generation request on its way through the gateway; ``api`` is the client API's
    adapter (what differs between chat, Responses and Anthropic Messages)."""

    def __init__(self, request: Request, api: ClientApi) -> None:
        self.request = request
        self.api = api
        self.kind = api.kind
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
            try:
                async with self.state.drain.scope():  # bounded once shutdown begins
                    return await self._handle()
            except ShuttingDown:
                raise shutdown_error() from None
        except ApiError as exc:
            if exc.headers is None:
                exc.headers = _headers(self.request_id, self.decision, None)
            self.finish(exc.status, exc.message)
            return exc.response()
        except asyncio.CancelledError:
            # The server cancelled us (its own shutdown timeout passed): still logged.
            self.finish(503, SHUTDOWN_MESSAGE)
            raise

    async def _handle(self) -> Response:
        settings = self.settings
        api = self.api
        body = await read_json(self.request)
        requested = api.check(body)
        self.entry.requested_model = requested
        # An alias names the model used instead (clients that always send their own names).
        model = settings.routing.aliases.get(requested, requested)
        stream = api.stream
        self.entry.stream = stream
        resolved = resolve_model(model, settings)
        self._check_allowed(requested, model, resolved)
        await api.prepare(self._store())

        text = api.prompt(settings.routellm.classify)
        if self.kind == "embeddings" and resolved.routed:
            raise ApiError(
                400,
                f"embeddings are not routed: name a provider/model instead of {requested!r}",
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
        if stream and api.api == "openai-chat" and "stream_options" not in body:
            # Ask for the final usage chunk (token counts for the log); the relay removes it
            # again, so the client gets what it asked for.
            body["stream_options"] = {"include_usage": True}
            strip_usage = True

        upstreams = self.state.upstreams
        secrets = self.state.secrets(settings)
        if api.api == "anthropic":
            passed = {
                name: value
                for name in ("anthropic-version", "anthropic-beta")
                if (value := self.request.headers.get(name))
            }
            ANTHROPIC_CLIENT_HEADERS.set(passed or None)  # this request's task only

        async def run(targets: list[Target], earlier: list[dict[str, Any]]) -> Outcome:
            """The fallback chain over ``targets``, each run of same-API targets with its
            own body; ``earlier`` attempts lead the trail. Raced by the client's disconnect
            until the answer (or a stream's first bytes)."""
            attempts = list(earlier)
            refused: ApiError | None = None
            for target_api, group in _by_api(targets):
                try:
                    payload = api.payload(target_api)
                except ApiError as exc:  # this API cannot express the request: skip its run
                    refused = refused or exc
                    attempts += [
                        {"model": t.ref, "status": None, "error": f"skipped: {exc.message}"}
                        for t in group
                    ]
                    continue
                trail: list[dict[str, Any]] = []
                chain = run_chain(
                    upstreams,
                    group,
                    api.path(target_api),
                    payload,
                    stream=stream,
                    secrets=secrets,
                    on_retry=self._on_retry,
                    trail=trail,
                )
                try:
                    outcome = await unless_disconnected(self.request.receive, chain)
                except ClientGone:
                    if trail and trail[-1]["error"] == "cancelled":
                        trail[-1]["error"] = _CLIENT_GONE  # the attempt in flight
                    entry.attempts = attempts + trail
                    raise client_gone() from None
                except asyncio.CancelledError:
                    # The shutdown deadline passed: the attempt in flight ends the trail.
                    if trail and trail[-1]["error"] == "cancelled":
                        trail[-1]["error"] = SHUTDOWN_MESSAGE
                    entry.attempts = attempts + trail
                    raise
                except AllFailed as exc:
                    attempts += exc.attempts
                    continue
                outcome.attempts[:0] = attempts
                return outcome
            entry.attempts = attempts
            if refused is not None and all(
                str(a["error"]).startswith("skipped: ") for a in attempts
            ):
                raise refused  # nothing could take the request: say which feature
            raise ApiError(
                502,
                f"all upstreams failed: {AllFailed(attempts).summary()}",
                "upstream_unavailable",
                attempts=attempts,
            )

        targets = list(decision.chain.targets)
        outcome = await run(targets, [])
        if strip_usage and _refuses_stream_options(outcome):
            # An older upstream that rejects the usage request we added: ask again without
            # it, from the same model on (token counts of this stream stay unknown).
            del body["stream_options"]
            strip_usage = False
            outcome = await run(targets[targets.index(outcome.target) :], outcome.attempts)
        target_api = outcome.target.provider.api
        entry.attempts = outcome.attempts
        entry.provider = outcome.target.provider_name
        entry.model = outcome.target.model
        entry.tier = decision.chain.tier_of(outcome.target)
        headers = _headers(self.request_id, decision, outcome.target)
        headers.update(outcome.headers())  # retry-after, x-ratelimit-*, upstream request id

        if not outcome.ok:
            # An upstream error answer (the caller's bad parameter, or the 429 / context-length
            # error that ended the chain): pass it on, in the client's error shape.
            message = scrub(error_text(outcome.content), secrets)
            status, content = api.upstream_error(
                target_api, outcome.response.status_code, outcome.content
            )
            self.finish(status, message)
            content = scrub(content.decode("utf-8", "replace"), secrets).encode()
            return Response(
                content,
                status,
                headers=headers,
                media_type=outcome.response.headers.get("content-type", _JSON),
            )
        if stream:
            relay = api.relay(target_api, strip_usage)
            relay.source = f"upstream {outcome.target.ref}"
            media_type = "text/event-stream"
            if api.native(target_api):
                media_type = outcome.response.headers.get("content-type", media_type)
            return StreamingResponse(
                self._relay(outcome, relay, secrets),
                status_code=outcome.response.status_code,
                headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
                media_type=media_type,
            )
        content = outcome.content
        answer: dict[str, Any] | None = None
        media_type = outcome.response.headers.get("content-type", _JSON)
        try:
            if api.native(target_api):  # parsed once already: a 2xx must be complete JSON
                answer = outcome.body if isinstance(outcome.body, dict) else None
            else:
                answer = api.answer(target_api, content)
                content = json.dumps(answer, ensure_ascii=False).encode()
                media_type = _JSON
        except ValueError:
            if not api.native(target_api):
                raise ApiError(
                    502,
                    f"upstream {outcome.target.ref} answered with a body that is not JSON",
                    "upstream_error",
                    headers=headers,
                ) from None
        entry.input_tokens, entry.output_tokens = _usage_tokens(
            answer.get("usage") if answer is not None else None
        )
        await api.answered(self._store(), answer)
        self.finish(outcome.response.status_code, None)
        return Response(
            content, outcome.response.status_code, headers=headers, media_type=media_type
        )

    def _store(self) -> ResponseStore | None:
        return self.state.responses() if self.kind == "responses" else None

    def _check_allowed(self, requested: str, model: str, resolved: Resolved) -> None:
        names = {requested, model}
        if model in AUTO_MODELS:
            names.update(AUTO_MODELS)
        if resolved.target is not None:
            names.add(resolved.target.ref)
        if not any(self.client.allows(name) for name in names):
            raise ApiError(
                403,
                f"client {self.client.name!r} may not use the model {requested!r}",
                "model_not_allowed",
                param="model",
            )

    def _on_retry(self, target: Target, reason: str) -> None:
        metrics = self.state.metrics
        metrics.upstream_errors.labels(target.provider_name, error_kind(reason)).inc()
        metrics.fallbacks.labels(target.provider_name).inc()

    async def _relay(
        self, outcome: Outcome, relay: Relay, secrets: list[str]
    ) -> AsyncIterator[bytes]:
        error: str | None = None
        status = outcome.response.status_code
        assert outcome.chunks is not None
        try:
            data = relay.feed(outcome.first_chunk)
            if data:
                yield data
            while True:
                # Each wait for the upstream is bounded once shutdown begins (not the yield:
                # a deadline must not land while the server sends).
                async with self.state.drain.scope():
                    chunk = await anext(outcome.chunks, None)
                if chunk is None:
                    break
                data = relay.feed(chunk)
                if data:
                    yield data
            data = relay.finish()
            if data:
                yield data
            if relay.error is not None:
                error, status = scrub(relay.error, secrets), 502
                self.state.metrics.upstream_errors.labels(
                    outcome.target.provider_name, "truncated"
                ).inc()
            else:
                await self.api.answered(self._store(), relay.response)
        except httpx.HTTPError as exc:
            # Part of the answer is out: no fallback now; end the stream in the client's API.
            error = scrub(
                f"upstream {outcome.target.ref} failed mid-stream: {type(exc).__name__}: {exc}",
                secrets,
            )
            self.state.metrics.upstream_errors.labels(
                outcome.target.provider_name, "midstream"
            ).inc()
            status = 502  # logged as the upstream failure it was (the client saw 200 + error)
            yield relay.fail(error)
        except ShuttingDown:
            # The grace period of a shutdown ended mid-stream: end it in the client's API.
            error, status = SHUTDOWN_MESSAGE, 503
            yield relay.fail(error, status=503)
        except (asyncio.CancelledError, GeneratorExit):
            if self.state.drain.expired:  # cancelled by the server at the end of a shutdown
                error, status = SHUTDOWN_MESSAGE, 503
            else:
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
