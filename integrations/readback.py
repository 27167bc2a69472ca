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
