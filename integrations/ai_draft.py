"""Drafts from an OpenAI-compatible chat-completions endpoint through the official `openai` SDK: one system prompt,
one user message of redacted incident material, one answer. A refusal, a timeout, a cut-off or over-long answer
is an AiDraftError saying which, so the caller falls back to what people write themselves.

One attempt (max_retries=0): a person is waiting at a terminal, or a brief has its template to fall back on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from playbook.config import AiDraftConfig


class AiDraftError(Exception):
    """No usable answer: refused, timed out, cut off, too long, or the endpoint failed."""


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    response_id: str


def ask(cfg: AiDraftConfig, system: str, user: str) -> Answer:
    key = os.environ.get(cfg.api_key_env, "")
    if not key:
        raise AiDraftError(f"no API key: set ${cfg.api_key_env} (ai_draft.api_key_env)")
    import openai  # here, not at module level: ~14 MB a worker without AI drafting need not carry

    client = openai.OpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_seconds, max_retries=0)
    try:
        response = client.chat.completions.create(
            model=cfg.model, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])
    except openai.APITimeoutError as err:
        raise AiDraftError(f"the endpoint did not answer within {cfg.timeout_seconds:g} s") from err
    except openai.APIConnectionError as err:
        raise AiDraftError(f"cannot reach {cfg.base_url}: {err}") from err
    except openai.APIStatusError as err:
        raise AiDraftError(f"the endpoint answered HTTP {err.status_code}: {err.message}") from err
    finally:
        client.close()
    if not response.choices:
        raise AiDraftError("the answer has no choices")
    choice = response.choices[0]
    if choice.message.refusal:
        raise AiDraftError(f"the model refused: {choice.message.refusal}")
    if choice.finish_reason == "content_filter":
        raise AiDraftError("the endpoint's content filter withheld the answer")
    if choice.finish_reason == "length":
        raise AiDraftError("the answer was cut off at the model's length limit")
    text = (choice.message.content or "").strip()
    if not text:
        raise AiDraftError("the answer is empty")
    if len(text) > cfg.max_answer_chars:
        raise AiDraftError(f"the answer is {len(text)} characters, over ai_draft.max_answer_chars "
                           f"({cfg.max_answer_chars})")
    return Answer(text=text, model=response.model, response_id=response.id)
