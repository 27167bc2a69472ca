"""The incident workflow's `workflow.patched` markers, one per change of its commands.

Each guards commands that histories recorded before the change lack, so incidents started on older code replay.
docs/architecture.md ("Changing workflow code") says when one may be deprecated and removed.
"""

from __future__ import annotations

BRIEFS_PER_AUDIENCE = "briefs-per-audience-v1"  # one brief per audience, SME edits, communications release
ACTION_ITEMS = "action-items-v1"                # the retrospective's action items tracked as their own workflows
REMEDY = "remedy-v1"                            # prompt patches and regression suites as steps; undos at resolution
FINDINGS = "findings-v1"                        # the evidence pack's findings to the ticket
FINAL_BRIEF = "final-brief-v1"                  # the closing brief at resolution
CANDIDATE_TEST = "remedy-candidate-test-v1"     # the plan's suites run on a candidate before its gate
PATCH_TEXT = "remedy-patch-text-v1"             # `firebreak patch`: new candidates mid-incident
