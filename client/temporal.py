"""How everything outside the worker reaches Temporal: one connect, one task queue, one converter.

Addresses, namespaces, TLS and API keys come from temporalio.envconfig (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_CONFIG_FILE ...), so a Temporal cluster or Temporal Cloud
needs no code change.

Detections are redacted here, on their way into Temporal (`playbook.redact.outbound`): whatever Firebreak's own
doors let in — the intake, `firebreak declare`, the watchers — reaches the workflow's history, state, timeline,
the UI summary and `firebreak show` with `[REDACTED:...]` markers in place of e-mails, phone numbers, card numbers
and keys. The fingerprint and alert id stay as sent (they only group and deduplicate alerts) unless they carry PII,
then they are hashed; the workflow id is derived from the raw fingerprint, so grouping never depends on redaction.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError, RPCStatusCode

import settings
from client.codec import data_converter
from client.workflow_types import IncidentWorkflow
from observability.tracing import client_interceptors
from playbook import search_attributes as sa
from playbook.models import Detection, workflow_id_for
from playbook.redact import outbound, redact_text
from playbook.state import IncidentInput
from playbook.times import utc_text

TASK_QUEUE = settings.task_queue()
DEFAULT_ADDRESS = "localhost:7233"
log = logging.getLogger(__name__)


def connect_config(address: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(address: str | None = None, **extra: Any) -> Client:
    """A client with Firebreak's converter: pydantic, plus the encryption codec when keys are configured; with
    tracing on (observability/tracing.py), Temporal's TracingInterceptor, which workers on this client inherit."""
    config = connect_config(address)
    interceptors = [*extra.pop("interceptors", []), *client_interceptors()]
    return await Client.connect(**config, data_converter=data_converter(), interceptors=interceptors, **extra)


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any of Firebreak's search attributes the namespace lacks; the names it added."""
    try:
        listing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
    except RPCError as err:  # e.g. Temporal Cloud API keys cannot use the operator service
        log.warning("could not list search attributes of namespace %s (%s); assuming they exist: %s",
                    client.namespace, err.message, ", ".join(f"{k.name} ({sa.cli_type(k)})" for k in sa.ALL))
        return []
    existing = set(listing.custom_attributes) | set(listing.system_attributes)
    missing = {k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in sa.ALL
               if k.name not in existing}
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing))
    except RPCError as err:
        raise RuntimeError(f"Temporal namespace '{client.namespace}' lacks the search attributes "
                           f"{sorted(missing)} and refused to add them ({err.message}). Ask its operator to run: "
                           + " ; ".join(f"temporal operator search-attribute create --name {n} --type "
                                        f"{sa.cli_type(k)}" for n, k in
                                        ((k.name, k) for k in sa.ALL if k.name in missing))) from err
    return sorted(missing)


def _private(key: str | None) -> bool:
    return key is not None and key != "" and redact_text(key) != key


def _hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def incident_workflow_id(detection: Detection) -> str:
    """The incident's workflow id: from the raw fingerprint (so grouping never depends on redaction), hashed when
    that fingerprint carries PII or a secret (an Alertmanager groupKey holds its group_by label values), since the
    id shows in the Temporal UI, the CLI and every log line."""
    fingerprint = detection.incident_fingerprint()
    if _private(fingerprint):
        return f"incident-{_hashed(fingerprint).replace(':', '-')}"
    return workflow_id_for(detection)


def redacted(detection: Detection) -> Detection:
    """The detection as Temporal keeps it: text redacted; the fingerprint and alert id as sent unless they carry PII
    or a secret, then as their hash (repeats still match, since the same key hashes the same)."""
    clean = outbound(detection, keep=("fingerprint", "alert_id", "detected_at"))
    keys = {name: _hashed(value) for name, value in (("fingerprint", clean.fingerprint), ("alert_id", clean.alert_id))
            if value and _private(value)}
    return clean.model_copy(update=keys) if keys else clean


def static_summary(detection: Detection) -> str:
    """One line for the UI's list view (at most 200 bytes)."""
    text = f"{detection.kind.value} on {', '.join(detection.services)}: {detection.summary or 'detected'}"
    return text.encode()[:200].decode(errors="ignore")


def static_details(detection: Detection) -> str:
    """The UI's Details (markdown, fixed at start): what was detected. What changes (number, severity, step,
    approvals, mitigations) is in the workflow's Current Details and search attributes."""
    d = detection
    lines = [f"**{d.kind.value}** ({d.kind.family.replace('_', ' ')}) on **{', '.join(d.services)}**",
             "", f"- detected: {utc_text(d.detected_at, '%Y-%m-%d %H:%M:%S UTC')} by {d.source}"
             + (f" (alert `{d.alert_id}`)" if d.alert_id else "")]
    if d.summary:
        lines.append(f"- summary: {d.summary[:500]}")
    if d.severity_hint:
        lines.append(f"- severity suggested by the source: {d.severity_hint.value}")
    if d.metrics:
        lines.append("- metrics: " + ", ".join(f"`{k}={v:g}`" for k, v in list(d.metrics.items())[:20]))
    for label, value in (("deploy", d.deploy_id), ("model", d.model),
                         ("prompt", f"{d.prompt_name} v{d.prompt_version}" if d.prompt_name else None),
                         ("fingerprint", d.fingerprint)):
        if value:
            lines.append(f"- {label}: `{value}`")
    lines += [f"- link: {link}" for link in d.links[:5]]
    lines += ["", "The incident number, severity, step, pending approvals and mitigations are in "
              "**Current Details** and the search attributes IncidentNumber, IncidentSeverity and IncidentStep."]
    return "\n".join(lines).encode()[:20_000].decode(errors="ignore")


def _start_attributes(detection: Detection) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(sa.AFFECTED_SERVICE, detection.services[0]),
        SearchAttributePair(sa.SIGNAL_KIND, detection.kind.value),
        SearchAttributePair(sa.INCIDENT_STATUS, "open"),
        SearchAttributePair(sa.DETECTED_AT, detection.detected_at)])


async def raise_detections(client: Client, workflow_id: str, detections: list[Detection],
                           task_queue: str = TASK_QUEUE, rpc_timeout: timedelta | None = None) -> str:
    """Many detections for one incident in one signal-with-start (start signal `alert_batch`); the run id.

    What the intake sends when it coalesces concurrent alerts: one Temporal call, one history event, however
    many alerts. The first firing detection opens the incident when none is running.
    """
    detections = [redacted(d) for d in detections]
    first = next((d for d in detections if d.firing), detections[0])
    handle = await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(detection=first), id=workflow_id, task_queue=task_queue,
        start_signal="alert_batch", start_signal_args=[detections], static_summary=static_summary(first),
        static_details=static_details(first), search_attributes=_start_attributes(first), rpc_timeout=rpc_timeout)
    return handle.result_run_id or ""


async def signal_detections(client: Client, workflow_id: str, detections: list[Detection],
                            rpc_timeout: timedelta | None = None) -> bool:
    """Add detections to the running incident only (resolves, acknowledgements); False when none runs."""
    detections = [redacted(d) for d in detections]
    try:
        await client.get_workflow_handle(workflow_id).signal(IncidentWorkflow.alert_batch, detections,
                                                             rpc_timeout=rpc_timeout)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def raise_detection(client: Client, detection: Detection,
                          task_queue: str = TASK_QUEUE) -> WorkflowHandle[Any, Any]:
    """Open an incident for this detection, or add it to the running one with the same fingerprint.

    Signal-with-start is atomic: when it returns, Temporal has recorded the start or the signal.
    """
    workflow_id, detection = incident_workflow_id(detection), redacted(detection)
    return await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(detection=detection), id=workflow_id,
        task_queue=task_queue, start_signal="alert", start_signal_args=[detection],
        static_summary=static_summary(detection), static_details=static_details(detection),
        search_attributes=_start_attributes(detection))
