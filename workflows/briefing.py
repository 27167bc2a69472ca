"""Which audiences a cadence tick briefs, and the names their briefs go by (deterministic: used by the workflow).

The responders' brief keeps the names it had before audiences existed (request `brief-3`, 'brief #3', files
0003-*), so people and tools that know them keep working; other audiences add their name
(`brief-3-leadership`, 'brief #3 (leadership)'). An external audience's brief is released by the communications
role with the request `<request>-release` after the domain SME approved it.

The closing brief at resolution is `brief-final` / `brief-final-<audience>`, 'final brief' / 'final brief
(<audience>)'; it takes the next sequence number for its files (`0004-customers-draft.md`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from playbook.config import Audience, CommunicateConfig
from playbook.models import Severity, SignalKind

RESPONDERS = "responders"
RELEASE = "-release"


def due(config: CommunicateConfig, severity: Severity, kind: SignalKind, seq: int) -> dict[str, Audience]:
    """The audiences briefed on tick `seq` (1, 2, ...) of an incident of this kind and severity, in playbook order."""
    return {name: a for name, a in config.audience_map().items()
            if severity in a.severities and (not a.kinds or kind in a.kinds) and (seq - 1) % a.every == 0}


def closing_audiences(config: CommunicateConfig, severity: Severity, kind: SignalKind, timeline: Iterable[str],
                      last_seq: int) -> dict[str, Audience]:
    """The audiences the closing brief goes to, in playbook order: every audience that received a brief during
    the incident (whatever the severity is now: customers who saw the page incident open must see it resolved),
    and those with `final = true` at their severities and kinds; never those with `final = false`.

    `timeline` is the timeline's `what` lines; `last_seq` the last cadence brief's number.
    """
    sent = {w.split(" sent to ", 1)[0] for w in timeline
            if w.startswith("brief #") and " sent to " in w and not w.endswith(" sent to no channel")}
    chosen = {}
    for name, a in config.audience_map().items():
        received = any(label(seq, name) in sent for seq in range(1, last_seq + 1))
        wanted = a.final is True and severity in a.severities and (not a.kinds or kind in a.kinds)
        if a.final is not False and (received or wanted):
            chosen[name] = a
    return chosen


def request_id(seq: int, audience: str, closing: bool = False) -> str:
    base = "brief-final" if closing else f"brief-{seq}"
    return base if audience == RESPONDERS else f"{base}-{audience}"


def label(seq: int, audience: str, closing: bool = False) -> str:
    base = "final brief" if closing else f"brief #{seq}"
    return base if audience == RESPONDERS else f"{base} ({audience})"


def key_parts(seq: int, audience: str, closing: bool = False) -> list[str]:
    base = ["brief", "final"] if closing else ["brief", str(seq)]
    return base if audience == RESPONDERS else [*base, audience]


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
