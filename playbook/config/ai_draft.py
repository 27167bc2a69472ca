"""[ai_draft]: drafts from an OpenAI-compatible chat-completions endpoint (off by default): the retrospective on
`firebreak retro INC --draft`, and, with `briefs`, the first draft of each brief. People still decide: a draft is
saved for the incident commander to edit, a brief still goes through the domain SME."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from playbook.config.base import LangfuseConnection, _Strict


class AiDraftConfig(_Strict):
    enabled: bool = False
    base_url: str = Field(default="", description="the endpoint's base URL, e.g. http://127.0.0.1:4000/v1")
    model: str = ""
    api_key_env: str = Field(default="OPENAI_API_KEY", description="the environment variable holding the key")
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_answer_chars: Annotated[int, Field(ge=100, le=200_000)] = 12_000
    briefs: bool = Field(default=False, description="also draft each brief's first text (the SME still approves)")
    langfuse: LangfuseConnection | None = Field(default=None, description="take the prompts from Langfuse")
    retrospective_prompt: str = "firebreak-retrospective-draft"
    brief_prompt: str = "firebreak-brief-draft"
    prompt_label: str = "production"

    @model_validator(mode="after")
    def _endpoint(self) -> AiDraftConfig:
        if self.enabled and (not self.base_url or not self.model):
            raise ValueError("an enabled [ai_draft] needs 'base_url' and 'model'")
        return self
