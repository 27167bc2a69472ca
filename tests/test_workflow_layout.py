"""The incident workflow stays in small rooms around one core: no workflow file over ~400 lines, one timeline
writer, and the approval policy read typed (never parsed from its text) inside the workflow."""

from __future__ import annotations

import re
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SOURCES = sorted(WORKFLOWS.rglob("*.py"))
CORE = WORKFLOWS / "incident" / "core.py"


def test_no_workflow_file_is_over_400_lines() -> None:
    long = {str(p.relative_to(WORKFLOWS)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these into rooms: {long}"


def test_the_timeline_has_one_writer() -> None:
    writes = [f"{p.relative_to(WORKFLOWS)}:{n}" for p in SOURCES
              for n, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"\.record\(workflow\.now\(\)|\.timeline\.append\(|TimelineEntry\(", line)]
    assert writes == [f"{CORE.relative_to(WORKFLOWS)}:{_line_of(CORE, 'self.state.record(workflow.now()')}"]


def test_the_workflow_never_parses_approval_policy_text() -> None:
    parses = [f"{p.relative_to(WORKFLOWS)}:{n}" for p in SOURCES
              for n, line in enumerate(p.read_text().splitlines(), 1) if '"approve:' in line]
    assert not parses


def test_no_mixins_or_stubs_of_another_class() -> None:
    stubs = [str(p.relative_to(WORKFLOWS)) for p in SOURCES if "TYPE_CHECKING" in p.read_text()]
    mixins = [f"{p.relative_to(WORKFLOWS)}: {m}" for p in SOURCES
              for m in re.findall(r"^class \w+\((\w*Mixin)\)", p.read_text(), re.MULTILINE)]
    assert not stubs and not mixins


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)
