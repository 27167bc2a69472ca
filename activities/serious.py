"""Serious incidents (EU AI Act Art. 73): write the draft report for the domain SME and legal to check and file."""

from __future__ import annotations

from temporalio import activity

from activities.context import ActivityContext
from playbook.redact import outbound
from playbook.serious_report import SeriousReportInput, report_markdown


class SeriousActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="write_serious_report")
    def write_serious_report(self, request: SeriousReportInput) -> str:
        """<number>/ai-act/<kind>-report.md, redacted like everything shared beyond the responders."""
        state = outbound(request.state, keep=("playbook", "serious"))
        number = state.number or state.workflow_id
        path = self.ctx.store.write(f"{number}/ai-act/{request.kind}-report.md", report_markdown(state, request.kind))
        return str(path)
