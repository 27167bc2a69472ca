"""Reading back what the artefact store holds, one file at a time, for `firebreak report` and `firebreak risks`.

The store outlives code versions and people edit files by hand: a file that cannot be read or parsed is named,
with why, and the others are read as usual, so one bad file never stops a report for everyone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from integrations.store import Store
from playbook.figures import figures
from playbook.risk import RISK_REGISTER, RiskEntry

T = TypeVar("T")


def read_each(store: Store, paths: Iterable[str], parse: Callable[[str], T]) -> tuple[list[T], list[str]]:
    """(what parsed, one line per file that did not: where it is and why)."""
    found: list[T] = []
    problems: list[str] = []
    for path in paths:
        try:
            found.append(parse(store.read_bytes(path).decode("utf-8")))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            problems.append(f"{store.location(path)}: skipped, cannot be read ({str(err).splitlines()[0][:200]})")
    return found, problems


def retrospective_record(text: str) -> dict[str, Any]:
    """A retrospective record that `figures` can summarise, or ValueError saying what is wrong with it."""
    record = json.loads(text)
    try:
        figures([record])
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"not a retrospective record: {type(err).__name__} {err}") from err
    return dict(record)


def risk_entries(store: Store, kind: str | None = None, owasp: str | None = None, service: str | None = None,
                 atlas: str | None = None) -> tuple[list[RiskEntry], list[str]]:
    """The risk register (`firebreak risks`, GET /v1/risks), filtered; and the files that could not be read."""
    register = [p for p in store.list_files(RISK_REGISTER) if p.count("/") == 1 and p.endswith(".json")]
    entries, problems = read_each(store, register, RiskEntry.model_validate_json)
    return [e for e in entries if (not kind or e.kind.value == kind) and (not owasp or owasp in e.owasp_llm)
            and (not service or service in e.services) and (not atlas or atlas in e.mitre_atlas)], problems


def report_figures(store: Store, on_time_minutes: float) -> tuple[dict[str, Any] | None, list[str]]:
    """The figures across retrospectives (`firebreak report`, GET /v1/report), None when there are none yet; and
    the files that could not be read."""
    paths = [p for p in store.list_files() if p.count("/") == 1 and p.endswith("/retrospective.json")]
    records, problems = read_each(store, paths, retrospective_record)
    return (figures(records, on_time_minutes=on_time_minutes) if records else None), problems
