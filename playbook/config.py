"""playbook.toml: its schema, its cross-checks, and loading it with errors a person can act on.

A bad playbook is refused when a process starts, never discovered mid-incident: every reference (backups,
actions, channels, template variables, roles) is checked here.
"""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from playbook.models import Role, Severity, SignalKind, Step
from playbook.templates import missing_known_good, template_variables

TEMPLATE_VARIABLES = frozenset({
    "incident_id", "incident_number", "severity", "service", "kind", "summary", "model", "prompt_name",
    "prompt_version", "deploy_id", "known_good_model", "known_good_prompt_name", "known_good_prompt_version",
    "action",
})

POLICY_PATTERN = re.compile(r"^(auto|auto_with_notice|approve:(incident_commander|ai_ops|domain_sme|communications))$")


class PlaybookError(Exception):
    """A playbook that cannot be used; says which file, which key and why."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = path, key, reason
        super().__init__(f"{path}: {key}: {reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class SeverityLevel(_Strict):
    cadence_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = Field(
        description="minutes between stakeholder briefs; 0 sends none")
    ack_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)]


class SeverityRule(_Strict):
    severity: Severity
    kinds: list[SignalKind] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    metric: str | None = None
    above: float | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _metric_pair(self) -> SeverityRule:
        if (self.metric is None) != (self.above is None):
            raise ValueError("give both 'metric' and 'above', or neither")
        return self


def _default_levels() -> dict[Severity, SeverityLevel]:
    return {
        Severity.SEV1: SeverityLevel(cadence_minutes=30, ack_timeout_minutes=5),
        Severity.SEV2: SeverityLevel(cadence_minutes=60, ack_timeout_minutes=15),
        Severity.SEV3: SeverityLevel(cadence_minutes=240, ack_timeout_minutes=60),
        Severity.SEV4: SeverityLevel(cadence_minutes=0, ack_timeout_minutes=240),
    }


class SeverityConfig(_Strict):
    default: Severity = Severity.SEV3
    trust_source_hint: bool = Field(default=True, description="a sender's severity may raise, never lower")
    levels: dict[Severity, SeverityLevel] = Field(default_factory=_default_levels)
    rules: list[SeverityRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _all_levels(self) -> SeverityConfig:
        merged = _default_levels()
        merged.update(self.levels)
        self.levels = merged
        return self


class Person(_Strict):
    name: str
    roles: list[Role] = Field(min_length=1)
    contact: str = ""
    backup: str | None = None
    slack_id: str | None = Field(default=None, description="Slack user id (U...) whose buttons act as this person; "
                                                           "a contact of 'slack:U...' works too")

    @property
    def slack_user(self) -> str | None:
        if self.slack_id:
            return self.slack_id
        return self.contact.removeprefix("slack:") if self.contact.startswith("slack:") else None


class Roster(_Strict):
    people: dict[str, Person] = Field(min_length=1)

    def holders(self, role: Role) -> list[str]:
        return [pid for pid, p in self.people.items() if role in p.roles]

    def primary(self, role: Role) -> str:
        return self.holders(role)[0]


class ApprovalPolicy(_Strict):
    timeout_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 15
    on_expiry: Literal["skip", "proceed"] = Field(
        default="skip", description="what a gated action does when nobody decides, even after escalation")
    default: str = "approve:incident_commander"
    actions: dict[str, dict[Severity, str]] = Field(default_factory=dict)

    def mode_for(self, action: str, severity: Severity) -> str:
        return self.actions.get(action, {}).get(severity, self.default)


class HttpRequest(_Strict):
    """One templated HTTP call to your control plane."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expected_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0


class HttpAction(HttpRequest):
    kind: Literal["http"] = "http"
    description: str = ""
    undo: HttpRequest | None = Field(default=None, description="the call that reverses this action, offered to "
                                     "the incident commander at resolution ([actions.<name>.undo])")


class ManualAction(_Strict):
    """A runbook step a person performs; the workflow waits for them to confirm it is done."""

    kind: Literal["manual"] = "manual"
    description: str = ""
    instructions: str
    undo_instructions: str | None = Field(default=None, description="how a person reverses it, handed to them "
                                          "when the incident commander chooses undo at resolution")


class LangfuseConnection(_Strict):
    """Where Langfuse is and which environment variables hold its keys (the keys never go in the playbook)."""

    base_url: str | None = Field(default=None, description="default: $LANGFUSE_BASE_URL, else Langfuse Cloud")
    public_key_env: str = "LANGFUSE_PUBLIC_KEY"
    secret_key_env: str = "LANGFUSE_SECRET_KEY"
    timeout_seconds: Annotated[int, Field(ge=1, le=120)] = 10


def _movable_label(value: str) -> str:
    if not value.strip() or value == "latest":
        raise ValueError("give a label to move, e.g. production ('latest' is managed by Langfuse)")
    return value


class LangfusePromptRollbackAction(LangfuseConnection):
    """Move a Langfuse prompt label (production) to a known-good version, then read it back to verify."""

    kind: Literal["langfuse_prompt_rollback"] = "langfuse_prompt_rollback"
    description: str = ""
    prompt_name: str = "${known_good_prompt_name}"
    prompt_version: str = "${known_good_prompt_version}"
    label: str = "production"

    @field_validator("label")
    @classmethod
    def _movable(cls, value: str) -> str:
        return _movable_label(value)


class LangfusePromptPatchAction(LangfuseConnection):
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
        return _movable_label(value)

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
                   | PromptfooRegressionAction, Field(discriminator="kind")]


class KnownGood(_Strict):
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None


class ServicePlan(_Strict):
    known_good: KnownGood = Field(default_factory=KnownGood)
    stabilise: list[str] = Field(default_factory=list)
    contain: list[str] = Field(default_factory=list)
    remediate: list[str] = Field(default_factory=list)


LANGFUSE_EVIDENCE_FIELDS = frozenset({
    "base_url", "public_key_env", "secret_key_env", "timeout_seconds", "lookback_minutes", "trace_name", "tags",
    "environment", "score_names", "max_observations", "max_scores", "series", "series_granularity",
    "prompt_versions", "datasets", "max_dataset_items"})
DEPLOY_EVIDENCE_FIELDS = frozenset({"lookback_minutes", "prompt_names", "max_deploys"})


class EvidenceSource(LangfuseConnection):
    kind: Literal["http", "file", "langfuse", "deploys"]
    description: str = ""
    url: str | None = None
    path: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # kind = "langfuse": the blast window is detected_at - lookback_minutes .. now.
    lookback_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60
    trace_name: str | None = Field(default=None, description="only traces of this name; template variables allowed")
    tags: list[str] = Field(default_factory=list, description="only traces with any of these tags")
    environment: str | None = None
    score_names: list[str] = Field(default_factory=list, description="scores to pull; empty pulls none")
    max_observations: Annotated[int, Field(ge=1, le=10_000)] = 1000
    max_scores: Annotated[int, Field(ge=1, le=10_000)] = 1000
    series: bool = Field(default=True, description="a Metrics v2 cost/latency series over the blast window")
    series_granularity: Literal["minute", "hour", "day"] = Field(
        default="minute", description="the series' bucket (Metrics v2 offers no 5-minute buckets, and p95s of "
                                      "finer buckets cannot be merged, so only its own granularities)")
    prompt_versions: bool = Field(default=True, description="the detection's prompt version, the one labelled "
                                                            "production now and the service's known-good one")
    datasets: list[str] = Field(default_factory=list, description="datasets stored as they were at detected_at "
                                                                  "(template variables allowed)")
    max_dataset_items: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # kind = "deploys": the deploy log (Langfuse prompt-version webhooks received by the intake) in the blast window.
    prompt_names: list[str] = Field(default_factory=list, description="only these prompts (template variables "
                                                                      "allowed); empty: every prompt")
    max_deploys: Annotated[int, Field(ge=1, le=1000)] = 20

    @model_validator(mode="after")
    def _location(self) -> EvidenceSource:
        if self.kind == "http" and not self.url:
            raise ValueError("an http evidence source needs 'url'")
        if self.kind == "file" and not self.path:
            raise ValueError("a file evidence source needs 'path'")
        allowed = {"langfuse": LANGFUSE_EVIDENCE_FIELDS, "deploys": DEPLOY_EVIDENCE_FIELDS}.get(self.kind, frozenset())
        # Values equal to the default do not count: a source round-tripped through JSON (a workflow's input) has
        # every field set.
        stray = sorted(f for f in (LANGFUSE_EVIDENCE_FIELDS | DEPLOY_EVIDENCE_FIELDS) & self.model_fields_set - allowed
                       if getattr(self, f) != type(self).model_fields[f].get_default(call_default_factory=True))
        if stray:
            owners = sorted({k for k, fields in (("langfuse", LANGFUSE_EVIDENCE_FIELDS),
                                                 ("deploys", DEPLOY_EVIDENCE_FIELDS)) if set(stray) & fields})
            raise ValueError(f"{stray} only apply to kind = {' or '.join(repr(o) for o in owners)}")
        return self


class _Watcher(LangfuseConnection):
    """What every watcher has: the service it speaks for, its window and schedule, and its severity hint."""

    service: str
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    every_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 5
    environment: str | None = None
    severity_hint: Severity | None = None


class GuardrailWatcher(_Watcher):
    """Counts guardrail scores at or over `threshold` in the last `window_minutes`, every `every_minutes` (a
    Temporal Schedule made by `firebreak watchers sync`); `min_count` or more raise a Detection."""

    kind: Literal["guardrail_scores"] = "guardrail_scores"
    signal: SignalKind = SignalKind.TOXICITY
    score_names: list[str] = Field(min_length=1)
    threshold: float
    min_count: Annotated[int, Field(ge=1)] = 1


LATENCY_MEASURES = ("latency", "timeToFirstToken", "streamingLatency")
COST_MEASURES = ("totalCost", "inputCost", "outputCost", "totalTokens", "inputTokens", "outputTokens")
MetricAggregation = Literal["sum", "avg", "max", "min", "p50", "p75", "p90", "p95", "p99"]
OBSERVATION_TYPES = ("GENERATION", "SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING",
                     "GUARDRAIL")
PII_KINDS = ("EMAIL", "PHONE", "CARD", "SECRET", "TOKEN")


def _known(values: list[str], vocabulary: tuple[str, ...], what: str, offer: str) -> list[str]:
    """The values upper-cased, or a ValueError naming those outside the vocabulary and the vocabulary itself."""
    upper = [v.upper() for v in values]
    unknown = [v for v in upper if v not in vocabulary]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; {offer} {', '.join(vocabulary)}")
    return upper


class _TraceScope(_Strict):
    """Which traces a watcher looks at (all of the project's, by default)."""

    trace_name: str | None = Field(default=None, description="only traces of this name")
    tags: list[str] = Field(default_factory=list, description="only traces with any of these tags")


class MetricWatcher(_Watcher, _TraceScope):
    """Latency or cost over the last `window_minutes` from the Metrics API v2, against an absolute `above` and/or
    `ratio` times the baseline (the median of the hourly values of the `baseline_minutes` before the window).

    latency_spike: `measure` latency (ms; or timeToFirstToken, streamingLatency) at `aggregation` p95.
    cost_spike: `measure` totalCost (USD; or input/outputCost, total/input/outputTokens), summed and taken per
    minute, so `above = 5` means $5 a minute. With both `above` and `ratio`, both must hold."""

    kind: Literal["latency_spike", "cost_spike"]
    measure: str | None = Field(default=None, description="default: latency for latency_spike, totalCost for "
                                                          "cost_spike")
    aggregation: MetricAggregation | None = Field(default=None, description="default: p95 for latency, sum for cost")
    above: Annotated[float, Field(ge=0)] | None = None
    ratio: Annotated[float, Field(gt=1)] | None = None
    baseline_minutes: Annotated[int, Field(ge=60, le=30 * 24 * 60)] = 24 * 60
    min_observations: Annotated[int, Field(ge=1)] = Field(
        default=20, description="fewer observations in the window than this never breach (noise)")
    model: str | None = Field(default=None, description="only observations of this model (providedModelName)")
    observation_type: str | None = Field(default=None, description="only observations of this type (e.g. "
                                         "GENERATION); default: root observations (whole traces) for latency, "
                                         "every observation for cost")

    @model_validator(mode="after")
    def _measured(self) -> MetricWatcher:
        allowed = LATENCY_MEASURES if self.kind == "latency_spike" else COST_MEASURES
        if self.measure is None:
            self.measure = allowed[0]
        elif self.measure not in allowed:
            raise ValueError(f"measure '{self.measure}' does not fit kind = \"{self.kind}\"; use one of "
                             f"{', '.join(allowed)}")
        if self.aggregation is None:
            self.aggregation = "p95" if self.kind == "latency_spike" else "sum"
        if self.kind == "cost_spike" and self.aggregation != "sum":
            raise ValueError("a cost_spike watcher sums its measure (per minute); leave 'aggregation' out")
        if self.above is None and self.ratio is None:
            raise ValueError("give 'above' (an absolute threshold), 'ratio' (times the baseline), or both")
        if self.observation_type is not None:
            self.observation_type = self.observation_type.upper()
            if self.observation_type not in OBSERVATION_TYPES:
                raise ValueError(f"unknown observation_type '{self.observation_type}'; Langfuse has "
                                 f"{', '.join(OBSERVATION_TYPES)}")
        return self

    @property
    def signal(self) -> SignalKind:
        return SignalKind.LATENCY_SPIKE if self.kind == "latency_spike" else SignalKind.COST_SPIKE


class AgentLoopWatcher(_Watcher, _TraceScope):
    """Traces in which one tool or agent (observation type + name) runs more than `max_repeats` times within the
    window (Observations API v2); `min_traces` such traces or more raise a Detection. Each trace is reported once."""

    kind: Literal["agent_loop"]
    observation_types: list[str] = Field(default_factory=lambda: ["TOOL", "AGENT"], min_length=1)
    names: list[str] = Field(default_factory=list, description="only observations of these names (empty: any)")
    max_repeats: Annotated[int, Field(ge=2, le=100_000)] = 20
    min_traces: Annotated[int, Field(ge=1)] = 1
    max_observations: Annotated[int, Field(ge=100, le=100_000)] = Field(
        default=10_000, description="read at most this many observations a run")

    @field_validator("observation_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _known(value, OBSERVATION_TYPES, "observation type(s)", "Langfuse has")

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AGENT_LOOP


class DataExposureWatcher(_Watcher, _TraceScope):
    """Personal data or secrets (integrations/redact.py's detectors) in the input/output of up to `sample` traces
    of the window; a trace with any of `pii_kinds` is a finding, `min_traces` or more raise a Detection that
    carries counts, kinds and trace ids, never the data. Each trace is reported once."""

    kind: Literal["data_exposure"]
    pii_kinds: list[str] = Field(default_factory=lambda: list(PII_KINDS), min_length=1)
    sample: Annotated[int, Field(ge=1, le=10_000)] = Field(default=500, description="traces read a run")
    min_traces: Annotated[int, Field(ge=1)] = 1

    @field_validator("pii_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return _known(value, PII_KINDS, "PII kind(s)", "use")

    @property
    def signal(self) -> SignalKind:
        return SignalKind.PII_IN_LOGS


Watcher = Annotated[GuardrailWatcher | MetricWatcher | AgentLoopWatcher | DataExposureWatcher,
                    Field(discriminator="kind")]


class WebhookChannel(_Strict):
    """JSON POST with an Idempotency-Key header (per incident, brief and channel)."""

    kind: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class _SecretUrl(_Strict):
    url: str | None = Field(default=None, description="the URL itself; prefer url_env, the URL is a secret")
    url_env: str | None = Field(default=None, description="the environment variable holding the URL")

    @model_validator(mode="after")
    def _one_url(self) -> _SecretUrl:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give 'url' or 'url_env' (the environment variable holding the URL), not both")
        return self


class SlackWebhookChannel(_SecretUrl):
    """A Slack incoming webhook (one Slack channel fixed by the URL). Slack has no idempotency key for it, so the
    comms archive is checked before each send."""

    kind: Literal["slack_webhook"] = "slack_webhook"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class SlackChannel(_Strict):
    """Slack Web API chat.postMessage with Block Kit, through slack_sdk; brief approval requests posted here carry
    Approve / Reject buttons for POST /v1/slack/actions."""

    kind: Literal["slack"] = "slack"
    channel: str = Field(description="channel id (C...) or name the bot is in")
    token_env: str = Field(default="SLACK_BOT_TOKEN", description="the environment variable holding the bot token")
    base_url: str | None = Field(default=None, description="default: slack_sdk's (https://slack.com/api/)")
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class EmailChannel(_Strict):
    """E-mail over SMTP (smtplib); each message's Message-ID comes from the incident, brief and channel."""

    kind: Literal["email"] = "email"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    sender: str = Field(description="the From address")
    to: list[str] = Field(min_length=1)
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0


ComponentStatus = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage",
                          "major_outage"]


class StatuspageChannel(_Strict):
    """Atlassian Statuspage: the first brief creates one Statuspage incident per Firebreak incident, later briefs
    update it. Public, so only audiences with `external = true` may use it."""

    kind: Literal["statuspage"] = "statuspage"
    page_id: str
    api_key_env: str = Field(default="STATUSPAGE_API_KEY", description="sent as 'Authorization: OAuth <key>'")
    base_url: str = "https://api.statuspage.io/v1"
    component_ids: list[str] = Field(default_factory=list)
    component_status: ComponentStatus | None = Field(default=None, description="set on the components while open")
    impact_override: Literal["none", "minor", "major", "critical"] | None = None
    deliver_notifications: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


def _channel_kind(value: Any) -> str:
    """A channel's kind; "webhook" when not given, as before other kinds existed."""
    return str(value.get("kind", "webhook") if isinstance(value, dict) else getattr(value, "kind", "webhook"))


Channel = Annotated[Annotated[WebhookChannel, Tag("webhook")] | Annotated[SlackWebhookChannel, Tag("slack_webhook")]
                    | Annotated[SlackChannel, Tag("slack")] | Annotated[EmailChannel, Tag("email")]
                    | Annotated[StatuspageChannel, Tag("statuspage")], Discriminator(_channel_kind)]
CHANNEL_KINDS_FOR_PAGES = ("webhook", "slack_webhook")


class Audience(_Strict):
    """Who a brief is for: its shape, how often, where it goes and who approves it."""

    shape: Literal["tactical", "executive"] = Field(
        description="tactical: the responders' detail (metrics, actions, owners); executive: impact, risk, "
                    "decisions, next update")
    channels: list[str] = Field(default_factory=list, description="besides the comms archive, which always gets it")
    every: Annotated[int, Field(ge=1, le=48)] = Field(
        default=1, description="a brief on every Nth cadence tick (1: every tick; the first tick always)")
    severities: list[Severity] = Field(default_factory=lambda: list(Severity),
                                       description="the severities this audience is briefed at")
    kinds: list[SignalKind] = Field(default_factory=list, description="only incidents of these kinds (empty: all)")
    external: bool = Field(default=False, description="leaves the company: the communications role must approve "
                                                      "it too, after the domain SME")
    final: bool | None = Field(
        default=None, description="the closing 'resolved' brief at resolution: unset, when this audience received a "
                                  "brief during the incident; true, also when it did not (at its severities and "
                                  "kinds); false, never")


class CommunicateConfig(_Strict):
    channels: list[str] = Field(default_factory=list,
                                description="the responders' channels when [communicate.audiences] is not given")
    notify_channels: list[str] = Field(default_factory=list, description="where pages to responders go")
    approval_channels: list[str] = Field(
        default_factory=list, description="Slack (kind = \"slack\") channels where each brief's approval request is "
                                          "posted with the draft and Approve / Reject buttons")
    approval_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 10
    release_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=15, description="the communications role's window to release an external brief, then their backup's")
    audiences: dict[str, Audience] | None = Field(
        default=None, description="who gets briefs; default: the responders, tactical, on communicate.channels")

    def audience_map(self) -> dict[str, Audience]:
        """The audiences briefed, in the playbook's order; without [communicate.audiences], the responders."""
        if self.audiences is not None:
            return self.audiences
        return {"responders": Audience(shape="tactical", channels=list(self.channels))}


class ReviewConfig(_Strict):
    deadline_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 48
    reminder_hours: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [24.0, 44.0])
    give_up_after_hours: Annotated[int, Field(ge=1)] = 7 * 24
    action_item_reminder_hours: Annotated[float, Field(gt=0, le=24 * 30)] = Field(
        default=24.0, description="how often an open action item's owner is reminded once it is due")
    action_item_undated_days: Annotated[float, Field(gt=0, le=365)] = Field(
        default=7.0, description="when an action item without a due date is first chased")
    action_item_escalate_after: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, description="overdue reminders before the incident commander is told")

    @model_validator(mode="after")
    def _ordered(self) -> ReviewConfig:
        self.reminder_hours = sorted(self.reminder_hours)
        if any(h >= self.deadline_hours for h in self.reminder_hours):
            raise ValueError("reminders must come before the deadline ('reminder_hours' < 'deadline_hours')")
        if self.give_up_after_hours <= self.deadline_hours:
            raise ValueError("'give_up_after_hours' must be later than 'deadline_hours'")
        return self


class TicketConfig(_Strict):
    backend: Literal["local"] = "local"
    number_prefix: str = "INC"

    @field_validator("number_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
            raise ValueError("use 1-10 capital letters or digits, starting with a letter, e.g. INC")
        return value


class Playbook(_Strict):
    severity: SeverityConfig = Field(default_factory=SeverityConfig)
    roster: Roster
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    actions: dict[str, Action] = Field(default_factory=dict)
    services: dict[str, ServicePlan] = Field(default_factory=dict)
    evidence: dict[str, EvidenceSource] = Field(default_factory=dict)
    watchers: dict[str, Watcher] = Field(default_factory=dict)
    channels: dict[str, Channel] = Field(default_factory=dict)
    communicate: CommunicateConfig = Field(default_factory=CommunicateConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    tickets: TicketConfig = Field(default_factory=TicketConfig)
    intake: dict[str, Any] = Field(default_factory=dict,
                                   description="the intake API's settings; intake.config checks them")

    @field_validator("watchers", mode="before")
    @classmethod
    def _guardrail_by_default(cls, value: Any) -> Any:
        """A watcher without `kind` is a guardrail-score watcher (the first kind there was)."""
        if isinstance(value, dict):
            return {k: ({"kind": "guardrail_scores", **w} if isinstance(w, dict) and "kind" not in w else w)
                    for k, w in value.items()}
        return value

    def plan_for(self, service: str) -> ServicePlan:
        """The service's plan, else the '*' plan, else nothing to run."""
        return self.services.get(service) or self.services.get("*") or ServicePlan()

    def actions_for(self, service: str, step: Step) -> list[str]:
        plan = self.plan_for(service)
        return list(getattr(plan, step.value, []))


def _cross_check(pb: Playbook) -> list[tuple[str, str]]:
    """References that pydantic cannot see; each problem as (key, reason)."""
    problems: list[tuple[str, str]] = []
    people = pb.roster.people
    for pid, person in people.items():
        if person.backup is not None and person.backup not in people:
            problems.append((f"roster.people.{pid}.backup", f"'{person.backup}' is not in roster.people"))
        if person.backup == pid:
            problems.append((f"roster.people.{pid}.backup", "a person cannot be their own backup"))
    for role in Role:
        if not pb.roster.holders(role):
            problems.append(("roster.people", f"nobody holds the role '{role.value}'; every role needs someone"))
    policies = {"approvals.default": pb.approvals.default}
    for gated, per_sev in pb.approvals.actions.items():
        if gated not in pb.actions:
            problems.append((f"approvals.actions.{gated}", f"no action '{gated}' in [actions]"))
        for sev, mode in per_sev.items():
            policies[f"approvals.actions.{gated}.{sev.value}"] = mode
    for key, mode in policies.items():
        if not POLICY_PATTERN.match(mode):
            problems.append((key, f"'{mode}' is not a policy; use auto, auto_with_notice or approve:<role>"))
    for svc, plan in pb.services.items():
        for step in (Step.STABILISE, Step.CONTAIN, Step.REMEDIATE):
            for name in getattr(plan, step.value):
                if name not in pb.actions:
                    problems.append((f"services.{svc}.{step.value}", f"no action '{name}' in [actions]"))
    for name, action in pb.actions.items():
        texts = _action_texts(action)
        for field, text in texts.items():
            unknown = template_variables(text) - TEMPLATE_VARIABLES
            if unknown:
                problems.append((f"actions.{name}.{field}", f"unknown template variable(s) {sorted(unknown)}; "
                                 f"known: {sorted(TEMPLATE_VARIABLES)}"))
    for name, action in pb.actions.items():
        if isinstance(action, PromptfooRegressionAction):
            source = pb.evidence.get(action.evidence)
            if source is None or source.kind != "langfuse":
                problems.append((f"actions.{name}.evidence", f"'{action.evidence}' is not a langfuse source in "
                                 "[evidence]; the suite is built from its traces"))
    for name, source in pb.evidence.items():
        unknown = template_variables(" ".join([source.trace_name or "", *source.tags, *source.prompt_names,
                                               *source.datasets])
                                     ) - TEMPLATE_VARIABLES
        if unknown:
            problems.append((f"evidence.{name}", f"unknown template variable(s) {sorted(unknown)}; "
                             f"known: {sorted(TEMPLATE_VARIABLES)}"))
    for name in pb.watchers:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            problems.append((f"watchers.{name}", "name a watcher with 1-64 letters, digits, '-' or '_' "
                             "(it becomes part of a Temporal schedule id)"))
    problems += _check_communicate(pb) + missing_known_good(pb)  # planned actions' ${known_good_*} (templates.py)
    return problems


def _check_communicate(pb: Playbook) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    comm = pb.communicate
    fields: dict[str, list[str]] = {"communicate.notify_channels": comm.notify_channels,
                                    "communicate.approval_channels": comm.approval_channels}
    if comm.audiences is None:
        fields["communicate.channels"] = comm.channels
    elif comm.channels:
        problems.append(("communicate.channels", "with [communicate.audiences] given, list the channels in each "
                         "audience's 'channels' instead"))
    elif not comm.audiences:
        problems.append(("communicate.audiences", "name at least one audience, or leave the table out for the "
                         "default (the responders)"))
    for name, audience in (comm.audiences or {}).items():
        fields[f"communicate.audiences.{name}.channels"] = audience.channels
    for key, names in fields.items():
        for name in names:
            if name not in pb.channels:
                problems.append((key, f"no channel '{name}' in [channels]"))
    for name in comm.notify_channels:
        if name in pb.channels and pb.channels[name].kind not in CHANNEL_KINDS_FOR_PAGES:
            problems.append(("communicate.notify_channels", f"'{name}' is a {pb.channels[name].kind} channel; pages "
                             f"go to {' or '.join(CHANNEL_KINDS_FOR_PAGES)} channels"))
    for name in comm.approval_channels:
        if name in pb.channels and pb.channels[name].kind != "slack":
            problems.append(("communicate.approval_channels", f"'{name}' is not a kind = \"slack\" channel; "
                             "approval requests with buttons need chat.postMessage"))
    pages = [(aud, name) for aud, audience in comm.audience_map().items() for name in audience.channels
             if name in pb.channels and pb.channels[name].kind == "statuspage"]
    for name in sorted({n for _, n in pages}):
        users = [aud for aud, n in pages if n == name]
        if len(users) > 1:
            problems.append((f"communicate.audiences.{users[1]}", f"the Statuspage channel '{name}' is already the "
                             f"{users[0]} audience's; one audience keeps a page's incident"))
    for aud_name, audience in comm.audience_map().items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", aud_name):
            problems.append((f"communicate.audiences.{aud_name}", "name an audience with 1-32 lower-case letters, "
                             "digits or '_', starting with a letter (it becomes part of request ids and file names)"))
        for name in audience.channels:
            if name in pb.channels and pb.channels[name].kind == "statuspage" and not audience.external:
                problems.append((f"communicate.audiences.{aud_name}", f"'{name}' is a public Statuspage: set "
                                 "external = true so the communications role releases what goes there"))
    return problems


def _action_texts(action: HttpAction | ManualAction | LangfusePromptRollbackAction | LangfusePromptPatchAction
                  | PromptfooRegressionAction) -> dict[str, str]:
    """The action's fields that may hold template variables, by key."""
    if isinstance(action, ManualAction):
        return {"instructions": action.instructions, "undo_instructions": action.undo_instructions or ""}
    if isinstance(action, LangfusePromptRollbackAction):
        return {"prompt_name": action.prompt_name, "prompt_version": action.prompt_version}
    if isinstance(action, LangfusePromptPatchAction):
        return {"prompt_name": action.prompt_name, "text_file": action.text_file}
    if isinstance(action, PromptfooRegressionAction):
        return {}
    texts = _request_texts(action)
    if action.undo is not None:
        texts.update({f"undo.{k}": v for k, v in _request_texts(action.undo).items()})
    return texts


def _request_texts(request: HttpRequest) -> dict[str, str]:
    return {"url": request.url, "body": request.body or "", **{f"headers.{k}": v for k, v in request.headers.items()}}


def render_template(text: str, variables: Mapping[str, object]) -> str:
    """Fill ${name} placeholders; a missing value renders empty rather than leaving the placeholder."""
    return string.Template(text).substitute({k: "" if variables.get(k) is None else variables.get(k)
                                             for k in TEMPLATE_VARIABLES})


def parse_playbook(text: str, path: str = "<playbook>") -> Playbook:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PlaybookError(path, "(syntax)", f"not valid TOML: {err}") from err
    try:
        pb = Playbook.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        raise PlaybookError(path, key, f"{first['msg']}{more}") from err
    problems = _cross_check(pb)
    if problems:
        key, reason = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise PlaybookError(path, key, reason + more)
    return pb


def load_playbook(path: str | Path) -> tuple[Playbook, str]:
    """The playbook and the sha256 of its text, or PlaybookError naming the file, key and reason."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise PlaybookError(str(p), "(file)", "no such file; pass --playbook or set FIREBREAK_PLAYBOOK") from err
    except OSError as err:
        raise PlaybookError(str(p), "(file)", f"cannot read it: {err.strerror}") from err
    return parse_playbook(text, str(p)), hashlib.sha256(text.encode()).hexdigest()
