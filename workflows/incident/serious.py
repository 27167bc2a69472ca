"""Serious incidents under the EU AI Act (Art. 73): marked by the incident commander or legal (or a playbook rule),
a durable clock to the reporting deadline with reminders to legal, the initial and complete reports drafted and
put through the domain SME's and legal's gates, the report to the authority recorded, and, until the authority is
informed, actions that alter the AI system held for legal unless the incident commander overrides for safety.

The clock runs as a task of the incident (restarted after a continue-as-new from the state); the incident's run
does not end until the complete report is recorded as filed.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.incident import gates
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.config import Action, alters_ai_system
    from playbook.models import ApprovalStatus, Decision, HumanAction, IncidentStatus, Role, Step
    from playbook.serious import (
        HOLD_PREFIX,
        AuthorityReport,
        AwareChange,
        AwareEdit,
        ReportFiled,
        SeriousIncident,
        SeriousMark,
        reminder_times,
        rule_case,
    )
    from playbook.serious_report import CASE_TEXT, SeriousReportInput
    from workflows.incident.calls import QUICK
    from workflows.incident.people import IC_ONLY

IC_OR_LEGAL = {Role.INCIDENT_COMMANDER, Role.LEGAL}
WHY_HOLD = ("EU AI Act Art. 73: no change that could affect the evaluation of the causes before the authority is "
            "informed. Legal approves, or the incident commander overrides for safety: firebreak override {number} "
            "{rid} --reason WHY")


def legal_role(core: IncidentCore) -> Role:
    """Legal when the roster has someone in it, else the incident commander (the roster check allows no legal)."""
    return Role.LEGAL if core.playbook().roster.holders(Role.LEGAL) else Role.INCIDENT_COMMANDER


def legal_people(core: IncidentCore) -> list[str]:
    return [core.primary(legal_role(core))]


async def hold(core: IncidentCore, step: Step, name: str, action: Action) -> bool:
    """Before an action runs: True when it may run now. A serious incident not yet reported holds an action that
    alters the AI system for legal's approval (or the incident commander's safety override)."""
    s = core.state
    sv = s.serious
    if (sv is None or not alters_ai_system(action) or not core.playbook().serious.hold_changes
            or sv.reported("initial") is not None):
        return True
    rid = f"{HOLD_PREFIX}{step.value}-{name}"
    rid += "" if s.approval(rid) is None else f"-{len(s.approvals) + 1}"
    status = await gates.gate(core, step, f"{name} would alter the AI system of a serious incident",
                              WHY_HOLD.format(number=core.number(), rid=rid), legal_role(core), request_id=rid)
    return status == ApprovalStatus.APPROVED


class Serious:
    def __init__(self, core: IncidentCore) -> None:
        self.core = core
        self._clock: asyncio.Task[None] | None = None
        self._retime = False

    # ------------------------------------------------------------------ the clock

    def resume(self) -> None:
        """Once the incident is open (and after a continue-as-new): mark it from the playbook's rules, keep the
        clock running. Histories from before this room mark nothing here and issue no commands."""
        core, s = self.core, self.core.state
        if s.serious is None and s.playbook is not None:
            case = rule_case(s.detection, s.playbook)
            if case is not None and markers.patched(markers.SERIOUS):
                s.serious = SeriousIncident(case=case, aware_at=s.opened_at or workflow.now(),
                                            marked_at=workflow.now(), marked_by="firebreak",
                                            reason="a playbook severity rule names this a serious incident")
                core.system(Step.DETECT, f"serious incident (EU AI Act Art. 73): {CASE_TEXT[case.value]}",
                            self._facts())
        if s.serious is not None and self._clock is None:
            self._clock = asyncio.create_task(self._run_clock())

    async def settle(self) -> None:
        """At the end of the run: the incident stays open until the complete report is recorded as filed."""
        sv = self.core.state.serious
        if sv is None or self._clock is None:
            return
        if sv.reported("complete") is None:
            self.core.system(Step.REVIEW, "waiting for the AI Act complete report to be recorded as filed")
        await workflow.wait_condition(lambda: sv.reported("complete") is not None)
        await self._clock

    async def _run_clock(self) -> None:
        core, s = self.core, self.core.state
        sv = s.serious
        assert sv is not None
        reports = asyncio.create_task(self._reports())
        if "marked" not in sv.reminders_sent:
            sv.reminders_sent.append("marked")
            await core.notify("ai-act-marked", legal_people(core), f"{core.number()}: serious incident, report "
                              f"due {sv.deadline:%Y-%m-%d %H:%M} UTC",
                              f"{CASE_TEXT[sv.case.value]} ({sv.case.days} days from {sv.aware_at:%Y-%m-%d %H:%M} "
                              "UTC). A draft initial report follows for the domain SME and you to approve.")
        while sv.reported("initial") is None:
            now = workflow.now()
            times = reminder_times(sv, core.playbook().serious, now)
            due = [label for label, at in times if at <= now and label not in sv.reminders_sent]
            if due:
                sv.reminders_sent.extend(due)
                await self._remind(due[-1])
                continue
            label, at = next((lb, t) for lb, t in times if t > now and lb not in sv.reminders_sent)
            self._retime = False
            await core.wait(lambda: self._retime or sv.reported("initial") is not None, at - now,
                            f"AI Act {label} (report due {sv.deadline:%Y-%m-%d %H:%M} UTC)")
        await reports

    async def _remind(self, label: str) -> None:
        core, sv = self.core, self.core.state.serious
        assert sv is not None
        late = not label.startswith("before-")
        to = list(dict.fromkeys(legal_people(core) + ([core.primary(Role.INCIDENT_COMMANDER)] if late else [])))
        when = "OVERDUE" if label != "deadline" and late else ("due now" if late else f"due {label[7:]} before")
        core.system(core.state.step, f"AI Act report {when}: reminder {label}",
                    {"deadline": sv.deadline.isoformat(), "to": to})
        await core.notify(f"ai-act-{len(sv.aware_edits)}-{sv.case.value}-{label}", to,
                          f"{core.number()}: AI Act serious-incident report {when}",
                          f"The initial report to the market surveillance authority is due "
                          f"{sv.deadline:%Y-%m-%d %H:%M} UTC ({CASE_TEXT[sv.case.value]}). Once sent: "
                          f"firebreak serious {core.number()} --reported REFERENCE")

    def _retimed(self) -> None:
        """The deadline moved: reminders not yet due under the new deadline are sent again when they are."""
        sv = self.core.state.serious
        assert sv is not None
        now = workflow.now()
        times = dict(reminder_times(sv, self.core.playbook().serious, now))
        sv.reminders_sent = [lb for lb in sv.reminders_sent if lb == "marked" or times.get(lb, now) <= now]
        self._retime = True

    # ------------------------------------------------------------------ the reports

    async def _reports(self) -> None:
        s = self.core.state
        await self._report("initial")
        await workflow.wait_condition(lambda: s.retrospective is not None or s.status == IncidentStatus.CLOSED)
        await self._report("complete")

    async def _report(self, kind: str) -> None:
        core, s = self.core, self.core.state
        sv = s.serious
        assert sv is not None
        attr = f"{kind}_report_path"
        if getattr(sv, attr) is None:
            path = await workflow.execute_activity(
                "write_serious_report", SeriousReportInput(state=s.for_activity(), kind=kind),  # type: ignore[arg-type]
                result_type=str, summary=f"Communicate: AI Act {kind} report draft", **QUICK)
            setattr(sv, attr, path)
            core.system(s.step, f"AI Act {kind} report drafted", {"path": path})
        path = getattr(sv, attr)
        for role, rid, why in ((Role.DOMAIN_SME, f"ai-act-{kind}-sme", "check the report's facts"),
                               (legal_role(core), f"ai-act-{kind}-legal", "approve the report for filing")):
            if s.approval(rid) is not None:
                continue  # asked before a continue-as-new
            status = await gates.gate(core, Step.COMMUNICATE, f"AI Act {kind} report: {path}", why, role,
                                      request_id=rid, until_resolved=False)
            if status != ApprovalStatus.APPROVED:
                core.system(Step.COMMUNICATE, f"AI Act {kind} report not approved ({status.value}); legal may "
                            "still file it")
                return
        core.system(Step.COMMUNICATE, f"AI Act {kind} report approved for filing", {"path": path})
        await core.notify(f"ai-act-{kind}-approved", legal_people(core), f"{core.number()}: AI Act {kind} report "
                          "approved", f"{path}\nOnce filed: firebreak serious {core.number()} --reported REFERENCE"
                          + (" --complete" if kind == "complete" else ""))

    # ------------------------------------------------------------------ people's signals

    async def _admit(self, action: HumanAction, what: str, roles: set[Role], closed_too: bool = True) -> bool:
        """Admitted by the incident core, on a run that knows serious incidents (serious-incident-v1)."""
        return markers.patched(markers.SERIOUS) and await self.core.admit(action, what, roles,
                                                                            allow_closed=closed_too)

    async def _marked(self, action: HumanAction, what: str) -> SeriousIncident | None:
        """The incident's serious-incident record for a change to it by the IC or legal; refused (None) when the
        action is not admitted or the incident was never marked serious."""
        if not await self._admit(action, what, IC_OR_LEGAL):
            return None
        if self.core.state.serious is None:
            self.core.refuse(action, what, "not a serious incident")
        return self.core.state.serious

    async def mark(self, m: SeriousMark) -> None:
        core, s = self.core, self.core.state
        what = "mark a serious incident"
        if not await self._admit(m, what, IC_OR_LEGAL):
            return
        if not m.comment.strip():
            core.refuse(m, what, "say why (--reason)")
            return
        if s.serious is None:
            s.serious = SeriousIncident(case=m.case, aware_at=m.aware_at or workflow.now(), marked_at=workflow.now(),
                                        marked_by=m.by, reason=m.comment)
            core.accept(m, s.step, f"serious incident (EU AI Act Art. 73): {CASE_TEXT[m.case.value]}",
                        self._facts() | {"reason": m.comment})
            self.resume()
        elif s.serious.case == m.case:
            core.refuse(m, what, f"already a serious incident ({m.case.value})")
            return
        else:
            before, s.serious.case = s.serious.case, m.case
            self._retimed()
            core.accept(m, s.step, f"serious incident case {before.value} -> {m.case.value}",
                        self._facts() | {"reason": m.comment})
        await core.ticket_update(f"ai-act-{len(s.timeline)}", f"Serious incident (EU AI Act Art. 73), "
                                 f"{CASE_TEXT[m.case.value]}: report due {s.serious.deadline:%Y-%m-%d %H:%M} UTC")

    async def aware(self, change: AwareChange) -> None:
        core, s = self.core, self.core.state
        what = "change when the provider became aware"
        sv = await self._marked(change, what)
        if sv is None:
            return
        if not change.comment.strip():
            core.refuse(change, what, "say why the time changes (--reason)")
            return
        sv.aware_edits.append(AwareEdit(at=workflow.now(), by=change.by, before=sv.aware_at, after=change.aware_at,
                                        reason=change.comment))
        sv.aware_at = change.aware_at
        self._retimed()
        core.accept(change, s.step, "aware time changed", self._facts() | {"before": sv.aware_edits[-1].before
                                                                            .isoformat(), "reason": change.comment})

    async def filed(self, report: ReportFiled) -> None:
        core, s = self.core, self.core.state
        what = "record a report to the authority"
        sv = await self._marked(report, what)
        if sv is None:
            return
        if any(r.kind == report.kind for r in sv.reports):
            core.refuse(report, what, f"the {report.kind} report is already recorded")
            return
        at = report.reported_at or workflow.now()
        sv.reports.append(AuthorityReport(kind=report.kind, reference=report.reference, reported_at=at,
                                          recorded_by=report.by))
        core.accept(report, s.step, f"{report.kind} report sent to the authority",
                    {"reference": report.reference, "reported_at": at.isoformat(), "in_time": at <= sv.deadline})
        for req in s.pending_approvals():
            if req.request_id.startswith(HOLD_PREFIX):  # the authority is informed: changes may go ahead
                req.status, req.decided_by, req.decided_at = ApprovalStatus.APPROVED, report.by, workflow.now()
                req.comment = "the authority was informed"
                core.system(req.step, f"{req.request_id} released: the authority was informed")
        core.publish()

    async def override(self, decision: Decision) -> None:
        """The incident commander lets a held action run for safety, with the reason on record."""
        core, s = self.core, self.core.state
        what = f"override {decision.request_id} for safety"
        if not await self._admit(decision, what, IC_ONLY, closed_too=False):
            return
        req = s.approval(decision.request_id)
        if req is None or not req.request_id.startswith(HOLD_PREFIX):
            held = ", ".join(a.request_id for a in s.pending_approvals() if a.request_id.startswith(HOLD_PREFIX))
            core.refuse(decision, what, f"no held action '{decision.request_id}' (held: {held or 'none'})")
            return
        if req.status != ApprovalStatus.PENDING:
            core.refuse(decision, what, f"{req.request_id} is already {req.status.value}")
            return
        if not decision.comment.strip():
            core.refuse(decision, what, "a safety override needs the reason (--reason)")
            return
        req.status, req.decided_by, req.decided_at = ApprovalStatus.APPROVED, decision.by, workflow.now()
        req.comment = f"safety override: {decision.comment}"
        core.accept(decision, req.step, f"{req.request_id} overridden for safety",
                    {"subject": req.subject, "reason": decision.comment, "safety_override": True})

    def _facts(self) -> dict[str, str | int]:
        sv = self.core.state.serious
        assert sv is not None
        return {"case": sv.case.value, "days": sv.case.days, "aware_at": sv.aware_at.isoformat(),
                "deadline": sv.deadline.isoformat()}
