"""The worker's playbook, as activities read it (activities/context.py): the file as it is now, parsed once per
distinct text."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.context import ActivityContext
from integrations.artefacts import ArtefactStore
from playbook.config import PlaybookError

REPO = Path(__file__).resolve().parent.parent


def test_an_edit_applies_at_once_and_an_unchanged_file_is_parsed_once(tmp_path: Path) -> None:
    path = tmp_path / "playbook.toml"
    text = (REPO / "playbook.toml").read_text()
    path.write_text(text)
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=path)
    first, sha = ctx.playbook()
    assert ctx.playbook() == (first, sha) and ctx.playbook()[0] is first  # the same text: the same parse
    assert first.tickets.number_prefix == "INC"
    path.write_text(text.replace('number_prefix = "INC"', 'number_prefix = "OPS"'))
    edited, new_sha = ctx.playbook()
    assert new_sha != sha and edited.tickets.number_prefix == "OPS"
    path.write_text(text + "\n[nonsense\n")
    with pytest.raises(PlaybookError):
        ctx.playbook()
    path.write_text(text)
    assert ctx.playbook()[0].tickets.number_prefix == "INC"
