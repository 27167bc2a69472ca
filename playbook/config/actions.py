"""[actions] and [services]: the runbook's actions by kind (HTTP call, manual step, Langfuse prompt rollback and
patch, promptfoo regression suite) and each service's plan of them per step."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from playbook.config.base import LangfuseConnection, _Strict, movable_label
from playbook.config.mitigations import (
    ALTERING_KINDS,
    Frozen,
    KeyRotationAction,
    LangfusePromptModelAction,
    LiteLLMRouteAction,
    RedisPurgeAction,
    UnleashFlagAction,
)


class HttpRequest(_Strict):
    """One templated HTTP call to your control plane."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expected_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0


class HttpAction(HttpRequest, Frozen):
    kind: Literal["http"] = "http"
    description: str = ""
    alters_system: bool = Field(default=False, description="this call changes the AI system (a model, prompt, "
                                "cache, flag or key): its state is frozen first and gates for such changes apply")
    undo: HttpRequest | None = Field(default=None, description="the call that reverses this action, offered to "
                                     "the incident commander at resolution ([actions.<name>.undo])")


class ManualAction(_Strict):
    """A runbook step a person performs; the workflow waits for them to confirm it is done."""

    kind: Literal["manual"] = "manual"
    description: str = ""
    instructions: str
    undo_instructions: str | None = Field(default=None, description="how a person reverses it, handed to them "
                                          "when the incident commander chooses undo at resolution")


class LangfusePromptRollbackAction(LangfuseConnection, Frozen):
    """Move a Langfuse prompt label (production) to a known-good version, then read it back to verify."""

    kind: Literal["langfuse_prompt_rollback"] = "langfuse_prompt_rollback"
    description: str = ""
    prompt_name: str = "${known_good_prompt_name}"
    prompt_version: str = "${known_good_prompt_version}"
    label: str = "production"

    @field_validator("label")
    @classmethod
    def _movable(cls, value: str) -> str:
        return movable_label(value)


class LangfusePromptPatchAction(LangfuseConnection, Frozen):
    """Create a patched prompt version labelled `candidate_label`, then, after the approval gate, move `label`
    (production) to it and read it back to verify."""

    kind: Literal["langfuse_prompt_patch"] = "langfuse_prompt_patch"
    description: str = ""
    prompt_name: str = "${known_good_prompt_name}"
    text_file: str = Field(description="the patched prompt text, read by the worker; template variables allowed, "
                           "e.g. patches/${incident_number}.txt")
    candidate_label: str = "candidate"
    label: str = "production"

    @field_validator("label", "candidate_label")
    @classmethod
    def _movable(cls, value: str) -> str:
        return movable_label(value)

    @model_validator(mode="after")
    def _distinct(self) -> LangfusePromptPatchAction:
        if self.label == self.candidate_label:
            raise ValueError("'candidate_label' and 'label' must differ")
        return self


class PromptfooRegressionAction(_Strict):
    """Generate a promptfoo suite from the incident's offending traces and run it against the candidate.

    While its latest run fails, the incident cannot be resolved without an override with a reason."""

    kind: Literal["promptfoo_regression"] = "promptfoo_regression"
    description: str = ""
    evidence: str = Field(description="the [evidence.<name>] langfuse source whose traces become test cases")
    provider_url: str | None = Field(default=None, description="the candidate's HTTP endpoint: POST "
                                     '{"prompt", "incident"}, answers JSON {"output": "..."}')
    provider: str | None = Field(default=None, description="any promptfoo provider id instead, e.g. exec:./run.sh")
    prompt: str = Field(default="{{input}}", description="promptfoo prompt; {{input}} is the trace's input")
    blocked_terms: list[str] = Field(
        default_factory=lambda: ["idiot", "stupid", "moron", "shut up", "hate you"],
        description="toxicity-family incidents: outputs must not contain these (case-insensitive)")
    score_threshold: float | None = Field(default=None, description="only traces with a score at or above this; "
                                          "default: every trace in the blast window")
    grader_url: str | None = Field(default=None, description="an llm-rubric grader endpoint: POST {\"prompt\": "
                                   "[grading chat messages]}, answers JSON {\"output\": {\"pass\", \"score\", "
                                   "\"reason\"}}")
    rubric: str | None = None
    max_cases: Annotated[int, Field(ge=1, le=1000)] = 50
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0

    @model_validator(mode="after")
    def _one_provider(self) -> PromptfooRegressionAction:
        if (self.provider_url is None) == (self.provider is None):
            raise ValueError("give exactly one of 'provider_url' (an HTTP endpoint) or 'provider' (a promptfoo id)")
        if (self.grader_url is None) != (self.rubric is None):
            raise ValueError("give both 'grader_url' and 'rubric', or neither")
        return self


Action = Annotated[HttpAction | ManualAction | LangfusePromptRollbackAction | LangfusePromptPatchAction
                   | PromptfooRegressionAction | RedisPurgeAction | LangfusePromptModelAction | UnleashFlagAction
                   | LiteLLMRouteAction | KeyRotationAction, Field(discriminator="kind")]


def alters_ai_system(action: object) -> bool:
    """The one predicate for "this action alters the AI system" (a prompt, model, cache, flag or key): such an
    action has its target frozen into the evidence pack first, and any gate on system changes applies to it."""
    if isinstance(action, HttpAction):
        return action.alters_system
    return getattr(action, "kind", None) in ALTERING_KINDS


class KnownGood(_Strict):
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None


class ServicePlan(_Strict):
    known_good: KnownGood = Field(default_factory=KnownGood)
    stabilise: list[str] = Field(default_factory=list)
    contain: list[str] = Field(default_factory=list)
    remediate: list[str] = Field(default_factory=list)
