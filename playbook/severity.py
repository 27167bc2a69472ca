"""Severity from the playbook's rules: the most severe matching rule (else the default), raised by a hint."""

from __future__ import annotations

from playbook.config import Playbook, SeverityRule
from playbook.models import Detection, Severity


def matches(rule: SeverityRule, detection: Detection) -> bool:
    if rule.kinds and detection.kind not in rule.kinds:
        return False
    if rule.services and not set(rule.services) & set(detection.services):
        return False
    if rule.metric is not None:
        value = detection.metrics.get(rule.metric)
        if value is None or rule.above is None or value <= rule.above:
            return False
    return True


def classify(detection: Detection, playbook: Playbook) -> tuple[Severity, str]:
    """(severity, why) — why names the rule or hint that decided it, for the timeline."""
    matching = [(rule.severity, rule.reason or f"severity.rules[{index}]")
                for index, rule in enumerate(playbook.severity.rules) if matches(rule, detection)]
    best, why = min(matching, key=lambda m: m[0].rank) if matching else (playbook.severity.default,
                                                                           "playbook default")
    hint = detection.severity_hint
    if playbook.severity.trust_source_hint and hint is not None and hint.rank < best.rank:
        best, why = hint, f"severity hint from {detection.source}"
    return best, why
