"""A brief's first draft by AI ([ai_draft] briefs = true): the templated brief and the incident's redacted record
go to the chat-completions endpoint, its answer becomes the draft the domain SME approves or edits as before.

Any failure (refusal, timeout, cut-off, too long, unreachable) keeps the templated draft, and says why in the
worker's log: a brief is never late because a model was. The model gets at most BRIEF_SECONDS, inside the
draft activity's own 30-second budget.
"""

from __future__ import annotations

import logging

from integrations.ai_draft import AiDraftError, ask
from integrations.langfuse.prompts import managed_prompt
from playbook.ai_draft import BRIEF_PROMPT, material
from playbook.models import Brief
from playbook.redact import outbound
from playbook.state import IncidentState

BRIEF_SECONDS = 20.0
LOG = logging.getLogger(__name__)


def ai_first_draft(brief: Brief, state: IncidentState) -> Brief:
    cfg = state.playbook.ai_draft if state.playbook else None
    if cfg is None or not cfg.enabled or not cfg.briefs:
        return brief
    cfg = cfg.model_copy(update={"timeout_seconds": min(cfg.timeout_seconds, BRIEF_SECONDS)})
    system, source = managed_prompt(cfg.langfuse, cfg.brief_prompt, cfg.prompt_label, BRIEF_PROMPT)
    user = material(state, []) + f"\n\nTemplate brief ({brief.audience}, {brief.shape}):\n{brief.text}"
    try:
        answer = ask(cfg, system, user)
    except AiDraftError as err:
        LOG.warning("brief %s-%s: no AI draft, the template stands: %s", brief.incident_number,
                                brief.seq, err)
        return brief
    note = f"\n\n_First draft by AI ({answer.model}, prompt: {source}); checked by the domain SME before sending._"
    return outbound(brief.model_copy(update={"text": answer.text + note}))
