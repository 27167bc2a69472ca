"""Mitigations on real AI infrastructure, one module per backend behind one Protocol (base.Mitigation), and the
snapshot of what any system-altering action will change, for the evidence pack (the incident's freeze)."""

from __future__ import annotations

from typing import Any

from integrations.langfuse.client import LangfuseError
from integrations.mitigations.base import (
    Applied,
    Mitigation,
    MitigationError,
    MitigationNotFound,
    MitigationRejected,
    MitigationUnavailable,
    MitigationVerificationError,
)
from integrations.mitigations.keys import KeyRotation
from integrations.mitigations.langfuse_model import LangfuseModel, as_mitigation_error, prompt_snapshot
from integrations.mitigations.litellm import LiteLLMRoute
from integrations.mitigations.redis_cache import RedisCache
from integrations.mitigations.unleash import UnleashFlag
from playbook.config import (
    HttpAction,
    LangfusePromptPatchAction,
    LangfusePromptRollbackAction,
    render_template,
)

REGISTRY: dict[str, Mitigation] = {m.kind: m for m in (RedisCache(), LangfuseModel(), UnleashFlag(), LiteLLMRoute(),
                                                      KeyRotation())}


def backend_for(kind: str) -> Mitigation:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise MitigationRejected(f"no mitigation backend for kind {kind}") from None


def snapshot(action: Any, variables: dict[str, Any]) -> dict[str, Any]:
    """What `action` will change, read now: a backend's own snapshot, or for the prompt actions the prompt as its
    label shows it; an http action's target is opaque, so its request (without headers) stands for it."""
    try:
        if isinstance(action, LangfusePromptRollbackAction | LangfusePromptPatchAction):
            name = render_template(action.prompt_name, variables).strip()
            return {"kind": action.kind, **prompt_snapshot(action, name, action.label)}
        if isinstance(action, HttpAction):
            return {"kind": "http", "method": action.method, "url": render_template(action.url, variables),
                    "note": "an http action's target is not readable by Firebreak; only the request is recorded"}
        return backend_for(action.kind).snapshot(action, variables)
    except LangfuseError as err:
        raise as_mitigation_error(err) from err


__all__ = ["REGISTRY", "Applied", "Mitigation", "MitigationError", "MitigationNotFound", "MitigationRejected",
           "MitigationUnavailable", "MitigationVerificationError", "as_mitigation_error", "backend_for", "snapshot"]
