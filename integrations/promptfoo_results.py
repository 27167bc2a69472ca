"""The latest promptfoo eval results of a service's suites, read from promptfoo's JSON output (`promptfoo eval -o
results.json`, as CI or a scheduled job writes it) for the investigate step: per suite, its newest run's counts and
failing cases. A suite is named by its config's `description`, else the file's name; its run time is the output's
`results.timestamp`, else the file's modification time. The shape read is the one integrations/promptfoo.py reads
(`results.stats`, `results.results[]`, promptfoo 0.123.1)."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.promptfoo import PromptfooError, parse_results


@dataclass
class SuiteRun:
    suite: str
    path: str
    ran_at: datetime
    successes: int = 0
    failures: int = 0
    errors: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    problem: str | None = None  # the file could not be read as promptfoo output

    @property
    def passed(self) -> bool:
        return self.problem is None and self.failures == 0 and self.errors == 0 and self.successes > 0

    def line(self) -> str:
        when = f"{self.ran_at:%Y-%m-%d %H:%M} UTC"
        if self.problem:
            return f"{self.suite}: unreadable ({self.problem})"
        verdict = "passed" if self.passed else "FAILED"
        first = f"; first failure: {self.failed[0][0]}: {self.failed[0][1][:120]}" if self.failed else ""
        return (f"{self.suite} {verdict} {self.successes}/{self.successes + self.failures + self.errors} at {when}"
                + (f", {self.errors} error(s)" if self.errors else "") + first)


def _ran_at(data: Any, path: Path) -> datetime:
    stamp = data.get("results", {}).get("timestamp") if isinstance(data, dict) else None
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def read_run(path: Path) -> SuiteRun:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return SuiteRun(suite=path.stem, path=str(path), ran_at=datetime.fromtimestamp(0, UTC), problem=str(err))
    config = data.get("config") if isinstance(data, dict) else None
    suite = str((config or {}).get("description") or path.stem) if isinstance(config, dict | None) else path.stem
    run = SuiteRun(suite=suite, path=str(path), ran_at=_ran_at(data, path))
    try:
        result = parse_results(data, 0)
    except PromptfooError as err:
        run.problem = str(err)
        return run
    run.successes, run.failures, run.errors, run.failed = (result.successes, result.failures, result.errors,
                                                           result.failed)
    return run


def latest_runs(pattern: str, max_files: int = 500) -> list[SuiteRun]:
    """The newest run of each suite among the files matching `pattern` (a glob), newest first."""
    paths = sorted(glob.glob(pattern, recursive=True))[-max_files:]
    latest: dict[str, SuiteRun] = {}
    for run in (read_run(Path(p)) for p in paths if Path(p).is_file()):
        if run.suite not in latest or run.ran_at > latest[run.suite].ran_at:
            latest[run.suite] = run
    return sorted(latest.values(), key=lambda r: r.ran_at, reverse=True)
