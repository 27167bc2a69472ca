"""The Temporal SDK runtime of the worker: Prometheus metrics (FIREBREAK_WORKER_METRICS) and, with JSON logs,
the SDK core's own log lines forwarded into Python logging. Created before the client, as the SDK requires."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from observability.logs import json_logs
from settings import WORKER_METRICS as METRICS_ENV


class MetricsConfigError(ValueError):
    pass


def metrics_address(environ: Mapping[str, str] | None = None) -> str | None:
    """host:port from FIREBREAK_WORKER_METRICS (e.g. 127.0.0.1:9464); None when unset (metrics off)."""
    env = os.environ if environ is None else environ
    raw = env.get(METRICS_ENV, "").strip()
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsConfigError(f"{METRICS_ENV} must be host:port, e.g. 127.0.0.1:9464, not {raw!r}")
    return raw


def worker_runtime(environ: Mapping[str, str] | None = None) -> Runtime | None:
    """A runtime with the worker's telemetry, or None when neither metrics nor JSON logs are asked for."""
    address = metrics_address(environ)
    forward = json_logs(environ)
    if address is None and not forward:
        return None
    logging_config = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                                   forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))) \
        if forward else LoggingConfig.default
    try:
        return Runtime(telemetry=TelemetryConfig(
            logging=logging_config, metrics=PrometheusConfig(bind_address=address) if address else None))
    except Exception as err:  # noqa: BLE001 - e.g. the port is taken: say so at start
        raise MetricsConfigError(f"cannot start the worker's telemetry ({METRICS_ENV}={address}): {err}") from err
