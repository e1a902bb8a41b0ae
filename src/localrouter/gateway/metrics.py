"""Prometheus metrics, one registry per app (several apps in one process never clash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from localrouter.gateway.access_log.writer import LogHealth

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ROUTING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30)
_WIN_RATE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "localrouter_requests",
            "Requests answered, by endpoint, tier and status code.",
            ["endpoint", "tier", "status_code"],
            registry=r,
        )
        self.latency = Histogram(
            "localrouter_request_latency_seconds",
            "Time from request to the last byte sent.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.routing_decisions = Counter(
            "localrouter_routing_decisions",
            "Routing decisions for localrouter/auto and router-<name>-<t> models.",
            ["tier"],
            registry=r,
        )
        self.routing_latency = Histogram(
            "localrouter_routing_latency_seconds",
            "Time spent classifying a prompt.",
            buckets=_ROUTING_BUCKETS,
            registry=r,
        )
        self.win_rate = Histogram(
            "localrouter_win_rate",
            "Win rates of routed prompts (any router).",
            buckets=_WIN_RATE_BUCKETS,
            registry=r,
        )
        self.router_unavailable = Counter(
            "localrouter_router_unavailable",
            "Routed requests sent to the strong tier because the router model was unavailable.",
            registry=r,
        )
        self.classifier_batch = Histogram(
            "localrouter_classifier_batch_size",
            "Prompts per router-model call (micro-batches).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.upstream_errors = Counter(
            "localrouter_upstream_errors",
            "Failed upstream attempts, by provider and kind.",
            ["provider", "kind"],
            registry=r,
        )
        self.fallbacks = Counter(
            "localrouter_fallbacks",
            "Times a request moved on to the next model of a chain.",
            ["provider"],
            registry=r,
        )

    def watch_access_log(self, health: Callable[[], LogHealth]) -> None:
        """Export the access-log writer's counters (read when scraped)."""
        self.registry.register(_AccessLogCollector(health))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def error_kind(reason: str) -> str:
    """A low-cardinality label from an attempt's error text."""
    if reason.startswith("HTTP "):
        return reason[5:8]
    return reason.split(":", 1)[0].replace(" ", "_")


class _AccessLogCollector(Collector):
    def __init__(self, health: Callable[[], LogHealth]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        yield CounterMetricFamily(
            "localrouter_access_log_write_failures",
            "Failed attempts to write access-log entries to disk (they are retried).",
            value=health.write_failures,
        )
        yield CounterMetricFamily(
            "localrouter_access_log_lost_entries",
            "Access-log entries dropped because the disk failed and the in-memory queue was full.",
            value=health.lost,
        )
        yield GaugeMetricFamily(
            "localrouter_access_log_pending_entries",
            "Access-log entries waiting in memory for the disk.",
            value=health.pending,
        )
