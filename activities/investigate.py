"""Step 4, investigate: pull each configured evidence source into the incident's evidence pack.

Each item is stored with where it came from, when, and its sha256; a source that fails is listed with
its error instead of failing the pack.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

from temporalio import activity

from activities.context import ActivityContext
from integrations.langfuse import LangfuseError, collect_langfuse_evidence
from integrations.redact import redact_value
from integrations.sources import SourceError, fetch_source
from playbook.config import EvidenceSource
from playbook.messages import EvidenceInput, EvidenceItem, EvidencePack


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class InvestigateActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _store(self, number: str, name: str, source: str, content: bytes) -> EvidenceItem:
        rel = f"{number}/evidence/{_safe(name)}"
        self.ctx.store.write(rel, content)
        return EvidenceItem(name=name, source=source, fetched_at=datetime.now(UTC),
                            sha256=hashlib.sha256(content).hexdigest(), path=rel, size=len(content))

    def _langfuse(self, number: str, name: str, source: EvidenceSource, request: EvidenceInput) -> list[EvidenceItem]:
        """The blast window's root observations, scores and blast radius, each its own redacted item."""
        try:
            where, parts = collect_langfuse_evidence(source, dict(request.variables), request.detection.detected_at)
        except LangfuseError as err:
            return [EvidenceItem(name=name, source=f"langfuse:{source.base_url or 'default'}",
                                 fetched_at=datetime.now(UTC), error=str(err))]
        return [self._store(number, f"{name}.{suffix}", where, content) for suffix, content in parts.items()]

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
            try:
                where, content = fetch_source(source, dict(request.variables))
            except (SourceError, OSError) as err:
                items.append(EvidenceItem(name=name, source=source.url or source.path or source.kind,
                                          fetched_at=datetime.now(UTC), error=str(err)))
                continue
            items.append(self._store(number, name, where, content))
        manifest = {"incident": number, "collected_at": datetime.now(UTC).isoformat(),
                    "items": [item.model_dump(mode="json") for item in items]}
        path = self.ctx.store.write(f"{number}/evidence/manifest.json", json.dumps(manifest, indent=2))
        return EvidencePack(manifest_path=str(path), items=items)
