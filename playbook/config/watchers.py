"""[watchers]: Firebreak's own Langfuse watchers by kind (guardrail scores, latency and cost, agent loops, data
exposure, training data)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from playbook.config.base import LangfuseConnection, _Strict
from playbook.models import Severity, SignalKind


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
PII_KINDS = ("EMAIL", "PHONE", "CARD", "SECRET", "TOKEN", "IBAN", "IP", "NATIONAL_ID")


def _known(values: list[str], vocabulary: tuple[str, ...], what: str, offer: str) -> list[str]:
    """The values upper-cased, or a ValueError naming those outside the vocabulary and the vocabulary itself."""
    upper = [v.upper() for v in values]
    unknown = [v for v in upper if v not in vocabulary]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; {offer} {', '.join(vocabulary)}")
    return upper


# What counts as personal data or a secret for a watcher: the redaction detectors' kinds, checked by name.
PiiKinds = Annotated[list[str], AfterValidator(lambda v: _known(v, PII_KINDS, "PII kind(s)", "use"))]


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
    """Personal data or secrets (playbook/redact.py's detectors) in the input/output of up to `sample` traces
    of the window; a trace with any of `pii_kinds` is a finding, `min_traces` or more raise a Detection that
    carries counts, kinds and trace ids, never the data. Each trace is reported once."""

    kind: Literal["data_exposure"]
    pii_kinds: PiiKinds = Field(default_factory=lambda: list(PII_KINDS), min_length=1)
    sample: Annotated[int, Field(ge=1, le=10_000)] = Field(default=500, description="traces read a run")
    min_traces: Annotated[int, Field(ge=1)] = 1

    @property
    def signal(self) -> SignalKind:
        return SignalKind.PII_IN_LOGS


class TrainingDataWatcher(_Watcher):
    """The Langfuse datasets named in `datasets` are training data: each run reads their active items (up to
    `max_items`) and flags a new item with personal data or secrets (`pii_kinds`, playbook/redact.py's detectors, in
    its input, expected output or metadata) or with a restricted tag in its metadata's `tag_key` list. `min_items`
    or more new flagged items raise a data-exposure Detection with item ids and counts only. Each item is
    reported once."""

    kind: Literal["training_data"]
    datasets: list[str] = Field(min_length=1, description="the datasets used as training data")
    pii_kinds: PiiKinds = Field(default_factory=lambda: list(PII_KINDS), min_length=1)
    restricted_tags: list[str] = Field(default_factory=lambda: ["restricted", "confidential", "no-training"])
    tag_key: str = Field(default="tags", description="the item metadata key holding its tags")
    max_items: Annotated[int, Field(ge=1, le=100_000)] = Field(default=10_000, description="items read a run")
    min_items: Annotated[int, Field(ge=1)] = 1

    @property
    def signal(self) -> SignalKind:
        return SignalKind.RESTRICTED_TRAINING_DATA


Watcher = Annotated[GuardrailWatcher | MetricWatcher | AgentLoopWatcher | DataExposureWatcher | TrainingDataWatcher,
                    Field(discriminator="kind")]
