"""The whole playbook.toml: one model whose fields are the sections."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from playbook.config.actions import Action, ServicePlan
from playbook.config.base import _Strict
from playbook.config.channels import Channel, CommunicateConfig
from playbook.config.evidence import EvidenceSource
from playbook.config.paging import PagingConfig
from playbook.config.review import ReviewConfig, TicketConfig
from playbook.config.roster import ApprovalPolicy, Roster
from playbook.config.severity import SeverityConfig
from playbook.config.watchers import Watcher
from playbook.models import Step


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
    paging: PagingConfig = Field(default_factory=PagingConfig)
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
