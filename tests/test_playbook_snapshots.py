"""A worker holding many incidents keeps one copy of each playbook they snapshotted (workflows/incident/snapshots.py),
not one per incident, and never lets two different playbooks share."""

from __future__ import annotations

from playbook.config.load import parse_playbook
from playbook.models import Severity
from tests.support import ROSTER
from workflows.incident import snapshots

BODY = ROSTER + """
[severity.levels.SEV2]
cadence_minutes = {cadence}
ack_timeout_minutes = 15
"""


def test_equal_snapshots_share_one_copy_and_different_ones_do_not() -> None:
    first, second = parse_playbook(BODY.format(cadence=60)), parse_playbook(BODY.format(cadence=60))
    edited = parse_playbook(BODY.format(cadence=30))
    assert first is not second and first == second  # decoded apart, as two incidents' results are
    kept = snapshots.shared(first)
    assert snapshots.shared(second) is kept
    assert snapshots.shared(edited) is edited and edited is not kept
    assert snapshots.shared(edited).severity.levels[Severity.SEV2].cadence_minutes == 30
