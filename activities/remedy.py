"""Step 5, remediate, and resolution: prompt patches as Langfuse candidates, the promptfoo regression suite,
and undoing mitigations the incident commander chose to reverse. Each activity is idempotent by its key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.actions import call_http, langfuse_errors, mitigation_errors
from activities.context import ActivityContext
from integrations.langfuse.client import LangfuseError, client_for
from integrations.langfuse.prompts import rollback_prompt
from integrations.mitigations import MitigationError, backend_for
from integrations.prompt_patch import create_candidate, undo_label_move
from integrations.promptfoo import PromptfooError, build_suite, offending_inputs, run_suite
from playbook.config import HttpAction, render_template
from playbook.remedy import (
    PatchRequest,
    PatchResult,
    RegressionCase,
    RegressionRequest,
    RegressionRun,
    UndoPlan,
    UndoRequest,
    connection_of,
)

FAILED_CASES_KEPT = 5


class RemedyActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="prepare_prompt_patch")
    def prepare_prompt_patch(self, request: PatchRequest) -> PatchResult:
        """The candidate version (created once per incident, action and patch text, labelled candidate, verified):
        the text is the playbook's text_file, or the one sent with `firebreak patch`."""
        action = request.action
        name = render_template(action.prompt_name, request.variables).strip()
        if not name:
            raise ApplicationError("no prompt to patch: set known_good.prompt_name for the service (or prompt_name "
                                   "on the action)", type="LangfuseRejected", non_retryable=True)
        if request.text is not None:  # sent mid-incident with `firebreak patch`
            text = request.text
        else:
            path = self.ctx.playbook_path.parent / render_template(action.text_file, request.variables)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as err:
                raise ApplicationError(f"cannot read the patched prompt from {path} ({err.strerror}); write it "
                                       "there on the worker's machine", type="PatchTextMissing",
                                       non_retryable=True) from err
        try:
            found = create_candidate(client_for(action), name, text, request.key, request.incident_number,
                                     action.candidate_label)
        except LangfuseError as err:
            raise langfuse_errors(err) from err
        how = "created" if found.created else "found (made earlier for this incident)"
        return PatchResult(prompt_name=name, version=found.version, created=found.created,
                           detail=f"candidate version {found.version} of {name} {how}, labelled "
                                  f"{action.candidate_label} (verified)")

    @activity.defn(name="promote_prompt_patch")
    def promote_prompt_patch(self, request: PatchRequest) -> PatchResult:
        """Move production to the approved candidate and read it back; a retry finds the label in place."""
        action = request.action
        name = render_template(action.prompt_name, request.variables).strip()
        assert request.version is not None, "promote needs the candidate version"
        try:
            result = rollback_prompt(client_for(action), name, request.version, action.label)
        except LangfuseError as err:
            raise langfuse_errors(err) from err
        self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
            "step": "remediate", "action": request.name, "kind": action.kind, "prompt": name, "label": action.label,
            "version": request.version, "previous_version": result.previous_version, "moved": result.moved})
        detail = result.detail.replace("moved the", "promoted: moved the", 1)
        return PatchResult(prompt_name=name, version=request.version, previous_version=result.previous_version,
                           moved=result.moved, detail=detail)

    @activity.defn(name="undo_mitigation")
    def undo_mitigation(self, request: UndoRequest) -> str:
        """Reverse one mitigation; idempotent (a label already back is verified and left, an HTTP undo carries the
        same Idempotency-Key on every attempt)."""
        plan = request.plan
        if plan.kind == "langfuse_label":
            return self._undo_label(plan)
        if plan.kind == "http" and plan.request is not None:
            call = HttpAction(**plan.request.model_dump())
            response = call_http(call, dict(plan.variables), request.key)
            self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
                "step": "review", "action": request.name, "undo": True, "status_code": response.status_code})
            return f"{call.method} answered {response.status_code}"
        if plan.kind == "mitigation" and plan.mitigation is not None:
            try:
                detail = backend_for(plan.mitigation.kind).undo(plan.mitigation, dict(plan.variables), plan.restore,
                                                                request.key)
            except MitigationError as err:
                raise mitigation_errors(err) from err
            self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
                "step": "review", "action": request.name, "undo": True, "kind": plan.mitigation.kind,
                "detail": detail})
            return detail
        raise ApplicationError(f"{request.name}: a {plan.kind} undo is not run by the worker", non_retryable=True)

    def _undo_label(self, plan: UndoPlan) -> str:
        assert plan.connection and plan.prompt_name and plan.label and plan.restore_version is not None
        try:
            result = undo_label_move(client_for(connection_of(plan.connection)), plan.prompt_name, plan.label,
                                     plan.restore_version, plan.expect_version)
        except LangfuseError as err:
            raise langfuse_errors(err) from err
        return result.detail

    @activity.defn(name="run_regression_suite")
    def run_regression_suite(self, request: RegressionRequest) -> RegressionRun:
        """Generate the suite into <incident>/regression/run-<seq>/, run promptfoo, keep its results. A suite
        that cannot be built or run comes back as a failed run saying why (so it also holds resolution)."""
        number, action, store = request.incident_number, request.action, self.ctx.store
        run_dir = f"{number}/regression/run-{request.seq}"
        run = RegressionRun(seq=request.seq, action=request.name, at=datetime.now(UTC), passed=False,
                            config_path=store.location(f"{run_dir}/promptfooconfig.json"))
        # promptfoo works on files: a local copy of the evidence and of the run's folder (the folder itself in the
        # directory store), whose results are kept in the store when it closes.
        with store.local_folder(f"{number}/evidence") as evidence, store.local_folder(run_dir) as folder:
            config_path, results_path = folder / "promptfooconfig.json", folder / "results.json"
            try:
                cases = offending_inputs(evidence, action.evidence, action.score_threshold, action.max_cases)
                suite = build_suite(number, request.kind, action, cases, request.candidate)
                config_path.write_text(json.dumps(suite, indent=2), encoding="utf-8")
                activity.heartbeat("running promptfoo")
                result = run_suite(config_path, results_path, action.timeout_seconds)
            except PromptfooError as err:
                run.error = str(err)
            else:
                run.passed, run.exit_code = result.passed, result.exit_code
                run.successes, run.failures, run.errors = result.successes, result.failures, result.errors
                run.unasserted = result.unasserted
                run.failed_cases = [RegressionCase(description=d, passed=False, reason=r[:300])
                                    for d, r in result.failed[:FAILED_CASES_KEPT]]
                run.results_path = store.location(f"{run_dir}/results.json")
        self.ctx.store.write(f"{number}/regression/run-{request.seq}/summary.json", run.model_dump_json(indent=2))
        return run
