"""The training-data watcher's read: the active items of the datasets used as training data, each checked for
personal data or secrets (playbook/redact.py's detectors over its input, expected output and metadata) and for a
restricted tag in its metadata. Only item ids and counts leave this module, never the items' text.

All or nothing, like every watcher read: a page that fails raises, so nothing is decided on part of a dataset.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import NO_SDK_RETRIES, classify
from integrations.langfuse.snapshots import DATASET_PAGE
from playbook.config import TrainingDataWatcher
from playbook.redact import redact_text

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse


@dataclass(frozen=True)
class TrainingScan:
    items: dict[str, dict[str, int]]  # item id -> {"EMAIL": n, ..., "RESTRICTED_TAG": n}, flagged items only
    scanned: int
    truncated: bool


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)


def _tags(metadata: Any, key: str) -> list[str]:
    tags = metadata.get(key) if isinstance(metadata, dict) else None
    return [str(t).lower() for t in tags] if isinstance(tags, list) else []


def scan_training(client: Langfuse, watcher: TrainingDataWatcher) -> TrainingScan:
    wanted, restricted = set(watcher.pii_kinds), {t.lower() for t in watcher.restricted_tags}
    flagged: dict[str, dict[str, int]] = {}
    scanned, truncated = 0, False
    for name in watcher.datasets:
        for page in range(1, watcher.max_items // DATASET_PAGE + 3):
            try:
                answer = client.api.dataset_items.list(dataset_name=name, page=page, limit=DATASET_PAGE,
                                                       request_options=NO_SDK_RETRIES)
            except Exception as err:  # noqa: BLE001
                raise classify(err, f"reading items of training dataset {name} (page {page})") from err
            for item in answer.data:
                if scanned >= watcher.max_items:
                    truncated = True
                    break
                scanned += 1
                if str(item.status).upper().endswith("ARCHIVED"):
                    continue
                counts: Counter[str] = Counter()
                for part in (item.input, item.expected_output, item.metadata):
                    redact_text(_text(part), counts)
                hits = {k: n for k, n in sorted(counts.items()) if k in wanted and n}
                tagged = sum(1 for t in _tags(item.metadata, watcher.tag_key) if t in restricted)
                if tagged:
                    hits["RESTRICTED_TAG"] = tagged
                if hits:
                    flagged[str(item.id)] = hits
            if truncated or answer.meta.total_pages <= page or not answer.data:
                break
    return TrainingScan(items=flagged, scanned=scanned, truncated=truncated)
