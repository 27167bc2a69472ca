"""playbook.toml: its schema (a module per section), its cross-checks, and loading it with errors a person can act on.

A bad playbook is refused when a process starts, never discovered mid-incident: every reference (backups,
actions, channels, template variables, roles) is checked here.
"""

from __future__ import annotations

from playbook.config.actions import (
    Action,
    HttpAction,
    HttpRequest,
    KnownGood,
    LangfusePromptPatchAction,
    LangfusePromptRollbackAction,
    ManualAction,
    PromptfooRegressionAction,
    ServicePlan,
    alters_ai_system,
)
from playbook.config.ai_draft import AiDraftConfig
from playbook.config.base import LangfuseConnection, PlaybookError
from playbook.config.channels import (
    CHANNEL_KINDS_FOR_PAGES,
    Audience,
    Channel,
    CommunicateConfig,
    ComponentStatus,
    EmailChannel,
    IncidentChannelConfig,
    SlackChannel,
    SlackWebhookChannel,
    StatuspageChannel,
    TeamsChannel,
    WebhookChannel,
)
from playbook.config.evidence import DEPLOY_EVIDENCE_FIELDS, LANGFUSE_EVIDENCE_FIELDS, EvidenceSource
from playbook.config.load import load_playbook, parse_playbook, read_playbook
from playbook.config.mitigations import (
    MITIGATION_KINDS,
    FreezePolicy,
    KeyRotationAction,
    LangfusePromptModelAction,
    LiteLLMRouteAction,
    MitigationAction,
    RedisPurgeAction,
    UnleashFlagAction,
)
from playbook.config.review import ReviewConfig, TicketConfig
from playbook.config.root import Playbook
from playbook.config.roster import ApprovalPolicy, Person, Roster
from playbook.config.serious import SeriousCase, SeriousConfig
from playbook.config.severity import SeverityConfig, SeverityLevel, SeverityRule
from playbook.config.templates import TEMPLATE_VARIABLES, render_for_people, render_template, template_variables
from playbook.config.watchers import (
    COST_MEASURES,
    LATENCY_MEASURES,
    OBSERVATION_TYPES,
    PII_KINDS,
    AgentLoopWatcher,
    DataExposureWatcher,
    GuardrailWatcher,
    MetricAggregation,
    MetricWatcher,
    TrainingDataWatcher,
    Watcher,
)

__all__ = [
    "Action",
    "FreezePolicy",
    "KeyRotationAction",
    "LangfusePromptModelAction",
    "LiteLLMRouteAction",
    "MITIGATION_KINDS",
    "MitigationAction",
    "RedisPurgeAction",
    "UnleashFlagAction",
    "alters_ai_system",
    "AgentLoopWatcher",
    "AiDraftConfig",
    "ApprovalPolicy",
    "Audience",
    "CHANNEL_KINDS_FOR_PAGES",
    "COST_MEASURES",
    "Channel",
    "CommunicateConfig",
    "IncidentChannelConfig",
    "ComponentStatus",
    "DEPLOY_EVIDENCE_FIELDS",
    "DataExposureWatcher",
    "EmailChannel",
    "EvidenceSource",
    "GuardrailWatcher",
    "HttpAction",
    "HttpRequest",
    "KnownGood",
    "LANGFUSE_EVIDENCE_FIELDS",
    "LATENCY_MEASURES",
    "LangfuseConnection",
    "LangfusePromptPatchAction",
    "LangfusePromptRollbackAction",
    "ManualAction",
    "MetricAggregation",
    "MetricWatcher",
    "OBSERVATION_TYPES",
    "PII_KINDS",
    "Person",
    "Playbook",
    "PlaybookError",
    "PromptfooRegressionAction",
    "ReviewConfig",
    "Roster",
    "SeriousCase",
    "SeriousConfig",
    "ServicePlan",
    "TrainingDataWatcher",
    "SeverityConfig",
    "SeverityLevel",
    "SeverityRule",
    "SlackChannel",
    "SlackWebhookChannel",
    "StatuspageChannel",
    "TeamsChannel",
    "TEMPLATE_VARIABLES",
    "TicketConfig",
    "Watcher",
    "WebhookChannel",
    "load_playbook",
    "read_playbook",
    "parse_playbook",
    "render_for_people",
    "render_template",
    "template_variables",
]
