"""Evidence sources: fetch one configured source (HTTP GET or local file) as bytes."""

from __future__ import annotations

import glob
from pathlib import Path

import httpx

from playbook.config import EvidenceSource, render_template

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024


class SourceError(Exception):
    pass


def fetch_source(source: EvidenceSource, variables: dict[str, object]) -> tuple[str, bytes]:
    """(where it came from, content); SourceError says why not."""
    if source.kind == "http":
        url = render_template(source.url or "", variables)
        try:
            response = httpx.get(url, headers=source.headers, timeout=15.0)
        except httpx.HTTPError as err:
            raise SourceError(f"GET {url} failed: {err}") from err
        if response.status_code != 200:
            raise SourceError(f"GET {url} answered {response.status_code}")
        return url, response.content[:MAX_EVIDENCE_BYTES]
    pattern = render_template(source.path or "", variables)
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise SourceError(f"no file matches {pattern}")
    chunks = []
    for match in matches:
        chunks.append(f"==> {match} <==\n".encode() + Path(match).read_bytes()[:MAX_EVIDENCE_BYTES])
    return pattern, b"\n".join(chunks)[:MAX_EVIDENCE_BYTES]
