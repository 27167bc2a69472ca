"""An incident's artefacts out of the store (directory or PostgreSQL) as a folder or a zip, with a manifest.

The manifest lists every file with its sha256 and size, and checks the evidence against the evidence manifest
the investigate step wrote: a file whose hash differs from the one recorded at collection is named.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.store import Store

MANIFEST = "export-manifest.json"


class ExportError(Exception):
    """Nothing to export, or the target is in the way."""


def export_manifest(store: Store, number: str, contents: dict[str, bytes]) -> dict[str, Any]:
    files = [{"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
             for rel, data in sorted(contents.items())]
    by_path = {f"{number}/{f['path']}": f["sha256"] for f in files}
    mismatches = []
    evidence = contents.get("evidence/manifest.json")
    if evidence is not None:
        for item in json.loads(evidence).get("items", []):
            if item.get("path") and item.get("sha256") and by_path.get(item["path"]) != item["sha256"]:
                mismatches.append({"path": item["path"], "recorded": item["sha256"],
                                   "exported": by_path.get(item["path"])})
    return {"incident": number, "exported_at": datetime.now(UTC).isoformat(), "store": store.location(),
            "files": files, "evidence_checked": evidence is not None, "evidence_mismatches": mismatches}


def export_incident(store: Store, number: str, out: Path, as_zip: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write <out>/<number>/ (or <out>/<number>.zip); (what was written, its manifest)."""
    prefix = number.strip("/")
    paths = store.list_files(prefix)
    if not paths or "/" in prefix:
        raise ExportError(f"no artefacts for {number} in {store.location()}")
    contents = {rel[len(prefix) + 1:]: store.read_bytes(rel) for rel in paths}
    manifest = export_manifest(store, prefix, contents)
    contents[MANIFEST] = json.dumps(manifest, indent=2).encode()
    target = out / (f"{prefix}.zip" if as_zip else prefix)
    if target.exists():
        raise ExportError(f"{target} exists already; move it away or export with another --out")
    out.mkdir(parents=True, exist_ok=True)
    if as_zip:
        tmp = target.with_name(f".{target.name}.part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for rel, data in sorted(contents.items()):
                archive.writestr(f"{prefix}/{rel}", data)
        tmp.replace(target)
    else:
        for rel, data in contents.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return target, manifest
