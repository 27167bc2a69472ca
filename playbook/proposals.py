"""Playbook update proposals learned from an incident, as a diff against playbook.toml for a person to apply.

What the incident teaches, mechanically: a severity the incident commander had to change becomes a severity rule;
an approval nobody gave in time becomes a policy question; a failed action points at its runbook. Each proposal
is checked by loading the proposed file, so a proposal is never a playbook Firebreak would refuse.
"""

from __future__ import annotations

import difflib
import re

from playbook.config import ManualAction, PlaybookError, parse_playbook
from playbook.models import ApprovalStatus, Step
from playbook.state import IncidentState

_SEVERITY_CHANGE = re.compile(r"^severity (SEV\d) -> (SEV\d)$")


def _set_policy(text: str, action: str, severity: str, mode: str) -> str:
    """Set approvals.actions.<action>.<severity> = mode, editing the section when it exists."""
    header = f"[approvals.actions.{action}]"
    lines = text.splitlines()
    if header not in (line.strip() for line in lines):
        return text.rstrip("\n") + f"\n\n{header}\n{severity} = \"{mode}\"\n"
    start = next(i for i, line in enumerate(lines) if line.strip() == header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"^\s*{severity}\s*=", lines[i]):
            lines[i] = f"{severity} = \"{mode}\""
            return "\n".join(lines) + "\n"
    lines.insert(end, f"{severity} = \"{mode}\"")
    return "\n".join(lines) + "\n"


def propose(state: IncidentState, playbook_text: str, playbook_path: str) -> tuple[str, list[str]]:
    """(proposed playbook text, one reason per proposal). The text equals the input when there is nothing to learn."""
    number = state.number or state.workflow_id
    text, reasons = playbook_text, []
    changes = [m for m in (_SEVERITY_CHANGE.match(e.what) for e in state.timeline) if m]
    initial, final = (changes[0].group(1), changes[-1].group(2)) if changes else (None, None)
    if final is not None and final != initial:
        d = state.detection
        reasons.append(f"{number} was re-rated to {final} by the incident commander: add a rule so the next "
                       f"{d.kind.value} on {d.services[0]} opens at {final}")
        text = text.rstrip("\n") + (f"\n\n# Learned from {number}\n[[severity.rules]]\nkinds = [\"{d.kind.value}\"]\n"
                                    f"services = [\"{d.services[0]}\"]\nseverity = \"{final}\"\n"
                                    f"reason = \"re-rated in {number}\"\n")
    for request in state.approvals:
        if request.status != ApprovalStatus.EXPIRED or request.step == Step.COMMUNICATE:
            continue
        action = request.subject.removeprefix("run ").removeprefix("promote ").split(":", 1)[0].strip()
        if state.playbook is None or action not in state.playbook.actions:
            continue
        severity = (request.severity or state.severity).value
        if isinstance(state.playbook.actions[action], ManualAction):
            reasons.append(f"nobody confirmed the manual step {action} in time during {number}: check who holds "
                           f"the {request.role.value} role and their backups")
            continue
        reasons.append(f"nobody approved {action} in time during {number}: decide whether it should run with "
                       f"notice at {severity}")
        text = _set_policy(text, action, severity, "auto_with_notice")
    for m in state.mitigations:
        if m.outcome == "failed":
            reasons.append(f"{m.action} failed during {number} ({m.detail}): "
                           f"review its runbook in [actions.{m.action}]")
    if text != playbook_text:
        try:
            parse_playbook(text, playbook_path)
        except PlaybookError as err:
            reasons.append(f"(the mechanical edit did not load, so it is not proposed: {err})")
            text = playbook_text
    return text, reasons


def proposal_diff(playbook_text: str, proposed: str, playbook_path: str) -> str:
    return "".join(difflib.unified_diff(playbook_text.splitlines(keepends=True), proposed.splitlines(keepends=True),
                                        fromfile=playbook_path, tofile=f"{playbook_path} (proposed)"))
