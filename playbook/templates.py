"""Template values people read: refused at load when the playbook cannot fill them, named when missing at run time.

An action's text is filled from the incident (`${service}`, `${prompt_name}` ...) and from its service plan's
known_good (`${known_good_prompt_name}` ...). A known_good value that a planned action needs and its plan does not
give is known when the playbook loads, so the playbook is refused there (`missing_known_good`, called by
playbook/config.py's cross-checks). Values from the detection (model, prompt, deploy) are there in one incident
and not in another, so a text for people names what is missing in its place (`render_for_people`) instead of
leaving a gap: "Move the production label of  back to version  for ..." was the old reading.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playbook.config import Playbook

# ${known_good_*} -> the known_good field of the service plan that fills it
KNOWN_GOOD = {"known_good_model": "model", "known_good_prompt_name": "prompt_name",
              "known_good_prompt_version": "prompt_version"}
PLANNED_STEPS = ("stabilise", "contain", "remediate")


def template_variables(text: str) -> set[str]:
    found: set[str] = set()
    for _, named, braced, _ in string.Template.pattern.findall(text):
        if named or braced:
            found.add(named or braced)
    return found


def missing(name: str) -> str:
    return f"[missing: {name}]"


def render_for_people(text: str, variables: Mapping[str, object]) -> str:
    """Fill ${name} placeholders; a value that is missing reads `[missing: name]`, so the reader sees the gap."""
    from playbook.config import TEMPLATE_VARIABLES

    return string.Template(text).substitute({k: missing(k) if variables.get(k) in (None, "") else variables.get(k)
                                             for k in TEMPLATE_VARIABLES})


def missing_known_good(pb: Playbook) -> list[tuple[str, str]]:
    """(key, reason) for each planned action that needs a known_good value its service plan does not give."""
    from playbook.config import _action_texts  # at call time: playbook.config imports this module

    problems: list[tuple[str, str]] = []
    for service, plan in pb.services.items():
        for step in PLANNED_STEPS:
            for name in getattr(plan, step):
                action = pb.actions.get(name)
                if action is None:
                    continue  # reported as an unknown action
                needed = {var: field for field, text in _action_texts(action).items()
                          for var in template_variables(text) if var in KNOWN_GOOD}
                for var, field in sorted(needed.items()):
                    key = KNOWN_GOOD[var]
                    if getattr(plan.known_good, key) is None:
                        problems.append((f"services.{service}.{step}", f"action '{name}' needs ${{{var}}} (in its "
                                         f"{field}), but this plan's known_good has no {key}: set known_good = "
                                         f"{{ {key} = ... }} for '{service}', or plan an action that does not need it"))
    return problems
