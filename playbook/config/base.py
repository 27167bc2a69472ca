"""What every section of playbook.toml shares: strict tables, the error a bad file raises, where Langfuse is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class PlaybookError(Exception):
    """A playbook that cannot be used; says which file, which key and why."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = path, key, reason
        super().__init__(f"{path}: {key}: {reason}")


def movable_label(value: str) -> str:
    """A Langfuse label an action may move ('latest' is Langfuse's own)."""
    if not value.strip() or value == "latest":
        raise ValueError("give a label to move, e.g. production ('latest' is managed by Langfuse)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class LangfuseConnection(_Strict):
    """Where Langfuse is and which environment variables hold its keys (the keys never go in the playbook)."""

    base_url: str | None = Field(default=None, description="default: $LANGFUSE_BASE_URL, else Langfuse Cloud")
    public_key_env: str = "LANGFUSE_PUBLIC_KEY"
    secret_key_env: str = "LANGFUSE_SECRET_KEY"
    timeout_seconds: Annotated[int, Field(ge=1, le=120)] = 10
