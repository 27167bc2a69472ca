"""Does this action alter the AI system? The one predicate the serious-incident hold (EU AI Act Art. 73: no change
that could affect the evaluation of causes before the authority is informed) asks before an action runs.

By kind: prompt rollbacks and patches, calls to your control plane (http) and runbook steps a person performs
(manual) change the system; a regression suite only reads it. Kinds added later are treated as altering.
"""

from __future__ import annotations

from playbook.config import Action, PromptfooRegressionAction

READ_ONLY_KINDS = (PromptfooRegressionAction,)


def alters_system(action: Action) -> bool:
    return not isinstance(action, READ_ONLY_KINDS)
