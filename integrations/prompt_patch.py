"""Prompt patches as Langfuse candidates, and undoing label moves.

A patch becomes a new prompt version labelled `candidate`, whose commit message carries the incident's
idempotency key: before creating, the newest versions are searched for that key, so a retried activity finds
its earlier version instead of making a second one. The create call itself is sent without the SDK's own
retries (it retries 5xx answers, and a create whose answer was lost would otherwise be made twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from integrations.langfuse.client import LangfuseRejected, classify
from integrations.langfuse.prompts import label_holder, move_label

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

SEARCH_VERSIONS = 50   # newest versions searched for the incident's key


def commit_message(key: str, incident_number: str) -> str:
    return f"firebreak {incident_number}: candidate patch [{key}]"


def versions_of(client: Langfuse, name: str) -> list[int]:
    try:
        page = client.api.prompts.list(name=name, limit=50)
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        raise classify(err, f"listing versions of {name}") from err
    found = [int(v) for meta in page.data if meta.name == name for v in meta.versions]
    return sorted(set(found), reverse=True)


def find_candidate(client: Langfuse, name: str, key: str) -> int | None:
    """The newest version of `name` whose commit message carries `key`, if any."""
    from langfuse.api import NotFoundError

    marker = f"[{key}]"
    for version in versions_of(client, name)[:SEARCH_VERSIONS]:
        try:
            # The raw API call does not encode the name (the SDK's get_prompt does): a name may hold a "/".
            prompt = client.api.prompts.get(quote(name, safe=""), version=version)
        except NotFoundError:
            continue
        except Exception as err:  # noqa: BLE001
            raise classify(err, f"reading {name} version {version}") from err
        if marker in (getattr(prompt, "commit_message", None) or ""):
            return version
    return None


@dataclass(frozen=True)
class Candidate:
    name: str
    version: int
    created: bool


def create_candidate(client: Langfuse, name: str, text: str, key: str, incident_number: str,
                     label: str = "candidate") -> Candidate:
    """The candidate version for this incident's patch: found by its key, else created with `label`; the label
    is verified by reading it back."""
    from langfuse.api import CreateTextPromptRequest

    if not text.strip():
        raise LangfuseRejected(f"the patched text for {name} is empty")
    version = find_candidate(client, name, key)
    created = version is None
    if version is None:
        request = CreateTextPromptRequest(name=name, prompt=text, labels=[label],
                                          commit_message=commit_message(key, incident_number))
        try:
            made = client.api.prompts.create(request=request, request_options={"max_retries": 0})
        except Exception as err:  # noqa: BLE001
            raise classify(err, f"creating a candidate version of {name}") from err
        version = int(made.version)
    # A new version was created with the label; a found one may have lost it since.
    move_label(client, name, version, label, version if created else label_holder(client, name, label))
    return Candidate(name=name, version=version, created=created)


@dataclass(frozen=True)
class UndoResult:
    moved: bool
    detail: str


def undo_label_move(client: Langfuse, name: str, label: str, restore: int, expect: int | None) -> UndoResult:
    """Move `label` back to `restore`, only if it is still where the mitigation left it (`expect`): a label
    someone has moved since is theirs, and moving it would clobber their change. Idempotent and verified."""
    now = label_holder(client, name, label)
    if now == restore:
        return UndoResult(False, f"the {label} label of {name} is already on version {restore} (verified)")
    if expect is not None and now != expect:
        where = "no version" if now is None else f"version {now}"
        raise LangfuseRejected(f"the {label} label of {name} is on {where}, not on version {expect} where the "
                               "mitigation left it; not moving it (someone changed it since), check Langfuse")
    move_label(client, name, restore, label, now)
    return UndoResult(True, f"moved the {label} label of {name} from version {now} back to version {restore} "
                            "(verified)")
