"""Remediation bookkeeping: the undo registry of applied mitigations and the regression suite's runs.

Every mitigation the incident applies is registered with how to undo it; at resolution the incident commander
keeps or undoes each one (no choice means keep, recorded as such). While the latest regression run fails, the
incident is not resolved unless the incident commander overrides it with a reason. Pure functions and models
only: the workflow and the CLI both use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from playbook.config import (
    HttpRequest,
    LangfuseConnection,
    LangfusePromptPatchAction,
    MitigationAction,
    PromptfooRegressionAction,
)
from playbook.models import HumanAction, Step

Choice = Literal["keep", "undo"]
PATCH_TEXT_LIMIT = 20_000
UndoOutcome = Literal["in_place", "kept", "undone", "undo_failed", "handed_over"]


class UndoPlan(BaseModel):
    """How to reverse one mitigation."""

    kind: Literal["langfuse_label", "http", "manual", "mitigation"]
    description: str
    # kind langfuse_label: move `label` of `prompt_name` back to `restore_version`, if it is still on `expect_version`
    connection: LangfuseConnection | None = None
    prompt_name: str | None = None
    label: str | None = None
    restore_version: int | None = None
    expect_version: int | None = None
    # kind http: the configured undo request, rendered with the incident's variables by the activity
    request: HttpRequest | None = None
    variables: dict[str, str | int | None] = Field(default_factory=dict)
    # kind manual: what a person does, and who is asked to
    instructions: str | None = None
    # kind mitigation: the backend's action (integrations/mitigations) and what its apply found, to put back
    mitigation: MitigationAction | None = None
    restore: dict[str, Any] = Field(default_factory=dict)


class AppliedMitigation(BaseModel):
    """One mitigation in place, with its undo and what became of it at resolution."""

    name: str
    step: Step
    applied_at: datetime
    applied_by: str | None = Field(default=None, description="who confirmed a manual mitigation")
    detail: str = ""
    undo: UndoPlan | None = None
    choice: Choice | None = None
    chosen_by: str | None = None
    defaulted: bool = False
    outcome: UndoOutcome = "in_place"
    outcome_detail: str = ""
    outcome_at: datetime | None = None

    def summary(self) -> str:
        undo = self.undo.description if self.undo else "no undo configured"
        return f"{self.name} ({self.step.value}): {self.detail or 'applied'}; undo: {undo}"

    def resolution_text(self) -> str:
        if self.outcome == "in_place":
            return "in place"
        how = "by default (no choice given)" if self.defaulted else f"chosen by {self.chosen_by}"
        if self.outcome == "kept":
            return f"kept, {how}"
        return f"{self.outcome.replace('_', ' ')} ({how}): {self.outcome_detail}"


class RegressionCase(BaseModel):
    description: str
    passed: bool
    reason: str = ""


class RegressionRun(BaseModel):
    """One run of an incident's promptfoo regression suite."""

    seq: int
    action: str
    at: datetime
    passed: bool
    exit_code: int | None = None
    successes: int = 0
    failures: int = 0
    errors: int = Field(default=0, description="cases whose provider failed (promptfoo's errors): not a regression")
    unasserted: int = Field(default=0, description="cases that passed without checking anything")
    failed_cases: list[RegressionCase] = Field(default_factory=list, description="the first few that failed")
    error: str | None = Field(default=None, description="why the suite could not run or be read")
    config_path: str | None = None
    results_path: str | None = None
    candidate: str | None = Field(default=None, description="run against an unpromoted candidate before its "
                                  "promotion gate: which one, e.g. 'version 3 of support/answer (candidate)'")

    def summary(self) -> str:
        against = f" on {self.candidate}" if self.candidate else ""
        if self.error:
            return f"regression suite #{self.seq}{against} could not run: {self.error}"
        total = self.successes + self.failures + self.errors
        verdict = "passed" if self.passed else "FAILED"
        if total == 0:
            return (f"regression suite #{self.seq}{against} {verdict}: promptfoo ran no case (an empty suite "
                    f"never passes)")
        text = f"regression suite #{self.seq}{against} {verdict}: {self.successes} of {total} case(s) passed"
        if self.errors and not self.failures:
            text += (f"; a provider error, not a regression, failed the gate: {self.errors} case(s) errored (is the "
                     f"candidate endpoint up?)")
        elif self.errors:
            text += f"; {self.errors} of the failing case(s) are provider errors, not regressions"
        if self.unasserted:
            text += f"; {self.unasserted} case(s) asserted nothing"
        if self.failed_cases:
            text += "; failing: " + "; ".join(f"{c.description}: {c.reason}" for c in self.failed_cases[:3])
        return text


class RegressionRequest(BaseModel):
    """What the regression activity needs; `candidate` names the prompt version under test, when a patch made one
    (sent to the provider endpoint beside each prompt)."""

    key: str
    incident_number: str
    seq: int
    name: str
    kind: str
    action: PromptfooRegressionAction
    candidate: dict[str, str | int] | None = None
    before_promotion: bool = Field(default=False, description="the candidate is not promoted yet (the run is "
                                   "its test before the promotion gate)")


class PatchRequest(BaseModel):
    """Create (or find) the candidate version of a prompt patch, or promote it."""

    key: str
    incident_number: str
    name: str
    action: LangfusePromptPatchAction
    variables: dict[str, str | int | None]
    version: int | None = Field(default=None, description="promote: the candidate version")
    text: str | None = Field(default=None, max_length=PATCH_TEXT_LIMIT,
                             description="a patch text sent mid-incident (`firebreak patch`), instead of text_file")


class PatchResult(BaseModel):
    prompt_name: str
    version: int
    seq: int = Field(default=0, description="0: the playbook's text_file; n: the n-th text sent by `firebreak patch`")
    created: bool = False
    previous_version: int | None = None
    moved: bool = False
    detail: str


class PatchText(HumanAction):
    """A new patch text mid-incident (`firebreak patch`): a new candidate version, tested and gated like the
    first. `action` names the langfuse_prompt_patch action; empty means the plan's only one."""

    text: str = Field(max_length=PATCH_TEXT_LIMIT)
    action: str = ""
    seq: int = Field(default=0, description="set by the workflow when it accepts the text: 1, 2, ...")


class UndoRequest(BaseModel):
    key: str
    incident_number: str
    name: str
    plan: UndoPlan


def connection_of(conn: LangfuseConnection) -> LangfuseConnection:
    """Only the connection fields of an action (what an undo needs to reach Langfuse again)."""
    return LangfuseConnection(base_url=conn.base_url, public_key_env=conn.public_key_env,
                              secret_key_env=conn.secret_key_env, timeout_seconds=conn.timeout_seconds)


def choose(mitigations: list[AppliedMitigation], keep: list[str], undo: list[str]) -> str | None:
    """Why these keep/undo choices cannot be taken, or None when they can."""
    in_place = {m.name: m for m in mitigations if m.outcome == "in_place"}
    both = sorted(set(keep) & set(undo))
    if both:
        return f"choose keep or undo, not both, for {', '.join(both)}"
    unknown = [n for n in sorted(set(keep) | set(undo)) if n not in in_place]
    if unknown:
        known = ", ".join(in_place) or "none"
        return f"no mitigation in place named {', '.join(unknown)} (in place: {known})"
    no_undo = [n for n in undo if in_place[n].undo is None]
    if no_undo:
        return (f"{', '.join(no_undo)} has no undo configured; keep it, or undo it by hand and say so in a note "
                "(configure [actions.<name>.undo] or undo_instructions for next time)")
    return None


def apply_choices(mitigations: list[AppliedMitigation], keep: list[str], undo: list[str], by: str) -> None:
    for m in mitigations:
        if m.outcome != "in_place":
            continue
        if m.name in undo:
            m.choice, m.chosen_by = "undo", by
        else:
            m.choice, m.chosen_by, m.defaulted = "keep", by, m.name not in keep


def regression_blocker(runs: list[RegressionRun]) -> str | None:
    """Why the incident may not be resolved yet (the latest suite run failed), or None."""
    if not runs or runs[-1].passed:
        return None
    return runs[-1].summary()


def mitigations_text(mitigations: list[AppliedMitigation]) -> list[str]:
    """Lines for `firebreak show`: what is in place and what became of each at resolution."""
    return [f"  {m.summary()} -> {m.resolution_text()}" for m in mitigations]
