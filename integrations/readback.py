"""Reading back what the artefact store holds, one file at a time, for `firebreak report` and `firebreak risks`.

The store outlives code versions and people edit files by hand: a file that cannot be read or parsed is named,
with why, and the others are read as usual, so one bad file never stops a report for everyone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from playbook.figures import figures

T = TypeVar("T")


def read_each(paths: Iterable[Path], parse: Callable[[str], T]) -> tuple[list[T], list[str]]:
    """(what parsed, one line per file that did not: its path and why)."""
    found: list[T] = []
    problems: list[str] = []
    for path in paths:
        try:
            found.append(parse(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            problems.append(f"{path}: skipped, cannot be read ({str(err).splitlines()[0][:200]})")
    return found, problems


def retrospective_record(text: str) -> dict[str, Any]:
    """A retrospective record that `figures` can summarise, or ValueError saying what is wrong with it."""
    record = json.loads(text)
    try:
        figures([record])
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"not a retrospective record: {type(err).__name__} {err}") from err
    return dict(record)
