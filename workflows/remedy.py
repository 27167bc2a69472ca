"""The incident workflow's remediation and resolution parts: the undo registry, prompt patches as candidates,
the promptfoo regression gate and undoing mitigations at resolution.

A mixin of IncidentWorkflow, kept apart so the step code in incident.py stays small. Deterministic like the rest
of the workflow: side effects are activities called by name. New commands are guarded by REMEDY_PATCH so
histories recorded before this code replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from playbook.config import (
        LangfusePromptPatchAction,
        ManualAction,
        Playbook,
        PromptfooRegressionAction,
        render_template,
    )
    from playbook.models import ApprovalStatus, HumanAction, Resolution, Role, Step
    from playbook.remedy import (
        AppliedMitigation,
        PatchRequest,
        PatchResult,
        RegressionRequest,
        RegressionRun,
        UndoPlan,
        UndoRequest,
        apply_choices,
        choose,
        connection_of,
        regression_blocker,
    )
    from playbook.state import IncidentState

REMEDY_PATCH = "remedy-v1"
RETEST_ROLES = {Role.INCIDENT_COMMANDER, Role.AI_OPS}
LANGFUSE_CALLS: dict[str, Any] = {
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


class RemedyMixin:
    """Needs IncidentWorkflow's state and helpers (declared below for the type checker)."""

    if TYPE_CHECKING:
        state: IncidentState

        def _playbook(self) -> Playbook: ...
        def _record(self, step: Step, what: str, details: dict[str, Any] | None = None,
                    actor: str = ...) -> None: ...
        def _mitigation(self, step: Step, action: str, outcome: str, detail: str) -> None: ...
        async def _gate(self, step: Step, subject: str, why: str, role: Role, timeout: timedelta | None = None,
                        request_id: str | None = None) -> ApprovalStatus: ...
        async def _notify(self, key: str, to: list[str], subject: str, text: str) -> None: ...
        def _key(self, *parts: str) -> str: ...
        def _number(self) -> str: ...
        def _variables(self, action: str) -> dict[str, str | int | None]: ...
        def _primary(self, role: Role) -> str: ...
        def _publish(self) -> None: ...
        def _resolved(self) -> bool: ...
        def _may_continue_as_new(self) -> bool: ...
        async def _admit(self, action: HumanAction, what: str, roles: set[Role],
                         allow_escalated: list[str] | None = None) -> bool: ...
        def _refuse(self, action: HumanAction, what: str, reason: str) -> None: ...
        def _accept(self, action: HumanAction, step: Step, what: str,
                    details: dict[str, Any] | None = None) -> None: ...

    _retests: int = 0

    # ------------------------------------------------------------------ the undo registry

    def _register(self, step: Step, name: str, detail: str, undo: UndoPlan | None, by: str | None = None) -> None:
        """A mitigation now in place, with how to undo it (None: nothing known to undo it with). One that lands
        after the resolution (its activity was in flight) had no choice offered: kept by default."""
        applied = AppliedMitigation(name=name, step=step, applied_at=workflow.now(), detail=detail, undo=undo,
                                    applied_by=by)
        if self._resolved():
            applied.choice, applied.defaulted = "keep", True
            applied.outcome, applied.outcome_at = "kept", workflow.now()
            self._record(step, f"{name}: kept in place (applied after the resolution)")
        self.state.in_place.append(applied)

    def _confirmed_by(self, step: Step, name: str) -> str | None:
        """Who approved (confirmed) the manual action `name` in `step`; a brief's gate may have come in between."""
        req = next((a for a in reversed(self.state.approvals)
                    if a.step == step and a.subject.startswith(f"{name}:")), None)
        return req.decided_by if req else None

    def _manual_undo(self, name: str, action: ManualAction) -> UndoPlan | None:
        if not action.undo_instructions:
            return None
        text = render_template(action.undo_instructions, self._variables(name))
        return UndoPlan(kind="manual", instructions=text, description=f"by hand: {text}")

    # ------------------------------------------------------------------ prompt patch as a candidate

    async def _run_prompt_patch(self, step: Step, name: str, action: LangfusePromptPatchAction, mode: str,
                                role: Role) -> None:
        """Create (or find) the candidate version, gate its promotion by the policy, promote and verify."""
        request = PatchRequest(key=self._key(step.value, name), incident_number=self._number(), name=name,
                               action=action, variables=self._variables(name))
        timeouts: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=action.timeout_seconds * 4 + 5),
                                    **LANGFUSE_CALLS}
        try:
            candidate = await workflow.execute_activity("prepare_prompt_patch", request, result_type=PatchResult,
                                                        summary=f"{step.value.capitalize()}: candidate for {name}",
                                                        **timeouts)
        except ActivityError as err:
            await self._failed(step, name, _cause(err))
            return
        self.state.candidates.append(candidate)
        self._record(step, f"{name}: {candidate.detail}", {"prompt": candidate.prompt_name,
                                                           "version": candidate.version})
        if mode.startswith("approve:"):
            status = await self._gate(
                step, f"promote {name}: candidate version {candidate.version} of {candidate.prompt_name} to "
                f"{action.label}", f"playbook policy for {self.state.severity.value}: {mode}", role)
            proceed_anyway = status == ApprovalStatus.EXPIRED and self._playbook().approvals.on_expiry == "proceed"
            if status != ApprovalStatus.APPROVED and not proceed_anyway:
                self._mitigation(step, name, status.value,
                                 f"candidate version {candidate.version} left unpromoted ({action.candidate_label})")
                return
        request = request.model_copy(update={"version": candidate.version})
        try:
            promoted = await workflow.execute_activity("promote_prompt_patch", request, result_type=PatchResult,
                                                       summary=f"{step.value.capitalize()}: promote {name}",
                                                       **timeouts)
        except ActivityError as err:
            await self._failed(step, name, _cause(err))
            return
        self._mitigation(step, name, "done", promoted.detail)
        if mode == "auto_with_notice":
            await self._notify(f"notice-{step.value}-{name}", [self._primary(Role.INCIDENT_COMMANDER)],
                               f"{self._number()}: {name} ran automatically", promoted.detail)
        undo = None
        if promoted.moved and promoted.previous_version is not None:
            undo = UndoPlan(kind="langfuse_label", connection=connection_of(action), prompt_name=promoted.prompt_name,
                            label=action.label, restore_version=promoted.previous_version,
                            expect_version=promoted.version,
                            description=f"move {action.label} of {promoted.prompt_name} back to version "
                                        f"{promoted.previous_version}")
        self._register(step, name, promoted.detail, undo)

    async def _failed(self, step: Step, name: str, cause: str) -> None:
        self._mitigation(step, name, "failed", cause)
        await self._notify(f"failed-{step.value}-{name}", [self._primary(Role.INCIDENT_COMMANDER)],
                           f"{self._number()}: {name} failed", cause)

    # ------------------------------------------------------------------ the regression gate

    async def _run_regression(self, step: Step, name: str, action: PromptfooRegressionAction) -> None:
        seq = len(self.state.regressions) + 1
        candidate = self.state.candidates[-1] if self.state.candidates else None
        request = RegressionRequest(
            key=self._key("regression", str(seq)), incident_number=self._number(), seq=seq, name=name,
            kind=self.state.detection.kind.value, action=action,
            candidate={"prompt_name": candidate.prompt_name, "version": candidate.version} if candidate else None)
        try:
            run = await workflow.execute_activity(
                "run_regression_suite", request, result_type=RegressionRun,
                summary=f"{step.value.capitalize()}: regression suite #{seq} ({name})",
                start_to_close_timeout=timedelta(seconds=action.timeout_seconds + 60),
                heartbeat_timeout=timedelta(seconds=action.timeout_seconds + 30),
                retry_policy=RetryPolicy(maximum_attempts=3))
        except ActivityError as err:
            run = RegressionRun(seq=seq, action=name, at=workflow.now(), passed=False, error=_cause(err))
        self.state.regressions.append(run)
        self._mitigation(step, name, "done" if run.passed else "failed", run.summary())
        if not run.passed:
            await self._notify(f"regression-{seq}", [self._primary(Role.INCIDENT_COMMANDER)],
                               f"{self._number()}: regression suite fails",
                               f"{run.summary()}\nResolution is held until it passes (firebreak retest "
                               f"{self._number()}) or you resolve with --override-regressions REASON.")

    async def _monitor(self) -> None:
        """Wait for resolution, running the regression suites again whenever someone asks (`firebreak retest`)."""
        while True:
            await workflow.wait_condition(lambda: self._resolved() or self._may_continue_as_new()
                                          or self._retests > 0)
            if self._resolved() or self._retests == 0:
                return
            self._retests = 0
            if workflow.patched(REMEDY_PATCH):
                await self._rerun_regressions()

    async def _rerun_regressions(self) -> None:
        pb = self._playbook()
        names = list(dict.fromkeys(r.action for r in self.state.regressions))
        for name in names:
            action = pb.actions.get(name)
            if isinstance(action, PromptfooRegressionAction):
                await self._run_regression(Step.REMEDIATE, name, action)
        self._publish()

    async def _request_retest(self, action: HumanAction) -> None:
        if not await self._admit(action, "run the regression suite again", RETEST_ROLES):
            return
        if self._resolved():
            self._refuse(action, "run the regression suite again", "the incident is already resolved")
            return
        if not self.state.regressions:
            self._refuse(action, "run the regression suite again",
                         "no regression suite has run in this incident yet (it runs in the remediate step)")
            return
        self._retests += 1
        self._accept(action, self.state.step, "regression suite re-run requested")

    # ------------------------------------------------------------------ resolution

    def _resolution_refusal(self, resolution: Resolution) -> str | None:
        """Why this resolution cannot be taken (bad keep/undo choices, a failing suite without override)."""
        problem = choose(self.state.in_place, resolution.keep, resolution.undo)
        if problem:
            return problem
        blocker = regression_blocker(self.state.regressions)
        if blocker and not resolution.override_regressions.strip():
            return (f"{blocker}. Fix the candidate and run `firebreak retest {self._number()}`, or resolve with "
                    "--override-regressions REASON")
        return None

    def _take_choices(self, resolution: Resolution) -> None:
        """Record the keep/undo choice for every mitigation in place; keeps take effect now, undos after."""
        step, now = self.state.step, workflow.now()
        blocker = regression_blocker(self.state.regressions)
        if blocker:
            self.state.regression_override = resolution.override_regressions.strip()
            self.state.record(now, step, resolution.by, resolution.role.value, "regression gate overridden",
                              {"reason": self.state.regression_override, "failing": blocker})
        apply_choices(self.state.in_place, resolution.keep, resolution.undo, resolution.by)
        for m in self.state.in_place:
            if m.choice == "keep" and m.outcome == "in_place":
                m.outcome, m.outcome_at = "kept", now
                self.state.record(now, step, resolution.by, resolution.role.value, f"{m.name}: kept in place",
                                  {"default": m.defaulted, "undo": m.undo.description if m.undo else None})
            elif m.choice == "undo" and m.outcome == "in_place":
                self.state.record(now, step, resolution.by, resolution.role.value, f"{m.name}: undo chosen",
                                  {"undo": m.undo.description if m.undo else None})

    async def _carry_out_undos(self) -> None:
        """Undo what the incident commander chose to undo, last applied first."""
        todo = [m for m in self.state.in_place if m.choice == "undo" and m.outcome == "in_place"]
        if not todo or not workflow.patched(REMEDY_PATCH):
            return
        step = self.state.step
        for m in reversed(todo):
            assert m.undo is not None
            if m.undo.kind == "manual":
                who = m.applied_by or self._primary(Role.AI_OPS)
                await self._notify(f"undo-{m.step.value}-{m.name}", [who], f"{self._number()}: undo {m.name}",
                                   f"The incident commander chose to undo {m.name}: {m.undo.instructions}")
                m.outcome, m.outcome_detail = "handed_over", f"asked {who} to: {m.undo.instructions}"
            else:
                try:
                    m.outcome_detail = await workflow.execute_activity(
                        "undo_mitigation", UndoRequest(key=self._key("undo", m.step.value, m.name),
                                                       incident_number=self._number(), name=m.name, plan=m.undo),
                        result_type=str, summary=f"Resolve: undo {m.name}",
                        start_to_close_timeout=timedelta(seconds=_undo_timeout(m.undo)), **LANGFUSE_CALLS)
                    m.outcome = "undone"
                except ActivityError as err:
                    m.outcome, m.outcome_detail = "undo_failed", _cause(err)
                    await self._notify(f"undo-failed-{m.step.value}-{m.name}",
                                       [self._primary(Role.INCIDENT_COMMANDER)],
                                       f"{self._number()}: undo of {m.name} failed", m.outcome_detail)
            m.outcome_at = workflow.now()
            self._record(step, f"{m.name}: {m.outcome.replace('_', ' ')}", {"detail": m.outcome_detail})
        self._publish()


def _undo_timeout(plan: UndoPlan) -> float:
    if plan.request is not None:
        return plan.request.timeout_seconds + 5
    return (plan.connection.timeout_seconds if plan.connection else 10) * 3 + 5

