"""Step 4, investigate: pull each configured evidence source into the incident's evidence pack.

Each item is stored with where it came from, when, and its sha256; a source that fails is listed with
its error instead of failing the pack.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity

from activities.context import ActivityContext
from integrations.deploys import read_deploys
from integrations.langfuse.client import LangfuseError, client_for
from integrations.langfuse.evidence import collect_langfuse_evidence
from integrations.langfuse.extras import collect_langfuse_extras
from integrations.langfuse.monitor_slice import MonitorSlice, for_project, monitor_slice
from integrations.sources import SourceError, fetch_source
from integrations.store import read_lines
from playbook.config import EvidenceSource, render_template
from playbook.messages import EvidenceInput, EvidenceItem, EvidencePack
from playbook.redact import redact_value

SUMMARY_CHARS = 400  # one line for the ticket's findings: room for a monitor's name, metric and filters


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def reach_summary(radius: dict[str, Any], scope: MonitorSlice | None = None) -> str:
    """One line for the ticket and the briefs: how many traces, users and sessions the window touched, and the
    monitor whose slice it is (or why the monitor's slice was not followed)."""
    cut = " (at least: the read was capped)" if radius.get("truncated") else ""
    line = (f"blast radius: {radius.get('traces_affected', 0)} trace(s), {radius.get('users_affected', 0)} user(s),"
            f" {radius.get('sessions_affected', 0)} session(s) in the window{cut}")
    monitor = radius.get("monitor") or {}
    if scope is None or not monitor:
        return line
    if monitor.get("followed"):
        return f"{line} of {scope.describe()}"[:SUMMARY_CHARS]
    return f"{line} (monitor {scope.name} not followed: {monitor.get('not_followed_because')})"[:SUMMARY_CHARS]


class InvestigateActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _store(self, number: str, name: str, source: str, content: bytes) -> EvidenceItem:
        rel = f"{number}/evidence/{_safe(name)}"
        self.ctx.store.write(rel, content)
        return EvidenceItem(name=name, source=source, fetched_at=datetime.now(UTC),
                            sha256=hashlib.sha256(content).hexdigest(), path=rel, size=len(content))

    def _langfuse(self, number: str, name: str, source: EvidenceSource, request: EvidenceInput) -> list[EvidenceItem]:
        """The blast window's root observations, scores and blast radius, then the cost/latency series, the prompt
        versions and the datasets as of detection, each its own redacted item."""
        variables, detected_at = dict(request.variables), request.detection.detected_at
        items: list[EvidenceItem] = []
        try:
            client = client_for(source)  # keys missing or clashing: one error for the whole source
        except LangfuseError as err:
            return [EvidenceItem(name=name, source=f"langfuse:{source.base_url or 'default'}",
                                 fetched_at=datetime.now(UTC), error=str(err))]
        scope = monitor_slice(request.detection)  # an incident from a Langfuse monitor: the monitor's slice
        if scope is not None:
            scope = for_project(client, scope)
        try:
            where, parts = collect_langfuse_evidence(source, variables, detected_at, scope=scope)
        except LangfuseError as err:  # the traces and scores failed; the parts below may still come
            items.append(EvidenceItem(name=name, source=f"langfuse:{source.base_url or 'default'}",
                                      fetched_at=datetime.now(UTC), error=str(err)))
        else:
            stored = [self._store(number, f"{name}.{suffix}", where, content) for suffix, content in parts.items()]
            radius = json.loads(parts["blast_radius.json"])
            items = [item.model_copy(update={"summary": reach_summary(radius, scope)})
                     if item.name.endswith(".blast_radius.json") else item for item in stored]
        # The series, prompt versions and datasets as of detection: each stored, or listed with its own error.
        for part in collect_langfuse_extras(source, variables, detected_at, scope=scope):
            if part.content is None:
                items.append(EvidenceItem(name=f"{name}.{part.suffix}", source=part.where,
                                          fetched_at=datetime.now(UTC), error=part.error))
                continue
            item = self._store(number, f"{name}.{part.suffix}", part.where, part.content)
            items.append(item.model_copy(update={"summary": (part.summary or "")[:SUMMARY_CHARS] or None}))
        return items

    def _deploys(self, number: str, name: str, source: EvidenceSource, request: EvidenceInput) -> EvidenceItem:
        """The deploy log's prompt versions in the blast window (detected_at - lookback_minutes .. now), newest
        first, from the Langfuse prompt webhooks the intake recorded."""
        end = datetime.now(UTC)
        start = min(request.detection.detected_at - timedelta(minutes=source.lookback_minutes), end)
        names = [n for n in (render_template(p, dict(request.variables)).strip() for p in source.prompt_names) if n]
        deploys, truncated = read_deploys(self.ctx.store, start, end, names or None, source.max_deploys)
        listed = "; ".join(f"{d.get('prompt')} v{d.get('version')} {d.get('action')}"
                           f"{' [' + ','.join(d.get('labels') or []) + ']' if d.get('labels') else ''} at {d.get('at')}"
                           for d in deploys[:5])
        more = f" (+{len(deploys) - 5} more)" if len(deploys) > 5 else ""
        summary = (f"{len(deploys)}{'+' if truncated else ''} deploy(s) in the window: {listed}{more}" if deploys
                   else "no deploys recorded in the window")
        content = redact_value({"window": {"from": start.isoformat(), "to": end.isoformat()},
                                "prompts": names or "all", "truncated": truncated, "deploys": deploys})
        item = self._store(number, f"{name}.json", f"deploy-log:{'+'.join(names) or 'all prompts'}",
                           json.dumps(content, indent=2).encode())
        return item.model_copy(update={"summary": summary[:1000]})

    def _frozen(self, number: str) -> list[dict[str, Any]]:
        """The snapshots frozen before system-altering actions (activities/freeze.py), each with its sha256."""
        return read_lines(self.ctx.store, f"{number}/evidence/frozen.jsonl")

    @activity.defn(name="collect_evidence")
    def collect_evidence(self, request: EvidenceInput) -> EvidencePack:
        number = request.incident_number
        detection = redact_value(request.detection.model_dump(mode="json"))  # alert text can carry PII too
        items = [self._store(number, "detection.json", f"temporal:{request.workflow_id}",
                             json.dumps(detection, indent=2).encode())]
        for name, source in sorted(request.sources.items()):
            activity.heartbeat(name)
            if source.kind == "langfuse":
                items.extend(self._langfuse(number, name, source, request))
                continue
            if source.kind == "deploys":
                try:
                    items.append(self._deploys(number, name, source, request))
                except (OSError, ValueError) as err:
                    items.append(EvidenceItem(name=name, source="deploy-log", fetched_at=datetime.now(UTC),
                                              error=f"could not read the deploy log: {err}"))
                continue
            try:
                where, content = fetch_source(source, dict(request.variables))
            except (SourceError, OSError) as err:
                items.append(EvidenceItem(name=name, source=source.url or source.path or source.kind,
                                          fetched_at=datetime.now(UTC), error=str(err)))
                continue
            items.append(self._store(number, name, where, content))
        manifest = {"incident": number, "collected_at": datetime.now(UTC).isoformat(),
                    "items": [item.model_dump(mode="json") for item in items], "frozen": self._frozen(number)}
        path = self.ctx.store.write(f"{number}/evidence/manifest.json", json.dumps(manifest, indent=2))
        return EvidencePack(manifest_path=str(path), items=items)
