"""[severity]: the default, the levels (brief cadence and acknowledgement timeout) and the rules that classify."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from playbook.config.base import _Strict
from playbook.config.serious import SeriousCase
from playbook.models import Severity, SignalKind


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
    serious: SeriousCase | None = Field(default=None, description="a match marks the incident a serious incident "
                                                                    "(EU AI Act Art. 73) of this case")

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
