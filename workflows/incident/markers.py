"""The incident workflow's `workflow.patched` markers, one per change of its commands.

Each guards commands that histories recorded before the change lack, so incidents started on older code replay.
docs/architecture.md ("Changing workflow code") says when one may be deprecated and removed.
"""

from __future__ import annotations

from temporalio import workflow

BRIEFS_PER_AUDIENCE = "briefs-per-audience-v1"  # one brief per audience, SME edits, communications release
ACTION_ITEMS = "action-items-v1"                # the retrospective's action items tracked as their own workflows
REMEDY = "remedy-v1"                            # prompt patches and regression suites as steps; undos at resolution
FINDINGS = "findings-v1"                        # the evidence pack's findings to the ticket
FINAL_BRIEF = "final-brief-v1"                  # the closing brief at resolution
CANDIDATE_TEST = "remedy-candidate-test-v1"     # the plan's suites run on a candidate before its gate
PATCH_TEXT = "remedy-patch-text-v1"             # `firebreak patch`: new candidates mid-incident
ALERT_LABELS = "alert-labels-v1"                # a later alert's model, prompt and deploy fill the incident's gaps
LAST_DEPLOY = "last-deploy-v1"                  # the deploy log's last deploy when no alert named one
SOURCE_NOTES = "source-notes-v1"                # a monitor's NO_DATA / UNKNOWN / PAUSED (not firing) as a note
PENDING_LISTING = "pending-listing-v1"          # PendingApprovals search attribute and the `pending` memo
READABLE_ALERTS = "readable-alerts-v1"          # a batch's alerts read one by one, the unreadable ones dropped
PAGING = "paging-v1"                            # on-call schedules fill roles; PagerDuty trigger / ack / resolve
APPROVALS_IN_SLACK = "approvals-in-slack-v1"    # every gate posted with buttons; decided messages replaced
TRACKERS = "trackers-v1"                        # the ticket in Jira / GitHub, kept locally when the tracker refuses
OPEN_TICKET = "open-ticket-v1"                  # open_incident also opens a local ticket: no create_ticket
ONE_UPSERT = "one-upsert-v1"                    # search attributes upserted once per workflow task, not per change
FREEZE = "freeze-v1"                            # evidence frozen before an action that alters the AI system
SERIOUS = "serious-incident-v1"                # EU AI Act serious incidents: clock, reports, legal holds
INCIDENT_CHANNEL = "incident-channel-v1"        # a Slack channel per incident: created, invited, timeline, archived
# Runs started on code that knows this marker record it alone, not one marker per change above (each costs the
# history two events: the marker and the SDK's TemporalChangeVersion upsert), and call quick local steps as local
# activities (workflows/incident/core.py, IncidentCore.quick). Changes made after it still need their own marker.
LIGHT = "light-runs-v1"
# ActionItemWorkflow's (workflows/action_items.py):
ITEM_TICKETS = "item-tickets-v1"                # the item's issue in the tracker, closed both ways


def begin() -> bool:
    """Decide light-runs-v1 for this run: called from the workflow's __init__, so it is decided in the run's first
    activation, which a replay always replays. A run recorded before the marker replays it as False (and keeps
    asking each marker it recorded); a run started on this code records it and takes every change above."""
    return workflow.patched(LIGHT)


def patched(marker: str) -> bool:
    """`workflow.patched(marker)` for a change made before light-runs-v1: true on a light run without recording
    the marker (the SDK memoizes LIGHT per run, so it is recorded once)."""
    return workflow.patched(LIGHT) or workflow.patched(marker)
