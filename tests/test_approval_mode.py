"""The approval policy reaches the workflow typed: the schema parses what users write in [approvals] once."""

from __future__ import annotations

import json

from playbook.approval import ApprovalMode
from playbook.config import Playbook, parse_playbook
from playbook.models import Role, Severity
from tests.support import ROSTER

POLICY = ROSTER + """
[actions.rollback]
kind = "manual"
instructions = "Roll back"
[approvals]
default = "approve:ai_ops"
[approvals.actions.rollback]
SEV1 = "approve:domain_sme"
SEV2 = "auto_with_notice"
SEV3 = "auto"
"""


def test_policies_are_typed_modes_with_the_toml_text_kept() -> None:
    approvals = parse_playbook(POLICY).approvals
    assert approvals.mode_for("rollback", Severity.SEV1) == ApprovalMode("approve", Role.DOMAIN_SME)
    assert approvals.mode_for("rollback", Severity.SEV2) == ApprovalMode("auto_with_notice")
    assert approvals.mode_for("rollback", Severity.SEV3) == ApprovalMode("auto")
    assert approvals.mode_for("rollback", Severity.SEV4) == ApprovalMode("approve", Role.AI_OPS)  # the default
    assert approvals.mode_for("other", Severity.SEV1) == ApprovalMode("approve", Role.AI_OPS)
    assert approvals.own_mode("rollback", Severity.SEV4) is None and approvals.own_mode("other", Severity.SEV1) is None
    assert approvals.own_mode("rollback", Severity.SEV2) == ApprovalMode("auto_with_notice")
    assert [str(approvals.mode_for("rollback", s)) for s in (Severity.SEV1, Severity.SEV2, Severity.SEV3)] == [
        "approve:domain_sme", "auto_with_notice", "auto"]
    assert approvals.mode_for("rollback", Severity.SEV1).needs_approval
    assert not approvals.mode_for("rollback", Severity.SEV2).needs_approval


def test_the_snapshot_in_a_running_incident_keeps_the_text() -> None:
    """The playbook travels in workflow payloads (and recorded histories) as JSON: the policy stays the TOML text."""
    pb = parse_playbook(POLICY)
    dumped = pb.model_dump(mode="json")["approvals"]
    assert dumped["default"] == "approve:ai_ops" and dumped["actions"]["rollback"]["SEV1"] == "approve:domain_sme"
    again = Playbook.model_validate(json.loads(pb.model_dump_json()))
    assert again.approvals.mode_for("rollback", Severity.SEV1) == ApprovalMode("approve", Role.DOMAIN_SME)


def test_only_the_four_roles_and_two_automatic_modes_parse() -> None:
    assert [ApprovalMode.parse(t) for t in ("approve:ceo", "approve:", "approve", "Auto", "auto:ai_ops", "")] == [
        None] * 6
    assert {ApprovalMode.parse(f"approve:{r.value}") for r in Role} == {ApprovalMode("approve", r) for r in Role}
