"""Loading playbook.toml: TOML, then the schema, then the cross-checks; errors name the file, the key and why."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from pydantic import ValidationError

from playbook.config.base import PlaybookError
from playbook.config.checks import _cross_check
from playbook.config.root import Playbook


def parse_playbook(text: str, path: str = "<playbook>") -> Playbook:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PlaybookError(path, "(syntax)", f"not valid TOML: {err}") from err
    try:
        pb = Playbook.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        raise PlaybookError(path, key, f"{first['msg']}{more}") from err
    problems = _cross_check(pb)
    if problems:
        key, reason = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise PlaybookError(path, key, reason + more)
    return pb


def load_playbook(path: str | Path) -> tuple[Playbook, str]:
    """The playbook and the sha256 of its text, or PlaybookError naming the file, key and reason."""
    text, sha = read_playbook(path)
    return parse_playbook(text, str(path)), sha


def read_playbook(path: str | Path) -> tuple[str, str]:
    """The playbook file's text and its sha256, unparsed; PlaybookError when it cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise PlaybookError(str(p), "(file)", "no such file; pass --playbook or set FIREBREAK_PLAYBOOK") from err
    except OSError as err:
        raise PlaybookError(str(p), "(file)", f"cannot read it: {err.strerror}") from err
    return text, hashlib.sha256(text.encode()).hexdigest()
