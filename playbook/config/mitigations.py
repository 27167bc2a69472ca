"""The actions that change an AI system through its own infrastructure (a model gateway's routing, a prompt's
model, a cache, a feature flag, a key), and the one predicate every gate uses: does this action alter the AI system?

Each backend lives in integrations/mitigations/<kind>.py behind one Protocol; the workflow freezes what an altering
action will change into the evidence pack before it runs ([actions.<name>] `freeze`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from playbook.config.base import LangfuseConnection, _Strict, movable_label

FreezePolicy = Literal["off", "best_effort", "required"]


class Frozen(_Strict):
    """How strictly the incident snapshots what the action will change before it runs."""

    freeze: FreezePolicy = Field(default="best_effort", description='"required": a failed snapshot holds the '
                                 "action until the incident commander overrides with a reason; \"best_effort\": "
                                 'the action runs and the failure is recorded; "off": no snapshot')


class Backend(_Strict):
    """Keys every infrastructure backend shares."""

    description: str = ""
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0


class RedisPurgeAction(Backend, Frozen):
    """Delete cache keys matching glob patterns (SCAN MATCH + UNLINK), counted; verified by scanning again."""

    kind: Literal["redis_purge"] = "redis_purge"
    url_env: str = Field(default="REDIS_URL", description="environment variable holding the redis:// URL "
                         "(with its password), never the playbook")
    patterns: list[str] = Field(min_length=1, description='glob patterns, template variables allowed, e.g. '
                                '"semcache:${service}:*"')
    max_keys: Annotated[int, Field(ge=1, le=10_000_000)] = 1_000_000
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 60.0

    def texts(self) -> dict[str, str]:
        return {f"patterns[{i}]": p for i, p in enumerate(self.patterns)}


class LangfusePromptModelAction(LangfuseConnection, Frozen):
    """A new version of the prompt with `config.model` set to the known-good model, `label` moved to it, read
    back; its undo moves the label back."""

    kind: Literal["langfuse_prompt_model"] = "langfuse_prompt_model"
    description: str = ""
    prompt_name: str = "${known_good_prompt_name}"
    model: str = "${known_good_model}"
    label: str = "production"

    def texts(self) -> dict[str, str]:
        return {"prompt_name": self.prompt_name, "model": self.model}

    @field_validator("label")
    @classmethod
    def _movable(cls, value: str) -> str:
        return movable_label(value)


class UnleashFlagAction(Backend, Frozen):
    """Turn a feature off (or on) in one environment through Unleash's Admin API, read back; the undo restores
    the state it found."""

    kind: Literal["unleash_flag"] = "unleash_flag"
    base_url: str = Field(description="Unleash's URL, e.g. https://unleash.internal.example")
    token_env: str = Field(default="UNLEASH_ADMIN_TOKEN", description="environment variable holding an admin "
                           "or personal access token")
    project: str = "default"
    feature: str = Field(description="the feature flag's name, template variables allowed")
    environment: str = "production"
    enabled: bool = Field(default=False, description="the state the action sets: false turns the flag off")

    def texts(self) -> dict[str, str]:
        return {"feature": self.feature, "project": self.project, "environment": self.environment}


class LiteLLMRouteAction(Backend, Frozen):
    """Point a LiteLLM proxy's public model name at another underlying model (`/model/update` on each of its
    deployments), read back with `/model/info`; the undo points them back."""

    kind: Literal["litellm_route"] = "litellm_route"
    base_url: str = Field(description="the LiteLLM proxy's URL")
    key_env: str = Field(default="LITELLM_MASTER_KEY", description="environment variable holding the proxy's "
                         "master key (or an admin key)")
    model_name: str = Field(default="${service}", description="the public model name clients call")
    model: str = Field(default="${known_good_model}", description="the litellm_params.model it should route to")

    def texts(self) -> dict[str, str]:
        return {"model_name": self.model_name, "model": self.model}




class KeyRotationAction(Backend, Frozen):
    """Rotate a service account's API key at an OpenAI-compatible admin API, keep the new secret in a Vault-API
    KV v2 secret store (Vault, OpenBao) and read it back there, then revoke the account's other keys. No undo."""

    kind: Literal["key_rotation"] = "key_rotation"
    base_url: str = Field(default="https://api.openai.com/v1", description="the provider's admin API")
    admin_key_env: str = Field(default="OPENAI_ADMIN_KEY", description="environment variable holding an admin key")
    project_id: str = Field(description="the provider's project, template variables allowed")
    service_account_id: str = Field(description="the service account whose key is rotated, template variables "
                                    "allowed")
    store_url: str = Field(description="the secret store's URL (Vault or OpenBao)")
    store_token_env: str = Field(default="VAULT_TOKEN", description="environment variable holding the store's token")
    store_mount: str = "secret"
    store_path: str = Field(description="where the app reads its key, e.g. ${service}/openai")
    store_field: str = "api_key"
    revoke_previous: bool = Field(default=True, description="delete the account's other keys once the new one is "
                                  "stored and read back")

    def texts(self) -> dict[str, str]:
        return {"project_id": self.project_id, "service_account_id": self.service_account_id,
                "store_path": self.store_path}


MITIGATION_KINDS = ("redis_purge", "langfuse_prompt_model", "unleash_flag", "litellm_route", "key_rotation")
MitigationAction = Annotated[RedisPurgeAction | LangfusePromptModelAction | UnleashFlagAction | LiteLLMRouteAction
                             | KeyRotationAction, Field(discriminator="kind")]
# Kinds that change the AI system by their nature; an "http" action does when it says alters_system = true.
ALTERING_KINDS = frozenset({*MITIGATION_KINDS, "langfuse_prompt_rollback", "langfuse_prompt_patch"})
