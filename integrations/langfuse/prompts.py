"""Prompt-label rollback and label moves, each verified by reading the prompt back past every cache."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations.langfuse.client import LangfuseRejected, LangfuseVerificationError, classify, client_for
from playbook.config import LangfuseConnection, LangfusePromptRollbackAction, render_template

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse


@dataclass(frozen=True)
class RollbackResult:
    name: str
    label: str
    version: int
    previous_version: int | None
    moved: bool

    @property
    def detail(self) -> str:
        if not self.moved:
            return f"{self.label} label of {self.name} was already on version {self.version} (verified)"
        before = f"version {self.previous_version}" if self.previous_version is not None else "no version"
        return f"moved the {self.label} label of {self.name} from {before} to version {self.version} (verified)"


def label_holder(client: Langfuse, name: str, label: str) -> int | None:
    """The version that carries `label` now, read past every cache; None when no version has it."""
    from langfuse.api import NotFoundError

    try:
        prompt = client.get_prompt(name, label=label, cache_ttl_seconds=0, max_retries=0)
    except NotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        raise classify(err, f"reading {name}@{label}") from err
    return int(prompt.version)


def resolve_rollback(action: LangfusePromptRollbackAction, variables: Mapping[str, object]) -> tuple[str, int]:
    """The prompt name and version the action means for this incident; LangfuseRejected says what is missing."""
    name = render_template(action.prompt_name, variables).strip()
    raw_version = render_template(action.prompt_version, variables).strip()
    if not name:
        raise LangfuseRejected("no prompt name to roll back: set known_good.prompt_name for the service "
                               "(or prompt_name on the action)")
    try:
        version = int(raw_version)
    except ValueError:
        raise LangfuseRejected(f"no prompt version to roll {name} back to ('{raw_version}'): set "
                               "known_good.prompt_version for the service (or prompt_version on the action)") from None
    if version < 1:
        raise LangfuseRejected(f"prompt version {version} of {name} is not a Langfuse version (they start at 1)")
    return name, version


def move_label(client: Langfuse, name: str, version: int, label: str, current: int | None) -> None:
    """Put `label` on `version` of prompt `name` (left alone when `current`, the version holding it now, is that
    version) and verify by reading it back: every label move (rollback, promotion, undo) goes through here."""
    doing = f"moving the {label} label of {name} to version {version}"
    if current != version:
        try:
            client.update_prompt(name=name, version=version, new_labels=[label])
        except Exception as err:  # noqa: BLE001
            raise classify(err, doing) from err
    after = label_holder(client, name, label)
    if after != version:
        raise LangfuseVerificationError(
            f"Langfuse accepted {doing}, but reading it back shows it on "
            f"{'no version' if after is None else f'version {after}'}; check the prompt in Langfuse before "
            "trusting it")


def rollback_prompt(client: Langfuse, name: str, version: int, label: str = "production") -> RollbackResult:
    """Move `label` to `version` of prompt `name` and verify by reading it back. Idempotent: a label that is
    already there is left alone (and still verified)."""
    before = label_holder(client, name, label)
    move_label(client, name, version, label, before)
    return RollbackResult(name=name, label=label, version=version, previous_version=before, moved=before != version)


def managed_prompt(conn: LangfuseConnection | None, name: str, label: str, default: str) -> tuple[str, str]:
    """(text, where it came from): the Langfuse-managed text prompt `name`@`label` when Langfuse is configured and
    holds it, else `default` (the built-in text), saying why."""
    if conn is None:
        return default, "built-in"
    from langfuse.api import NotFoundError

    try:
        prompt = client_for(conn).get_prompt(name, label=label, type="text", cache_ttl_seconds=0, max_retries=0)
    except NotFoundError:
        return default, f"built-in (Langfuse has no {name}@{label})"
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        return default, f"built-in (Langfuse: {classify(err, f'reading {name}@{label}')})"
    return str(prompt.prompt), f"langfuse {name} v{prompt.version}@{label}"
