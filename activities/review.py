"""Step 7, review: write the retrospective (a draft at resolution, the record when the review is held).

Each write also files the incident in the risk register (<artefacts>/_risk_register/<number>.json): a draft
entry at resolution, so an incident whose review never happens is still registered, replaced by the final
one with the retrospective's root cause and taxonomy overrides.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from temporalio import activity
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from activities.context import ActivityContext
from playbook import search_attributes as sa
from playbook.messages import RetrospectiveInput
from playbook.proposals import proposal_diff, propose
from playbook.redact import outbound
from playbook.retrospective import retrospective_markdown, retrospective_record
from playbook.risk import RISK_REGISTER, risk_entry
from playbook.state import ActionItemInput, IncidentState


class ReviewActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="track_action_items")
    async def track_action_items(self, items: list[ActionItemInput]) -> list[str]:
        """Start one ActionItemWorkflow per item; a retry finds the ones it already started."""
        client, queue = activity.client(), activity.info().task_queue
        started = []
        for item in items:
            handle = await client.start_workflow(
                "ActionItemWorkflow", item, id=f"action-{item.incident_number}-{item.seq}", task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"{item.incident_number} action item {item.seq}: {item.item.what}"[:200],
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.INCIDENT_NUMBER, item.incident_number),
                    SearchAttributePair(sa.INCIDENT_STATUS, "open")]))
            started.append(handle.id)
        return started

    @activity.defn(name="write_retrospective")
    def write_retrospective(self, request: RetrospectiveInput) -> str:
        # The retrospective, the risk register and the proposals are shared beyond the responders: redacted
        # (the playbook snapshot is Firebreak's own configuration and is kept as it is).
        state = outbound(request.state, keep=("playbook",))
        number = state.number or state.workflow_id
        store = self.ctx.store
        reach = [store.read_json(p) for p in store.list_files(f"{number}/evidence") if p.endswith(".blast_radius.json")]
        record = retrospective_record(state, request.final, reach)
        self.ctx.store.write(f"{number}/retrospective.json", json.dumps(record, indent=2))
        path = self.ctx.store.write(f"{number}/retrospective.md", retrospective_markdown(record))
        suite = f"{number}/regression"
        entry = risk_entry(state.model_copy(update={"retrospective_path": str(path)}), datetime.now(UTC),
                           store.location(suite) if store.list_files(suite) else None)
        self.ctx.store.write(f"{RISK_REGISTER}/{number}.json", entry.model_dump_json(indent=2))
        if request.final:
            self._propose_playbook_updates(state, number)
        return str(path)

    def _propose_playbook_updates(self, state: IncidentState, number: str) -> None:
        """<number>/playbook-proposal.diff and .md: what this incident suggests changing, for a person to apply."""
        try:
            current = self.ctx.playbook_path.read_text(encoding="utf-8")
        except OSError as err:
            activity.logger.warning("no playbook proposals for %s: cannot read %s (%s)", number,
                                    self.ctx.playbook_path, err)
            return
        proposed, reasons = propose(state, current, str(self.ctx.playbook_path))
        if not reasons:
            return
        self.ctx.store.write(f"{number}/playbook-proposal.md", f"# Playbook updates proposed by {number}\n\n"
                             + "".join(f"- {r}\n" for r in reasons)
                             + "\nApply with: patch -p0 < playbook-proposal.diff (after reading it)\n")
        self.ctx.store.write(f"{number}/playbook-proposal.diff",
                             proposal_diff(current, proposed, str(self.ctx.playbook_path)))
