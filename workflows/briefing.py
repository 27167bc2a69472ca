"""Which audiences a cadence tick briefs, and the names their briefs go by (deterministic: used by the workflow).

The responders' brief keeps the names it had before audiences existed (request `brief-3`, 'brief #3', files
0003-*), so people and tools that know them keep working; other audiences add their name
(`brief-3-leadership`, 'brief #3 (leadership)'). An external audience's brief is released by the communications
role with the request `<request>-release` after the domain SME approved it.
"""

from __future__ import annotations

import difflib

from playbook.config import Audience, CommunicateConfig
from playbook.models import Severity, SignalKind

RESPONDERS = "responders"
RELEASE = "-release"


def due(config: CommunicateConfig, severity: Severity, kind: SignalKind, seq: int) -> dict[str, Audience]:
    """The audiences briefed on tick `seq` (1, 2, ...) of an incident of this kind and severity, in playbook order."""
    return {name: a for name, a in config.audience_map().items()
            if severity in a.severities and (not a.kinds or kind in a.kinds) and (seq - 1) % a.every == 0}


def request_id(seq: int, audience: str) -> str:
    return f"brief-{seq}" if audience == RESPONDERS else f"brief-{seq}-{audience}"


def label(seq: int, audience: str) -> str:
    return f"brief #{seq}" if audience == RESPONDERS else f"brief #{seq} ({audience})"


def key_parts(seq: int, audience: str) -> list[str]:
    return ["brief", str(seq)] if audience == RESPONDERS else ["brief", str(seq), audience]


def is_brief_approval(request: str) -> bool:
    """A domain SME's brief approval (which may carry edited text), not a release or another step's request."""
    return request.startswith("brief-") and not request.endswith(RELEASE)


def is_release(request: str) -> bool:
    """The communications role's release of an external brief."""
    return request.startswith("brief-") and request.endswith(RELEASE)


def diff_stat(before: str, after: str) -> dict[str, int]:
    """Lines added and removed by an edit, for the timeline (the full diff goes to the comms archive)."""
    added = removed = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return {"lines_added": added, "lines_removed": removed}
