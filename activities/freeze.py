"""Evidence frozen before a change: what a system-altering action will change, read just before it runs, with the
last deploys and a sample of the offending trace ids, written into the evidence pack and hashed.

One snapshot per action and step (per patch text): a retried attempt finds the first one and keeps it. The index,
<incident>/evidence/frozen.jsonl, is listed in the evidence manifest too.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity

from activities.actions import mitigation_errors
from activities.context import ActivityContext
from integrations.deploys import read_deploys
from integrations.mitigations import MitigationError, snapshot
from integrations.store import read_lines
from playbook.freeze import SAMPLE_TRACES, FreezeRequest, FreezeResult
from playbook.redact import redact_value

DEPLOYS_LOOKBACK = timedelta(days=7)
LAST_DEPLOYS = 5
TRACE_LINK = "langfuse-trace:"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[-120:]


def trace_sample(ctx: ActivityContext, number: str, links: list[str]) -> list[str]:
    """The detection's trace links, then those of the evidence pack's blast radius when investigate ran already."""
    found = [link.removeprefix(TRACE_LINK) for link in links if link.startswith(TRACE_LINK)]
    for rel in ctx.store.list_files(f"{number}/evidence/"):
        if not rel.endswith("blast_radius.json") or "/" in rel.removeprefix(f"{number}/evidence/"):
            continue
        try:
            found += [str(t) for t in json.loads(ctx.store.read_bytes(rel)).get("trace_ids") or []]
        except (OSError, ValueError, AttributeError):
            continue
    return list(dict.fromkeys(found))[:SAMPLE_TRACES]


class FreezeActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="freeze_evidence")
    def freeze_evidence(self, request: FreezeRequest) -> FreezeResult:
        number, store = request.incident_number, self.ctx.store
        rel = f"{number}/evidence/frozen/{_safe(request.key)}.json"
        earlier = store.find_once(f"{number}/evidence/frozen.jsonl", request.key)
        if earlier is not None:
            return FreezeResult(path=earlier["path"], sha256=earlier["sha256"], summary=earlier.get("summary", ""),
                                created=False)
        try:
            target = snapshot(request.action, dict(request.variables))
        except MitigationError as err:
            raise mitigation_errors(err) from err
        now = datetime.now(UTC)
        deploys, _ = read_deploys(store, now - DEPLOYS_LOOKBACK, now, None, LAST_DEPLOYS)
        d = request.detection
        content: dict[str, Any] = {
            "incident": number, "action": request.name, "step": request.step.value, "kind": request.action.kind,
            "frozen_at": now.isoformat(), "target": target,
            "detection": {"model": d.model, "prompt_name": d.prompt_name, "prompt_version": d.prompt_version,
                          "deploy_id": d.deploy_id, "detected_at": d.detected_at.isoformat()},
            "last_deploys": deploys, "trace_ids": trace_sample(self.ctx, number, d.links)}
        data = json.dumps(redact_value(content), indent=2, sort_keys=True, default=str).encode()
        store.write_once(rel, data)
        data = store.read_bytes(rel)  # a racing attempt may have written it first: hash what is there
        digest = hashlib.sha256(data).hexdigest()
        summary = f"{request.name}: {request.action.kind} target frozen, {len(deploys)} deploy(s), " \
                  f"{len(content['trace_ids'])} trace id(s)"
        store.append_once(f"{number}/evidence/frozen.jsonl", request.key, {
            "action": request.name, "step": request.step.value, "path": rel, "sha256": digest, "at": now.isoformat(),
            "summary": summary})
        self._index_in_manifest(number)
        return FreezeResult(path=rel, sha256=digest, summary=summary)

    def _index_in_manifest(self, number: str) -> None:
        """A snapshot frozen after investigate (a remediation) joins the manifest's `frozen` list too."""
        manifest = f"{number}/evidence/manifest.json"
        if not self.ctx.store.exists(manifest):
            return  # investigate has not run yet: it lists every snapshot when it does
        content = self.ctx.store.read_json(manifest)
        content["frozen"] = read_lines(self.ctx.store, f"{number}/evidence/frozen.jsonl")
        self.ctx.store.write(manifest, json.dumps(content, indent=2))
