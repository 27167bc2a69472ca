"""Template variables: `${name}` placeholders in actions and evidence sources, filled from the incident."""

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
