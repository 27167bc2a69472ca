"""Steps 2, 3 and 5 (stabilise, contain, remediate): run one playbook action through its adapter."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations.http_actions import (
    HttpActionResponse,
    PermanentActionError,
    TransientActionError,
    run_http_action,
)
from integrations.langfuse.client import LangfuseError, LangfuseUnavailable, client_for
from integrations.langfuse.prompts import resolve_rollback, rollback_prompt
from integrations.mitigations import MitigationError, backend_for
from playbook.config import (
    HttpAction,
    KeyRotationAction,
    LangfusePromptModelAction,
    LangfusePromptRollbackAction,
    LiteLLMRouteAction,
    MitigationAction,
    RedisPurgeAction,
    UnleashFlagAction,
    render_template,
)
from playbook.messages import ActionResult, ActionRun
from playbook.remedy import UndoPlan, connection_of


def call_http(action: HttpAction, variables: dict[str, object], key: str) -> HttpActionResponse:
    """Run an http action; a refusal is a non-retryable ApplicationError, anything transient a retryable one."""
    try:
        return run_http_action(action, variables, key)
    except PermanentActionError as err:
        raise ApplicationError(str(err), type="PermanentActionError", non_retryable=True) from err
    except TransientActionError as err:
        raise ApplicationError(str(err), type="TransientActionError") from err


def langfuse_errors(err: LangfuseError) -> ApplicationError:
    """Langfuse down or erroring is retried; a refusal or a label that did not move is not."""
    return ApplicationError(str(err), type=type(err).__name__, non_retryable=not isinstance(err, LangfuseUnavailable))


def mitigation_errors(err: MitigationError) -> ApplicationError:
    """A backend that did not answer is retried; a refusal or a read-back that disagrees is not."""
    return ApplicationError(str(err), type=type(err).__name__, non_retryable=not err.retryable)


class ActionActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="run_action")
    def run_action(self, request: ActionRun) -> ActionResult:
        action = request.action
        if isinstance(action, LangfusePromptRollbackAction):
            return self._langfuse_prompt_rollback(request, action)
        if isinstance(action, RedisPurgeAction | LangfusePromptModelAction | UnleashFlagAction | LiteLLMRouteAction
                      | KeyRotationAction):
            return self._mitigation(request, action)
        if not isinstance(action, HttpAction):
            raise ApplicationError(f"action '{request.name}' is {action.kind}; only http actions run here",
                                   non_retryable=True)
        response = call_http(action, dict(request.variables), request.key)
        self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
            "step": request.step.value, "action": request.name, "status_code": response.status_code,
            "response": response.body_excerpt, "snapshot": request.snapshot})
        undo = None if action.undo is None else UndoPlan(
            kind="http", request=action.undo, variables=dict(request.variables),
            description=f"{action.undo.method} {render_template(action.undo.url, dict(request.variables))}")
        return ActionResult(ok=True, detail=f"{action.method} answered {response.status_code}",
                            status_code=response.status_code, undo=undo)

    def _langfuse_prompt_rollback(self, request: ActionRun, action: LangfusePromptRollbackAction) -> ActionResult:
        """Move the label, then read it back; idempotent, so a retried attempt finds the label in place."""
        try:
            name, version = resolve_rollback(action, dict(request.variables))
            result = rollback_prompt(client_for(action), name, version, action.label)
        except LangfuseError as err:
            raise langfuse_errors(err) from err
        self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
            "step": request.step.value, "action": request.name, "kind": action.kind, "prompt": name,
            "label": action.label, "version": version, "previous_version": result.previous_version,
            "moved": result.moved, "snapshot": request.snapshot})
        undo = None
        if result.moved and result.previous_version is not None:
            undo = UndoPlan(kind="langfuse_label", connection=connection_of(action), prompt_name=name,
                            label=action.label, restore_version=result.previous_version, expect_version=version,
                            description=f"move {action.label} of {name} back to version {result.previous_version}")
        return ActionResult(ok=True, detail=result.detail, undo=undo)

    def _mitigation(self, request: ActionRun, action: MitigationAction) -> ActionResult:
        """Through its backend (integrations/mitigations): changed idempotently, read back, its undo registered."""
        variables = dict(request.variables)
        try:
            applied = backend_for(action.kind).apply(action, variables, request.key)
        except MitigationError as err:
            raise mitigation_errors(err) from err
        self.ctx.store.append_once(f"{request.incident_number}/actions.jsonl", request.key, {
            "step": request.step.value, "action": request.name, "kind": action.kind, "changed": applied.changed,
            "detail": applied.detail, **applied.record, "snapshot": request.snapshot})
        undo = None
        if applied.restore is not None:
            undo = UndoPlan(kind="mitigation", mitigation=action, restore=applied.restore, variables=request.variables,
                            description=f"put back what {request.name} changed ({action.kind})")
        return ActionResult(ok=True, detail=applied.detail, undo=undo)
