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
        render_for_people,
    )
    from playbook.models import ApprovalStatus, HumanAction, IncidentStatus, Resolution, Role, Step
    from playbook.remedy import (
        AppliedMitigation,
        PatchRequest,
        PatchResult,
        PatchText,
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
CANDIDATE_TEST_PATCH = "remedy-candidate-test-v1"   # the plan's suites run on a candidate before its gate
PATCH_TEXT_PATCH = "remedy-patch-text-v1"           # `firebreak patch`: new candidates mid-incident
RETEST_ROLES = {Role.INCIDENT_COMMANDER, Role.AI_OPS}
LANGFUSE_CALLS: dict[str, Any] = {
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}


def _cause(err: BaseException) -> str:
    """The innermost message of an activity failure, which is the one that says what went wrong."""
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
        text = render_for_people(action.undo_instructions, self._variables(name))
        return UndoPlan(kind="manual", instructions=text, description=f"by hand: {text}")

    # ------------------------------------------------------------------ prompt patch as a candidate

    async def _run_prompt_patch(self, step: Step, name: str, action: LangfusePromptPatchAction, mode: str,
                                role: Role, text: PatchText | None = None) -> None:
        """Create (or find) the candidate version, test it with the plan's regression suites, gate its promotion
        by the policy, promote and verify.

        The test before the gate runs each promptfoo_regression action of the service's plan against the
        candidate (the provider endpoint is told its prompt, version and label, `candidate`), and the approval
        request carries the result: counts and failing cases. A candidate that fails its suite is only promoted
        by an explicit approval that saw the failure: even under an `auto` policy it waits for one, and an
        expired request does not promote it whatever approvals.on_expiry says. A regression action later in the
        plan still runs after the promotion as before (the run the resolution gate then reads); a patch sent
        mid-incident (`firebreak patch`) is tested once, before its gate, since the version it tests is the very
        version the promotion moves the label to, and that run is the one the resolution gate reads.
        """
        seq = text.seq if text else 0
        key = self._key(step.value, name) if seq == 0 else self._key(step.value, name, f"patch-{seq}")
        request = PatchRequest(key=key, incident_number=self._number(), name=name, action=action,
                               variables=self._variables(name), text=text.text if text else None)
        timeouts: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=action.timeout_seconds * 4 + 5),
                                    **LANGFUSE_CALLS}
        which = f" (text #{seq} from {text.by})" if text else ""
        try:
            candidate = await workflow.execute_activity("prepare_prompt_patch", request, result_type=PatchResult,
                                                        summary=f"{step.value.capitalize()}: candidate for {name}"
                                                                f"{which}", **timeouts)
        except ActivityError as err:
            await self._failed(step, name, _cause(err), seq)
            return
        candidate.seq = seq
        self.state.candidates.append(candidate)
        self._record(step, f"{name}: {candidate.detail}{which}", {"prompt": candidate.prompt_name,
                                                                  "version": candidate.version})
        tests = await self._test_candidate(step, candidate, action) if self._tests_candidates(text) else []
        failing = [r for r in tests if not r.passed]
        subject = (f"promote {name}: candidate version {candidate.version} of {candidate.prompt_name} to "
                   f"{action.label}")
        why = f"playbook policy for {self.state.severity.value}: {mode}"
        if tests:
            subject += " (regression suite FAILED)" if failing else " (regression suite passed)"
            why = "\n".join([why, *(r.summary() for r in tests)])
        if failing:
            why += ("\nThe candidate FAILS its regression suite: approving promotes it to "
                    f"{action.label} anyway (an expired request does not). Reject it and send a fixed text with "
                    f"`firebreak patch {self._number()} --file FILE`.")
        if mode.startswith("approve:") or failing:
            status = await self._gate(step, subject, why, role)
            proceed_anyway = (status == ApprovalStatus.EXPIRED and self._playbook().approvals.on_expiry == "proceed"
                              and not failing)
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
            await self._failed(step, name, _cause(err), seq)
            return
        self._mitigation(step, name, "done", promoted.detail)
        if mode == "auto_with_notice":
            await self._notify(f"notice-{step.value}-{name}" + (f"-{seq}" if seq else ""),
                               [self._primary(Role.INCIDENT_COMMANDER)],
                               f"{self._number()}: {name} ran automatically", promoted.detail)
        undo = None
        if promoted.moved and promoted.previous_version is not None:
            undo = UndoPlan(kind="langfuse_label", connection=connection_of(action), prompt_name=promoted.prompt_name,
                            label=action.label, restore_version=promoted.previous_version,
                            expect_version=promoted.version,
                            description=f"move {action.label} of {promoted.prompt_name} back to version "
                                        f"{promoted.previous_version}")
        self._register(step, name, promoted.detail, undo)

    def _plan(self) -> list[str]:
        """The service plan's actions, in order, each once."""
        pb = self._playbook()
        return list(dict.fromkeys(n for s in (Step.STABILISE, Step.CONTAIN, Step.REMEDIATE)
                                  for n in pb.actions_for(self.state.service, s)))

    def _suites(self) -> list[tuple[str, PromptfooRegressionAction]]:
        """The service plan's promptfoo regression actions, in plan order."""
        pb = self._playbook()
        return [(n, a) for n in self._plan() if isinstance(a := pb.actions.get(n), PromptfooRegressionAction)]

    def _tests_candidates(self, text: PatchText | None) -> bool:
        """Test the candidate before its gate? Only when the plan has a suite; patched for older histories (a
        mid-incident text always is: no history before it has one)."""
        return bool(self._suites()) and (text is not None or workflow.patched(CANDIDATE_TEST_PATCH))

    async def _test_candidate(self, step: Step, candidate: PatchResult,
                              action: LangfusePromptPatchAction) -> list[RegressionRun]:
        """Each of the plan's suites against the unpromoted candidate. Reading only (the suite calls the
        candidate's endpoint), so it runs without the suite's own approval policy."""
        target: dict[str, str | int] = {"prompt_name": candidate.prompt_name, "version": candidate.version,
                                        "label": action.candidate_label}
        return [await self._run_regression(step, suite, suite_action, candidate=target)
                for suite, suite_action in self._suites()]

    async def _failed(self, step: Step, name: str, cause: str, seq: int = 0) -> None:
        self._mitigation(step, name, "failed", cause)
        await self._notify(f"failed-{step.value}-{name}" + (f"-{seq}" if seq else ""),
                           [self._primary(Role.INCIDENT_COMMANDER)],
                           f"{self._number()}: {name} failed", cause)

    # ------------------------------------------------------------------ the regression gate

    async def _run_regression(self, step: Step, name: str, action: PromptfooRegressionAction,
                              candidate: dict[str, str | int] | None = None) -> RegressionRun:
        """One run of the suite. `candidate`: a test of an unpromoted candidate before its promotion gate (the
        gate shows the result, so nobody is paged about it); otherwise against the latest candidate, if any."""
        seq = len(self.state.regressions) + 1
        latest = self.state.candidates[-1] if self.state.candidates else None
        target = candidate or ({"prompt_name": latest.prompt_name, "version": latest.version} if latest else None)
        request = RegressionRequest(
            key=self._key("regression", str(seq)), incident_number=self._number(), seq=seq, name=name,
            kind=self.state.detection.kind.value, action=action, candidate=target,
            before_promotion=candidate is not None)
        against = (f"version {candidate['version']} of {candidate['prompt_name']} ({candidate['label']})"
                   if candidate else None)
        try:
            run = await workflow.execute_activity(
                "run_regression_suite", request, result_type=RegressionRun,
                summary=f"{step.value.capitalize()}: regression suite #{seq} ({name})"
                        + (f" on candidate version {candidate['version']}" if candidate else ""),
                start_to_close_timeout=timedelta(seconds=action.timeout_seconds + 60),
                heartbeat_timeout=timedelta(seconds=action.timeout_seconds + 30),
                retry_policy=RetryPolicy(maximum_attempts=3))
        except ActivityError as err:
            run = RegressionRun(seq=seq, action=name, at=workflow.now(), passed=False, error=_cause(err))
        run.candidate = against
        self.state.regressions.append(run)
        if candidate is not None:
            self._record(step, f"{name}: candidate test {'passed' if run.passed else 'failed'}",
                         {"detail": run.summary()})
            return run
        self._mitigation(step, name, "done" if run.passed else "failed", run.summary())
        if not run.passed:
            await self._notify(f"regression-{seq}", [self._primary(Role.INCIDENT_COMMANDER)],
                               f"{self._number()}: regression suite fails",
                               f"{run.summary()}\nResolution is held until it passes (firebreak retest "
                               f"{self._number()}) or you resolve with --override-regressions REASON.")
        return run

    async def _monitor(self) -> None:
        """Wait for resolution, turning patch texts sent meanwhile (`firebreak patch`) into tested, gated
        candidates, and running the regression suites again whenever someone asks (`firebreak retest`). Both
        requests wait in the state, so one accepted just before a continue-as-new runs in the next run."""
        s = self.state
        while True:
            await workflow.wait_condition(lambda: self._resolved() or self._may_continue_as_new()
                                          or s.pending_retests > 0 or bool(s.pending_patches))
            if self._resolved() or (s.pending_retests == 0 and not s.pending_patches):
                return
            while s.pending_patches and not self._resolved() and workflow.patched(PATCH_TEXT_PATCH):
                await self._run_patch_text(s.pending_patches.pop(0))
            if s.pending_retests > 0 and not self._resolved():
                s.pending_retests = 0
                if workflow.patched(REMEDY_PATCH):
                    await self._rerun_regressions()

    async def _run_patch_text(self, text: PatchText) -> None:
        pb = self._playbook()
        action = pb.actions[text.action]
        assert isinstance(action, LangfusePromptPatchAction)
        mode = pb.approvals.mode_for(text.action, self.state.severity)
        role = Role(mode.split(":", 1)[1]) if mode.startswith("approve:") else Role.AI_OPS
        await self._run_prompt_patch(Step.REMEDIATE, text.action, action, mode, role, text)
        self._publish()

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
        self.state.pending_retests += 1
        self._accept(action, self.state.step, "regression suite re-run requested")

    def _patch_actions(self) -> list[str]:
        pb = self._playbook()
        return [n for n in self._plan() if isinstance(pb.actions.get(n), LangfusePromptPatchAction)]

    async def _request_patch(self, text: PatchText) -> None:
        what = "send a new patch text"
        if not await self._admit(text, what, RETEST_ROLES):
            return
        if self._resolved():
            self._refuse(text, what, "the incident is already resolved")
            return
        if not text.text.strip():
            self._refuse(text, what, "the patch text is empty")
            return
        name = text.action
        if name:
            if not isinstance(self._playbook().actions.get(name), LangfusePromptPatchAction):
                self._refuse(text, what, f"'{name}' is not a langfuse_prompt_patch action in the playbook")
                return
        else:
            plan = self._patch_actions()
            if len(plan) != 1:
                self._refuse(text, what, f"the plan for {self.state.service} has "
                             + (f"{len(plan)} prompt patch actions ({', '.join(plan)}): name one with --action"
                                if plan else "no langfuse_prompt_patch action: name one with --action"))
                return
            name = plan[0]
        self.state.patches_received += 1
        seq = self.state.patches_received
        self.state.pending_patches.append(text.model_copy(update={"seq": seq, "action": name}))
        later = "" if self.state.status == IncidentStatus.MONITORING else " once the response steps are done"
        self._accept(text, self.state.step, f"patch text #{seq} for {name} accepted: a new candidate version, "
                     f"tested and gated for promotion{later}", {"characters": len(text.text)})

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

