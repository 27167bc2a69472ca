"""The further parts of a langfuse evidence source: the cost/latency series, the prompt versions and the datasets
as of detection. Each part fails on its own, never the pack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from integrations.langfuse.client import LangfuseError, base_url_of, client_for
from integrations.langfuse.evidence import blast_window, follows
from integrations.langfuse.formats import iso
from integrations.langfuse.monitor_series import collect_monitor_series
from integrations.langfuse.monitor_slice import MonitorSlice
from integrations.langfuse.series import collect_series
from integrations.langfuse.snapshots import collect_dataset, collect_prompts
from playbook.config import EvidenceSource, render_template


@dataclass(frozen=True)
class EvidencePart:
    """One more item of a langfuse evidence source: its content and one-line summary, or the error that stopped it
    (each part fails on its own, never the pack)."""

    suffix: str
    where: str
    content: bytes | None = None
    summary: str | None = None
    error: str | None = None


def collect_langfuse_extras(source: EvidenceSource, variables: Mapping[str, object], detected_at: datetime,
                            now: datetime | None = None, scope: MonitorSlice | None = None) -> list[EvidencePart]:
    """The cost/latency series (of the monitor's slice when the incident came from a monitor), the prompt
    versions and the datasets as of detection, each its own part: one that fails is returned with its error and
    the others still come."""
    base = base_url_of(source)
    try:
        client = client_for(source)
    except LangfuseError as err:
        return [EvidencePart(suffix="extras", where=f"langfuse:{base}", error=str(err))]
    window = blast_window(source, detected_at, now, scope)
    parts: list[EvidencePart] = []
    if source.series:
        where = f"{base}/api/public/v2/metrics"
        try:
            if scope is not None and follows(scope):
                content, summary = collect_monitor_series(client, scope, window, source.series_granularity)
            else:
                content, summary = collect_series(client, source, variables, window)
            parts.append(EvidencePart("series.json", where, content, summary))
        except LangfuseError as err:
            parts.append(EvidencePart("series.json", where, error=str(err)))
    if source.prompt_versions:
        where = f"{base}/api/public/v2/prompts"
        try:
            found = collect_prompts(client, variables)
            if found is not None:
                parts.append(EvidencePart("prompts.json", where, found[0], found[1]))
        except LangfuseError as err:
            parts.append(EvidencePart("prompts.json", where, error=str(err)))
    for raw in source.datasets:
        name = render_template(raw, variables).strip()
        if not name:
            continue
        where = f"{base}/api/public/v2/datasets/{quote(name, safe='')}?version={iso(detected_at)}"
        suffix = f"dataset.{name}.json"
        try:
            content, summary = collect_dataset(client, name, detected_at, source.max_dataset_items)
            parts.append(EvidencePart(suffix, where, content, summary))
        except LangfuseError as err:
            parts.append(EvidencePart(suffix, where, error=str(err)))
    return parts
