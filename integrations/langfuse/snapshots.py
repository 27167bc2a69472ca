"""The prompt versions an incident involves and a dataset as it was at detection, for the evidence pack."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from integrations.langfuse.client import classify
from integrations.langfuse.formats import dump, iso
from playbook.redact import redact_text, redact_value

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

PROMPT_EXCERPT = 200
DATASET_PAGE = 100


def _prompt_text_digest(prompt: Any) -> dict[str, Any]:
    """The prompt text as its sha256 and its first PROMPT_EXCERPT characters, redacted: enough to recognise a
    version and match it with the deploy log (which keeps the sha256 only), not a copy of the prompt."""
    raw = getattr(prompt, "prompt", None)
    text = raw if isinstance(raw, str) else json.dumps(
        [m.dict(by_alias=True, exclude_none=True) if hasattr(m, "dict") else m for m in (raw or [])],
        sort_keys=True, default=str)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text),
            "excerpt": redact_text(text)[:PROMPT_EXCERPT]}  # redacted whole first: a cut never splits an address


def read_prompt(client: Langfuse, name: str, version: int | None, label: str | None) -> dict[str, Any] | None:
    from langfuse.api import NotFoundError

    try:
        # The raw API call does not encode the name (the SDK's get_prompt does): a name may hold a "/".
        prompt = client.api.prompts.get(quote(name, safe=""), version=version, label=label)
    except NotFoundError:
        return None
    except Exception as err:  # noqa: BLE001
        raise classify(err, f"reading {name} {'version ' + str(version) if version else label}") from err
    return {"version": int(prompt.version), "type": getattr(prompt, "type", None), "labels": list(prompt.labels),
            "tags": list(prompt.tags), "commitMessage": prompt.commit_message, "config": prompt.config,
            "text": _prompt_text_digest(prompt)}


def collect_prompts(client: Langfuse, variables: Mapping[str, object]) -> tuple[bytes, str] | None:
    """The prompt versions involved: the detection's (prompt_name / prompt_version), the one labelled production
    now, and the service's known-good one, each with labels, commit message, config and the text's digest.
    None when the incident names no prompt."""
    wanted: dict[str, dict[str, set[str]]] = {}  # name -> {"version:<n>" | "label:production": {roles}}

    def want(name: object, version: object, role: str) -> None:
        if not name or not str(name).strip():
            return
        roles = wanted.setdefault(str(name).strip(), {"label:production": {"production now"}})
        try:
            number = int(str(version)) if version not in (None, "") else None
        except ValueError:
            number = None
        if number is not None:
            roles.setdefault(f"version:{number}", set()).add(role)

    want(variables.get("prompt_name"), variables.get("prompt_version"), "detected")
    want(variables.get("known_good_prompt_name"), variables.get("known_good_prompt_version"), "known good")
    if not wanted:
        return None
    prompts: dict[str, list[dict[str, Any]]] = {}
    lines: list[str] = []
    for name, refs in wanted.items():
        by_version: dict[int, dict[str, Any]] = {}
        missing: list[dict[str, Any]] = []
        for ref, roles in sorted(refs.items()):
            kind, _, value = ref.partition(":")
            found = read_prompt(client, name, int(value) if kind == "version" else None,
                                 value if kind == "label" else None)
            if found is None:
                missing.append({"ref": ref.replace(":", " "), "roles": sorted(roles), "error": "not found (404)"})
                continue
            entry = by_version.setdefault(found["version"], {**found, "roles": []})
            entry["roles"] = sorted(set(entry["roles"]) | roles)
        prompts[name] = [*(by_version[v] for v in sorted(by_version, reverse=True)), *missing]
        shown = [f"v{e['version']} ({', '.join(e['roles'])})" for e in prompts[name] if "version" in e]
        shown += [f"{m['ref']} ({', '.join(m['roles'])}) not found" for m in missing]
        lines.append(f"{name}: {'; '.join(shown)}")
    return dump(redact_value({"prompts": prompts})), "prompt versions: " + " | ".join(lines)


def collect_dataset(client: Langfuse, name: str, as_of: datetime, max_items: int) -> tuple[bytes, str]:
    """The dataset's items as they were at `as_of` (the dataset-items API's `version`, what the SDK's
    `get_dataset(name, version=...)` sends), page by page up to `max_items`. All or nothing: a page that fails
    raises, so a partial dataset is never stored as the whole; a dataset over the cap says truncated."""
    try:
        dataset = client.api.datasets.get(quote(name, safe=""))
    except Exception as err:  # noqa: BLE001
        raise classify(err, f"reading dataset {name}") from err
    items: list[dict[str, Any]] = []
    truncated, total = False, 0
    for page in range(1, max_items // DATASET_PAGE + 3):  # bounded: never more pages than the cap needs
        try:
            answer = client.api.dataset_items.list(dataset_name=name, version=as_of, page=page, limit=DATASET_PAGE)
        except Exception as err:  # noqa: BLE001
            raise classify(err, f"reading items of dataset {name} (page {page}, after {len(items)} item(s))"
                            ) from err
        items.extend(i.dict(by_alias=True, exclude_none=True) for i in answer.data)
        total = int(answer.meta.total_items)
        if len(items) >= max_items:
            truncated = len(items) > max_items or answer.meta.total_pages > page
            items = items[:max_items]
            break
        if answer.meta.total_pages <= page or not answer.data:
            break
    else:
        truncated = True
    counts: Counter[str] = Counter()
    safe = redact_value(items, counts)
    archived = sum(1 for i in items if str(i.get("status")) in ("ARCHIVED", "DatasetStatus.ARCHIVED"))
    cut = f" (truncated at {len(items)} of {total})" if truncated else ""
    summary = (f"dataset {name} as of {iso(as_of)}: {len(items)} item(s){f', {archived} archived' if archived else ''}"
               f"{cut}")
    content = {"dataset": redact_value(dataset.dict(by_alias=True, exclude_none=True)), "as_of": iso(as_of),
               "truncated": truncated, "total_items": total, "item_count": len(items),
               "redactions": dict(sorted(counts.items())), "items": safe}
    return dump(content), summary
