"""A prompt's model in Langfuse (`config.model`, what an app reading its prompt from Langfuse calls): a new version
with the same text and config but the known-good model, the label moved to it, both read back. The new version's
commit message carries the incident's key, so a retried step finds it instead of creating another. The undo moves
the label back to the version it was on (if nobody moved it since). Snapshots of every prompt action live here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from integrations.langfuse.client import LangfuseError, LangfuseUnavailable, classify, client_for
from integrations.langfuse.prompts import label_holder, move_label
from integrations.langfuse.snapshots import read_prompt
from integrations.mitigations.base import (
    Applied,
    MitigationError,
    MitigationRejected,
    MitigationUnavailable,
    MitigationVerificationError,
)
from integrations.prompt_patch import find_candidate, undo_label_move
from playbook.config import LangfusePromptModelAction, render_template

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse


def _target(action: LangfusePromptModelAction, variables: dict[str, Any]) -> tuple[str, str]:
    name = render_template(action.prompt_name, variables).strip()
    model = render_template(action.model, variables).strip()
    if not name or not model:
        raise MitigationRejected("the langfuse_prompt_model action needs a prompt (known_good.prompt_name) and a "
                                 "model (known_good.model)")
    return name, model


def as_mitigation_error(err: LangfuseError) -> MitigationError:
    if isinstance(err, LangfuseUnavailable):
        return MitigationUnavailable(str(err))
    return MitigationRejected(str(err))


def _get(client: Langfuse, name: str, label: str) -> Any:
    from langfuse.api import NotFoundError

    try:
        return client.api.prompts.get(quote(name, safe=""), label=label)
    except NotFoundError:
        raise MitigationRejected(f"no version of {name} carries the {label} label") from None
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        raise as_mitigation_error(classify(err, f"reading {name}@{label}")) from err


def prompt_snapshot(connection: Any, name: str, label: str) -> dict[str, Any]:
    """The prompt as `label` shows it now: version, labels, config and the text's sha256 (never the text)."""
    try:
        found = read_prompt(client_for(connection), name, None, label)
    except LangfuseError as err:
        raise as_mitigation_error(err) from err
    if found is None:
        return {"prompt": name, "label": label, "found": False}
    found["text"] = {k: v for k, v in found["text"].items() if k != "excerpt"}
    return {"prompt": name, "label": label, "found": True, **found}


def _create(client: Langfuse, current: Any, name: str, model: str, key: str) -> int:
    from langfuse.api import CreateChatPromptRequest, CreateChatPromptType, CreateTextPromptRequest

    config = {**(current.config or {}), "model": model}
    message = f"firebreak: model {model} (was {(current.config or {}).get('model')}) [{key}]"
    common: dict[str, Any] = {"name": name, "config": config, "labels": [], "tags": list(current.tags or []),
              "commit_message": message}
    request: CreateTextPromptRequest | CreateChatPromptRequest
    if isinstance(current.prompt, str):
        request = CreateTextPromptRequest(prompt=current.prompt, **common)
    else:
        request = CreateChatPromptRequest(prompt=list(current.prompt), type=CreateChatPromptType.CHAT, **common)
    try:
        made = client.api.prompts.create(request=request, request_options={"max_retries": 0})
    except Exception as err:  # noqa: BLE001
        raise as_mitigation_error(classify(err, f"creating a version of {name} with model {model}")) from err
    return int(made.version)


class LangfuseModel:
    kind = "langfuse_prompt_model"

    def snapshot(self, action: LangfusePromptModelAction, variables: dict[str, Any]) -> dict[str, Any]:
        name, model = _target(action, variables)
        return {"kind": self.kind, "target_model": model, **prompt_snapshot(action, name, action.label)}

    def apply(self, action: LangfusePromptModelAction, variables: dict[str, Any], key: str) -> Applied:
        name, model = _target(action, variables)
        client = client_for(action)
        current = _get(client, name, action.label)
        before = int(current.version)
        record = {"prompt": name, "label": action.label, "model": model, "previous_version": before,
                  "previous_model": (current.config or {}).get("model")}
        if (current.config or {}).get("model") == model:
            return Applied(False, f"{action.label} of {name} (version {before}) already uses {model} (verified)",
                           None, record)
        try:
            version = find_candidate(client, name, key) or _create(client, current, name, model, key)
            move_label(client, name, version, action.label, label_holder(client, name, action.label))
        except LangfuseError as err:
            raise as_mitigation_error(err) from err
        now = _get(client, name, action.label)
        if int(now.version) != version or (now.config or {}).get("model") != model:
            raise MitigationVerificationError(f"{action.label} of {name} reads back as version {now.version} with "
                                              f"model {(now.config or {}).get('model')}, not {model}")
        record["version"] = version
        return Applied(True, f"{name} version {version} uses {model} (was {record['previous_model']} in version "
                             f"{before}); {action.label} moved to it (verified)",
                       {"restore_version": before, "expect_version": version}, record)

    def undo(self, action: LangfusePromptModelAction, variables: dict[str, Any], restore: dict[str, Any],
             key: str) -> str:
        name, _ = _target(action, variables)
        try:
            return undo_label_move(client_for(action), name, action.label, int(restore["restore_version"]),
                                   int(restore["expect_version"])).detail
        except LangfuseError as err:
            raise as_mitigation_error(err) from err
