"""What an AI draft is asked and from what: the material (the incident's redacted timeline, evidence summaries and
comms, nothing else), the built-in prompts used when Langfuse holds none, and reading the retrospective draft back.

Pure functions; integrations/ai_draft.py talks to the endpoint. Everything here is redacted before it is sent.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, Field, ValidationError

from playbook.redact import outbound, redact_text
from playbook.state import IncidentState

RETRO_PROMPT = """You draft the retrospective of an AI-system incident for its incident commander to edit.
Use ONLY the incident material the user gives you (timeline, evidence summaries, communications); do not invent
facts, names, numbers or causes that it does not support, and say "unknown from the record" where it is silent.
Answer with one JSON object and nothing else:
{"root_cause": str, "contributing_factors": [str], "went_well": [str], "went_badly": [str],
 "preventative_actions": [str], "action_items": [{"what": str, "owner": str, "due": null}]}
Owners are roster ids that appear in the material, else "unassigned"."""

BRIEF_PROMPT = """You draft a status brief about an AI-system incident for a domain expert to check and approve.
Use ONLY the incident material and the template brief the user gives you; keep every fact, time and number as the
material states it, invent nothing, keep the template's headings, and answer with the brief's markdown only."""


class DraftItem(BaseModel):
    what: str
    owner: str = "unassigned"
    due: str | None = None


class RetroDraft(BaseModel):
    """The model's draft, in the shape `firebreak retro INC --file` takes once the incident commander edited it."""

    root_cause: str
    contributing_factors: list[str] = Field(default_factory=list)
    went_well: list[str] = Field(default_factory=list)
    went_badly: list[str] = Field(default_factory=list)
    preventative_actions: list[str] = Field(default_factory=list)
    action_items: list[DraftItem] = Field(default_factory=list)


class DraftUnusable(Exception):
    """The answer is not a draft Firebreak can save (not JSON, missing fields)."""


def material(state: IncidentState, comms: list[tuple[str, str]]) -> str:
    """The incident as the model may see it: redacted timeline, evidence summaries and the briefs sent (name,
    text), as text."""
    s = outbound(state.for_activity(), keep=())
    d = s.detection
    lines = [f"Incident {s.number}: {s.severity.value} {d.kind.value} on {', '.join(d.services)}: {d.summary}",
             f"Status: {s.status.value}; resolution: {s.resolution_summary or 'none recorded'}", "", "Timeline:"]
    for e in s.timeline:
        detail = json.dumps(e.details, sort_keys=True, default=str)[:400] if e.details else ""
        lines.append(f"- {e.at.isoformat()} [{e.step.value}] {e.actor} ({e.role}): {e.what} {detail}".rstrip())
    lines += ["", "Evidence summaries:", *([f"- {f}" for f in s.findings] or ["- none"]),
              f"- manifest: {s.evidence_manifest or 'none collected'}", "", "Mitigations:",
              *([f"- {m.step.value}: {m.action}: {m.outcome} ({m.detail})" for m in s.mitigations] or ["- none"]),
              "", "Communications sent:"]
    for name, text in comms:
        lines.append(f"- {name}:\n{redact_text(text)[:1500]}")
    if not comms:
        lines.append("- none")
    return "\n".join(lines)


def parse_retro_draft(text: str) -> RetroDraft:
    """The JSON object in the answer (a ```json fence around it is allowed); DraftUnusable says what is wrong."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        return RetroDraft.model_validate(json.loads(body))
    except json.JSONDecodeError as err:
        raise DraftUnusable(f"the answer is not a JSON object ({err.msg} at {err.pos})") from err
    except ValidationError as err:
        first = err.errors()[0]
        raise DraftUnusable(f"the answer lacks a usable {'.'.join(map(str, first['loc']))}: {first['msg']}") from err
