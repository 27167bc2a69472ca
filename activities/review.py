"""Step 7, review: write the retrospective (a draft at resolution, the record when the review is held)."""

from __future__ import annotations

import json

from temporalio import activity

from activities.context import ActivityContext
from playbook.messages import RetrospectiveInput
from playbook.retrospective import retrospective_markdown, retrospective_record


class ReviewActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="write_retrospective")
    def write_retrospective(self, request: RetrospectiveInput) -> str:
        record = retrospective_record(request.state, request.final)
        number = request.state.number or request.state.workflow_id
        self.ctx.store.write(f"{number}/retrospective.json", json.dumps(record, indent=2))
        return str(self.ctx.store.write(f"{number}/retrospective.md", retrospective_markdown(record)))
