"""Prometheus metrics of the intake, served at GET /metrics (Prometheus text format).

firebreak_intake_requests_total{route,method,status}   every HTTP request
firebreak_intake_request_duration_seconds{route}       latency histogram
firebreak_intake_rejections_total{route,reason}        4xx/5xx answers by reason (unauthenticated, invalid ...)
firebreak_intake_alerts_received_total                 validated alerts handed to the coalescer
firebreak_intake_alerts_sent_total                     alerts in Temporal calls (after dedup and coalescing)
firebreak_intake_alerts_coalesced_total                received minus sent: alerts that needed no call of their own
firebreak_intake_temporal_calls_total                  signal-with-start / signal calls made
firebreak_intake_largest_batch                         the most alerts one call carried

The status label is the one sent: an unexpected failure answered 503 counts as 503 (intake/errors.py CatchAll
answers inside this middleware), and a client that hung up before its answer counts as 499 (client_disconnected).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.body import CLIENT_CLOSED
from intake.coalesce import Coalescer

REASONS = {400: "malformed", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
           405: "method_not_allowed", 408: "body_timeout", 413: "too_large", 415: "unsupported_media_type",
           422: "invalid", 429: "rate_limited", 499: "client_disconnected", 503: "temporal_unavailable"}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class IntakeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("firebreak_intake_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("firebreak_intake_request_duration_seconds", "HTTP request latency by route",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self.rejections = Counter("firebreak_intake_rejections", "Requests refused, by route and reason",
                                  ["route", "reason"], registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status >= 400:
            reason = REASONS.get(status, "client_error" if status < 500 else "server_error")
            self.rejections.labels(route, reason).inc()


class _CoalescerCollector(Collector):
    def __init__(self, coalescer: Coalescer) -> None:
        self.coalescer = coalescer

    def collect(self) -> Iterator[Metric]:
        st = self.coalescer.stats
        received = st.detections_received
        yield CounterMetricFamily("firebreak_intake_alerts_received", "Validated alerts handed to the coalescer",
                                  value=received)
        yield CounterMetricFamily("firebreak_intake_alerts_sent", "Alerts in Temporal calls (after dedup and "
                                  "coalescing)", value=st.detections_sent)
        yield CounterMetricFamily("firebreak_intake_alerts_coalesced", "Alerts that needed no Temporal call or "
                                  "payload of their own (received minus sent)", value=max(0, received -
                                                                                          st.detections_sent))
        yield CounterMetricFamily("firebreak_intake_temporal_calls", "Signal-with-start / signal calls to Temporal",
                                  value=st.calls)
        yield GaugeMetricFamily("firebreak_intake_largest_batch", "The most alerts one Temporal call carried",
                                value=st.largest_batch)


class MetricsMiddleware:
    """Pure ASGI, so streamed bodies and the app's own exception handlers are untouched."""

    def __init__(self, app: ASGIApp, metrics: IntakeMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, answered, gone = 500, False, False

        async def capture(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = int(message["status"]), True
            await send(message)

        async def listen() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or (message["type"] == "http.disconnect" and not answered)
            return message

        try:
            await self.app(scope, listen, capture)
        finally:
            status = CLIENT_CLOSED if gone else status
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # bounded label values
            self.metrics.observe(route, scope.get("method", ""), status, time.perf_counter() - started)


def install_metrics(app: FastAPI, coalescer: Coalescer) -> IntakeMetrics:
    metrics = IntakeMetrics()
    metrics.registry.register(_CoalescerCollector(coalescer))
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus metrics: requests, latency, rejections by reason, alerts received / sent / coalesced."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
