"""Optional OpenTelemetry tracing (docs/operations.md): off unless FIREBREAK_OTEL=1 or an OTLP endpoint is set.

When on, every Temporal client Firebreak makes (worker, intake, CLI — all through `client.temporal.connect`)
carries Temporal's `TracingInterceptor`, so a span context travels in the Temporal headers from the intake's
request span through SignalWithStartWorkflow / SignalWorkflow, RunWorkflow and StartActivity to RunActivity in
the worker. Spans go through Firebreak's own tracer provider (not the global one, which the Langfuse SDK may
claim) to the OTLP/HTTP exporter, configured by the standard OTEL_EXPORTER_OTLP_* variables.

When off, nothing here imports OpenTelemetry and no interceptor or middleware is installed.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from typing import Any

from settings import OTEL as ENABLE_ENV

ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
INCIDENT_ATTRIBUTE = "firebreak.incident_id"  # the incident's workflow id
INCIDENTS_ATTRIBUTE = "firebreak.incident_ids"  # every incident one request fed
TRACER_NAME = "firebreak"
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

_provider: Any = None  # opentelemetry.sdk.trace.TracerProvider once tracing is set up


class TracingConfigError(ValueError):
    pass


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """FIREBREAK_OTEL=1 turns tracing on, =0 off; unset, it is on when an OTLP endpoint is configured."""
    env = os.environ if environ is None else environ
    flag = env.get(ENABLE_ENV, "").strip().lower()
    if flag in _ON:
        return True
    if flag in _OFF:
        return False
    if flag:
        raise TracingConfigError(f"{ENABLE_ENV} must be 1 or 0 (true/false, on/off), not {flag!r}")
    return any(env.get(name, "").strip() for name in ENDPOINT_ENVS)


def install(provider: Any) -> None:
    """Use this tracer provider for Firebreak's spans (tests pass one with an in-memory exporter)."""
    global _provider
    _provider = provider


def setup(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """At process start: when tracing is on and no provider is installed yet, export over OTLP/HTTP.

    OTEL_SERVICE_NAME overrides `service_name`; the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
    _HEADERS and _TIMEOUT itself (default http://localhost:4318/v1/traces). True when tracing is on.
    """
    if not tracing_enabled(environ):
        return False
    if _provider is not None:
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    env = os.environ if environ is None else environ
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(env))))
    atexit.register(provider.shutdown)  # flush what is buffered
    install(provider)
    return True


def shutdown() -> None:
    """Export what is buffered and stop (for processes that leave through os._exit, like the CLI)."""
    if _provider is not None and hasattr(_provider, "shutdown"):
        _provider.shutdown()


def traces_endpoint(environ: Mapping[str, str]) -> str:
    """Where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else the
    OTLP/HTTP default (an empty variable, as compose files leave them, counts as unset)."""
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return traces or (f"{base.rstrip('/')}/v1/traces" if base else "http://localhost:4318/v1/traces")


def tracer() -> Any:
    """Firebreak's tracer: from the installed provider, else OpenTelemetry's global one."""
    from opentelemetry import trace

    return (_provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)


def client_interceptors(environ: Mapping[str, str] | None = None) -> list[Any]:
    """[TracingInterceptor] for Client.connect when tracing is on (workers inherit it), else []."""
    if not tracing_enabled(environ):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer())]


def set_incidents(workflow_ids: list[str]) -> None:
    """Put the incidents a request fed on the current span (the intake's request span); nothing when off."""
    if _provider is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording() and workflow_ids:
        if len(workflow_ids) == 1:
            span.set_attribute(INCIDENT_ATTRIBUTE, workflow_ids[0])
        span.set_attribute(INCIDENTS_ATTRIBUTE, workflow_ids)


class RequestSpans:
    """ASGI middleware: one SERVER span per HTTP request, continuing a W3C `traceparent` the sender passed.

    The intake installs it only when tracing is on; routes add the incident ids with `set_incidents`.
    """

    def __init__(self, app: Any) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app, self.propagator = app, TraceContextTextMapPropagator()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "")
        status = 500

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with tracer().start_as_current_span(f"{method} {scope.get('path', '')}", kind=SpanKind.SERVER,
                                            context=self.propagator.extract(carrier),
                                            attributes={"http.request.method": method,
                                                        "url.path": scope.get("path", "")}) as span:
            try:
                await self.app(scope, receive, capture)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
