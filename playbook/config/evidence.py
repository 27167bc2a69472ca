"""[evidence]: where the investigate step collects evidence (HTTP, files, Langfuse, the deploy log)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from playbook.config.base import LangfuseConnection

LANGFUSE_EVIDENCE_FIELDS = frozenset({
    "base_url", "public_key_env", "secret_key_env", "timeout_seconds", "lookback_minutes", "trace_name", "tags",
    "environment", "score_names", "max_observations", "max_scores", "series", "series_granularity",
    "prompt_versions", "datasets", "max_dataset_items"})
DEPLOY_EVIDENCE_FIELDS = frozenset({"lookback_minutes", "prompt_names", "max_deploys"})


class EvidenceSource(LangfuseConnection):
    kind: Literal["http", "file", "langfuse", "deploys", "promptfoo"]
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
        if self.kind == "promptfoo" and not self.path:
            raise ValueError("a promptfoo evidence source needs 'path': a glob of promptfoo JSON outputs")
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
