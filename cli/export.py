"""`firebreak export INC`: an incident's artefacts, from whichever store this host points at, as files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from cli.common import CliError
from integrations import audit
from integrations.export import ExportError, export_incident
from integrations.store import StoreError, open_store


def cmd_export(args: argparse.Namespace) -> int:
    try:
        store = open_store()
        target, manifest = export_incident(store, args.incident, args.out, as_zip=args.zip)
    except (ExportError, StoreError) as err:
        raise CliError(str(err)) from err
    origin = audit.here("cli")
    who = settings.read(settings.USER) or origin.split(" ", 1)[1].split("@", 1)[0]
    audit.safely(lambda: audit.record(store, "export", who, origin, args.incident, {
        "to": str(target), "files": len(manifest["files"]),
        "evidence_mismatches": len(manifest["evidence_mismatches"])}), "export")
    print(f"{args.incident}: {len(manifest['files'])} file(s) written to {target} (manifest: export-manifest.json)")
    for bad in manifest["evidence_mismatches"]:
        print(f"firebreak: {bad['path']}: sha256 {bad['exported']} differs from the evidence manifest's "
              f"{bad['recorded']}", file=sys.stderr)
    return 1 if manifest["evidence_mismatches"] else 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """export"""
    export = subs.add_parser("export", help="write an incident's artefacts (ticket, briefs, comms, evidence, "
                             "retrospective) as a folder or a zip with a manifest of sha256 hashes")
    export.add_argument("incident", metavar="INC", help="the incident number, e.g. INC-2026-0001")
    export.add_argument("--zip", action="store_true", help="one <INC>.zip instead of a folder")
    export.add_argument("--out", type=Path, default=Path("."), help="where to write it (default: here)")
    export.set_defaults(run=cmd_export)
