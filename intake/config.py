"""The playbook's `[intake]` section: where the API listens, who may post, and how labels become Detections.

Checked when the API starts, like the rest of the playbook: a bad value stops it with the file, the key and the
reason (`PlaybookError`). Secrets never live in the playbook; a source names the environment variable or file
that holds its token, and `load_secrets` reads them once at start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from playbook.config import Playbook, PlaybookError
from playbook.models import Severity, SignalKind

log = logging.getLogger(__name__)

Format = Literal["alertmanager", "grafana", "pagerduty", "firebreak"]
# Grafana's HMAC signature header when its contact point leaves "Header" empty: grafana/alerting http/hmac.go,
# defaultHeaderName, since PR #285 (2025-02-24; a stale comment there still says "Alert"). Firebreak defaulted to
# the old spelling, which some setups configured by hand; a source left at the default accepts both.
GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
LANGFUSE_SOURCE = "langfuse"  # Langfuse monitor alerts: the source their rate limit is kept under
GRAFANA_OLD_SIGNATURE_HEADER = "X-Grafana-Alert-Signature"
ENDPOINTS: dict[str, str] = {"alertmanager": "/v1/alerts/alertmanager", "grafana": "/v1/alerts/grafana",
                             "pagerduty": "/v2/enqueue", "firebreak": "/v1/alerts"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelMapping(_Strict):
    """Which source labels (or annotations) fill which Detection field; the first name present wins."""

    service: list[str] = Field(default_factory=lambda: ["service", "app", "component", "job"])
    default_service: str = Field(default="unknown", min_length=1,
                                 description="used when no service label is present, so no alert is refused")
    model: list[str] = Field(default_factory=lambda: ["model", "llm_model", "gen_ai_request_model"])
    prompt_name: list[str] = Field(default_factory=lambda: ["prompt", "prompt_name"])
    prompt_version: list[str] = Field(default_factory=lambda: ["prompt_version"])
    deploy_id: list[str] = Field(default_factory=lambda: ["deploy_id", "deploy"])
    kind: list[str] = Field(default_factory=lambda: ["signal_kind", "kind", "class"],
                            description="labels whose value is a signal kind (toxicity, cost_spike ...)")
    severity: list[str] = Field(default_factory=lambda: ["severity", "priority"])
    summary: list[str] = Field(default_factory=lambda: ["summary", "description", "message", "alertname"])
    links: list[str] = Field(default_factory=lambda: ["runbook_url", "dashboard_url", "trace_url"])
    metric_name: list[str] = Field(default_factory=lambda: ["metric"],
                                   description="label naming the metric whose value a 'value' annotation holds")
    metric_value: list[str] = Field(default_factory=lambda: ["value"])
    severities: dict[str, Severity] = Field(default_factory=lambda: {
        "critical": Severity.SEV1, "page": Severity.SEV1, "p1": Severity.SEV1, "sev1": Severity.SEV1,
        "error": Severity.SEV2, "high": Severity.SEV2, "p2": Severity.SEV2, "sev2": Severity.SEV2,
        "warning": Severity.SEV3, "warn": Severity.SEV3, "medium": Severity.SEV3, "p3": Severity.SEV3,
        "sev3": Severity.SEV3, "info": Severity.SEV4, "low": Severity.SEV4, "p4": Severity.SEV4,
        "sev4": Severity.SEV4}, description="source severity value (lower-cased) -> severity hint")
    kinds: dict[str, SignalKind] = Field(default_factory=lambda: {
        "toxic": SignalKind.TOXICITY, "hallucinat": SignalKind.HALLUCINATION, "complian": SignalKind.COMPLIANCE,
        "latency": SignalKind.LATENCY_SPIKE, "cost": SignalKind.COST_SPIKE, "spend": SignalKind.COST_SPIKE,
        "loop": SignalKind.AGENT_LOOP, "pii": SignalKind.PII_IN_LOGS, "training": SignalKind.RESTRICTED_TRAINING_DATA,
    }, description="case-insensitive substring of the alert name (or PagerDuty class) -> signal kind")

    @field_validator("severities", "kinds")
    @classmethod
    def _lower_keys(cls, value: dict[str, object]) -> dict[str, object]:
        return {k.lower(): v for k, v in value.items()}


class SourceConfig(_Strict):
    """One sender: which endpoint it posts to and the secrets that prove it is who it says."""

    format: Format
    token_env: str | None = Field(default=None, description="env var with the bearer token (PagerDuty: routing_key)")
    token_file: str | None = None
    basic_username: str | None = Field(default=None, description="accept HTTP basic auth with this user and the token "
                                                                 "as password (Alertmanager basic_auth)")
    hmac_secret_env: str | None = None
    hmac_secret_file: str | None = None
    hmac_header: str = Field(default=GRAFANA_SIGNATURE_HEADER, description="Grafana's HMAC header; left at the "
                             f"default, {GRAFANA_OLD_SIGNATURE_HEADER} is accepted too")
    hmac_timestamp_header: str | None = Field(
        default=None, description="the contact point's 'Timestamp header' (Grafana has no default name); then the "
                                  "signed text is '<timestamp>:<body>'")
    hmac_max_skew_seconds: Annotated[int, Field(ge=1, le=86400)] = 300
    allow_unauthenticated: bool = Field(default=False, description="development only: accept requests without "
                                                                   "credentials as this source")
    group_by: Literal["group", "alert"] = Field(
        default="group", description="alertmanager/grafana: one incident per notification group (groupKey) or per "
                                     "alert fingerprint")
    required: bool = Field(default=True, description="refuse to start when a named secret is missing")

    @property
    def signature_headers(self) -> tuple[str, ...]:
        """Where a signature may come: hmac_header as configured, or both of Grafana's spellings by default."""
        if "hmac_header" in self.model_fields_set:
            return (self.hmac_header,)
        return (GRAFANA_SIGNATURE_HEADER, GRAFANA_OLD_SIGNATURE_HEADER)

    @model_validator(mode="after")
    def _secrets(self) -> SourceConfig:
        if self.token_env and self.token_file:
            raise ValueError("give 'token_env' or 'token_file', not both")
        if self.hmac_secret_env and self.hmac_secret_file:
            raise ValueError("give 'hmac_secret_env' or 'hmac_secret_file', not both")
        if (self.hmac_secret_env or self.hmac_secret_file) and self.format != "grafana":
            raise ValueError("HMAC signatures are a Grafana feature; only a grafana source may set them")
        has_secret = any((self.token_env, self.token_file, self.hmac_secret_env, self.hmac_secret_file))
        if not has_secret and not self.allow_unauthenticated:
            raise ValueError("name a secret (token_env / token_file, or hmac_secret_env / hmac_secret_file for "
                             "grafana), or set allow_unauthenticated = true for development")
        return self


def _default_sources() -> dict[str, SourceConfig]:
    return {
        "alertmanager": SourceConfig(format="alertmanager", token_env="FIREBREAK_ALERTMANAGER_TOKEN", required=False),
        "grafana": SourceConfig(format="grafana", token_env="FIREBREAK_GRAFANA_TOKEN",
                                hmac_secret_env="FIREBREAK_GRAFANA_HMAC_SECRET", required=False),
        "pagerduty": SourceConfig(format="pagerduty", token_env="FIREBREAK_PAGERDUTY_ROUTING_KEY", required=False),
        "api": SourceConfig(format="firebreak", token_env="FIREBREAK_API_TOKEN", required=False),
    }


class StormConfig(_Strict):
    """Group commit per fingerprint: how many alerts one Temporal call may carry and how often it may be made."""

    max_batch: Annotated[int, Field(ge=1, le=5000)] = 500
    max_batch_bytes: Annotated[int, Field(ge=4096, le=2_000_000)] = 512 * 1024
    min_interval_ms: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=50, description="while alerts keep arriving for one incident, at most one Temporal call per interval")


class SlackConfig(_Strict):
    """Slack interactive buttons (POST /v1/slack/actions): where the signing secret is and how fresh requests are."""

    signing_secret_env: str = Field(default="FIREBREAK_SLACK_SIGNING_SECRET",
                                    description="env var with the Slack app's signing secret")
    max_age_seconds: Annotated[int, Field(ge=1, le=300)] = Field(
        default=300, description="refuse requests whose X-Slack-Request-Timestamp is older (Slack says 5 minutes)")
    answer_within_seconds: Annotated[float, Field(gt=0, le=2.9)] = Field(
        default=2.0, description="how long a button waits for the incident's answer; Slack wants a reply within 3 s")
    response_hosts: list[str] = Field(
        default_factory=lambda: ["hooks.slack.com"],
        description="hosts a click's response_url may name; the decided message is replaced there (https only, "
                    "plain http for 127.0.0.1/localhost, for tests)")
    response_timeout_seconds: Annotated[int, Field(ge=1, le=30)] = Field(
        default=5, description="per call to a response_url, made after the click was answered")


class LangfuseWebhookConfig(_Strict):
    """Langfuse automation webhooks (POST /v1/langfuse/webhook): prompt-version events into the deploy log,
    monitor alerts into incidents."""

    secret_env: str = Field(default="FIREBREAK_LANGFUSE_WEBHOOK_SECRET",
                            description="env var with the webhooks' signing secrets (lf-whsec_..., one per "
                                        "automation, separated by commas)")
    max_age_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=300, description="refuse signatures whose timestamp is further than this from now (replays)")


class PeopleConfig(_Strict):
    """People approving over HTTP with their personal tokens."""

    outcome_wait_seconds: Annotated[float, Field(gt=0, le=30)] = Field(
        default=5.0, description="how long an approval waits for the incident to accept or refuse it before 202")


class RateLimit(_Strict):
    """A token bucket: `per_minute` tokens added evenly over the minute, at most `burst` kept."""

    per_minute: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=120, description="new Temporal calls a source may cause per minute (PagerDuty's Events API allows "
                                 "about 120 events a minute per integration key)")
    burst: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="how many it may cause at once after a quiet spell (unset: per_minute)")


class RateLimitsConfig(RateLimit):
    """Admission control per source (intake/rate_limit.py); `sources.<name>` overrides the default for one."""

    enabled: bool = True
    sources: dict[str, RateLimit] = Field(default_factory=dict)


class BoardConfig(_Strict):
    """The web board (intake/board/): sign-in sessions, live updates, the link into the Temporal UI."""

    enabled: bool = Field(default=True, description="serve the board at / from the intake")
    session_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = Field(
        default=720, description="a board session ends this long after sign-in; then sign in again")
    refresh_seconds: Annotated[float, Field(ge=0.2, le=60)] = Field(
        default=2.0, description="how often an open page's live stream looks for changes")
    temporal_ui_url: str = Field(default="http://127.0.0.1:8233",
                                 description="the Temporal UI the incident page links to")


class IntakeConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8800
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    body_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0, description="a body that has not fully arrived by then is answered 408")
    retry_after_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    temporal_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    task_queue: str | None = Field(default=None, description="default: FIREBREAK_TASK_QUEUE or firebreak-incidents")
    labels: LabelMapping = Field(default_factory=LabelMapping)
    storm: StormConfig = Field(default_factory=StormConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=_default_sources)
    people: PeopleConfig = Field(default_factory=PeopleConfig)
    board: BoardConfig = Field(default_factory=BoardConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    langfuse: LangfuseWebhookConfig = Field(default_factory=LangfuseWebhookConfig)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)
    tls_cert: str | None = Field(default=None, description="PEM certificate chain: serve https (intake/tls.py)")
    tls_key: str | None = Field(default=None, description="its PEM private key (unencrypted)")
    tls_client_ca: str | None = Field(default=None, description="PEM CA bundle: require client certificates it "
                                                                "signed (mutual TLS)")

    @model_validator(mode="after")
    def _tls(self) -> IntakeConfig:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("give both tls_cert and tls_key (the certificate and its private key), or neither")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("tls_client_ca (mutual TLS) needs tls_cert and tls_key: the intake must serve https")
        return self

    @model_validator(mode="after")
    def _limited_sources(self) -> IntakeConfig:
        for name in self.rate_limits.sources:
            if name not in self.sources and name != LANGFUSE_SOURCE:
                raise ValueError(f"rate_limits.sources.{name}: no such source; name one of [intake.sources] "
                                 f"({', '.join(sorted(self.sources))}) or '{LANGFUSE_SOURCE}'")
        return self

    @field_validator("sources")
    @classmethod
    def _named(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"source name '{name}' may use letters, digits, '-', '_' and '.' only")
        return value


def intake_config(playbook: Playbook, path: str = "<playbook>") -> IntakeConfig:
    """The validated `[intake]` section, or PlaybookError naming `intake.<key>`."""
    try:
        return IntakeConfig.model_validate(playbook.intake)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(["intake", *(str(p) for p in first["loc"])])
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        raise PlaybookError(path, key, f"{first['msg']}{more}") from err


class Secrets(BaseModel):
    """One source's secrets as read at start; None where not configured or not set."""

    token: bytes | None = None
    hmac_secret: bytes | None = None


def _read(env: str | None, file: str | None, environ: Mapping[str, str], path: str, key: str) -> bytes | None:
    if env:
        value = environ.get(env, "").strip()
        return value.encode() if value else None
    if file:
        try:
            value = Path(file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as err:
            raise PlaybookError(path, key, f"cannot read the secret file {file}: {err.strerror}") from err
        return value.encode() if value else None
    return None


def load_secrets(config: IntakeConfig, environ: Mapping[str, str] | None = None,
                 path: str = "<playbook>") -> dict[str, Secrets]:
    """Read every source's secrets; a required source with a named but missing secret stops the start."""
    environ = os.environ if environ is None else environ
    found: dict[str, Secrets] = {}
    for name, src in config.sources.items():
        key = f"intake.sources.{name}"
        secrets = Secrets(token=_read(src.token_env, src.token_file, environ, path, f"{key}.token_file"),
                          hmac_secret=_read(src.hmac_secret_env, src.hmac_secret_file, environ, path,
                                            f"{key}.hmac_secret_file"))
        named = [n for n in (src.token_env, src.token_file, src.hmac_secret_env, src.hmac_secret_file) if n]
        missing = [n for n in named if (n in (src.token_env, src.token_file) and secrets.token is None)
                   or (n in (src.hmac_secret_env, src.hmac_secret_file) and secrets.hmac_secret is None)]
        if missing and src.required:
            raise PlaybookError(path, f"intake.sources.{name}", f"the secret {missing[0]} is not set or empty; set it "
                                "(environment variable or file) or remove the source")
        if secrets.token is None and secrets.hmac_secret is None and not src.allow_unauthenticated:
            log.warning("intake source '%s' has no credentials (set %s); requests for %s will get 401", name,
                        " or ".join(named), ENDPOINTS[src.format])
        found[name] = secrets
    return found
