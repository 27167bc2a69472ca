"""Evidence frozen before a change: what the freeze activity is asked and answers, and the override's rules.

Before an action that alters the AI system runs (playbook.config.alters_ai_system), the incident snapshots what
the action will change into the evidence pack, hashed, and the action's record names that snapshot. With
`freeze = "required"` a failed snapshot holds the action until the incident commander overrides it with a reason.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from playbook.config import Action
from playbook.models import Detection, Step

FREEZE_OVERRIDE = "freeze-override-"  # request id prefix of the incident commander's override of a failed snapshot
SAMPLE_TRACES = 20


class FreezeRequest(BaseModel):
    key: str
    incident_number: str
    step: Step
    name: str
    action: Action
    variables: dict[str, str | int | None]
    detection: Detection


class FreezeResult(BaseModel):
    """The snapshot in the evidence pack: its path there, its sha256 and one line on what it holds."""

    path: str
    sha256: str
    summary: str = ""
    created: bool = Field(default=True, description="False: an earlier attempt of the same step had frozen it")

    def ref(self) -> str:
        """How an action's record names its snapshot."""
        return f"{self.path} (sha256 {self.sha256[:16]})"


def is_freeze_override(request_id: str) -> bool:
    return request_id.startswith(FREEZE_OVERRIDE)


def override_problem(request_id: str, approved: bool, comment: str) -> str | None:
    """An override of a failed snapshot is only taken with a reason."""
    if approved and is_freeze_override(request_id) and not comment.strip():
        return ("running an action without its frozen evidence needs a reason: approve again with --comment "
                "\"why it cannot wait\"")
    return None
