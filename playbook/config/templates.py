"""Template variables: `${name}` placeholders in actions and evidence sources, filled from the incident.

Values from the detection (model, prompt, deploy) are there in one incident and not in another, so a text for
people names what is missing in its place (`render_for_people`) instead of leaving a gap: "Move the production
label of  back to version  for ..." was the old reading. A known_good value that a planned action needs and its
plan does not give is known at load and refused there (checks.py, `missing_known_good`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

TEMPLATE_VARIABLES = frozenset({
    "incident_id", "incident_number", "severity", "service", "kind", "summary", "model", "prompt_name",
    "prompt_version", "deploy_id", "known_good_model", "known_good_prompt_name", "known_good_prompt_version",
    "action",
})


def template_variables(text: str) -> set[str]:
    found: set[str] = set()
    for _, named, braced, _ in string.Template.pattern.findall(text):
        if named or braced:
            found.add(named or braced)
    return found


def render_template(text: str, variables: Mapping[str, object]) -> str:
    """Fill ${name} placeholders; a missing value renders empty rather than leaving the placeholder."""
    return string.Template(text).substitute({k: "" if variables.get(k) is None else variables.get(k)
                                             for k in TEMPLATE_VARIABLES})


def missing(name: str) -> str:
    return f"[missing: {name}]"


def render_for_people(text: str, variables: Mapping[str, object]) -> str:
    """Fill ${name} placeholders; a value that is missing reads `[missing: name]`, so the reader sees the gap."""
    return string.Template(text).substitute({k: missing(k) if variables.get(k) in (None, "") else variables.get(k)
                                             for k in TEMPLATE_VARIABLES})
