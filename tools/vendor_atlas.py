"""Regenerate playbook/atlas.py from MITRE ATLAS's machine-readable release: the ids and names only.

    python tools/vendor_atlas.py path/to/ATLAS.yaml [commit] > playbook/atlas.py

ATLAS.yaml is `dist/ATLAS.yaml` of github.com/mitre-atlas/atlas-data (Apache-2.0).
"""

from __future__ import annotations

import json
import sys

import yaml


def main(path: str, commit: str = "") -> None:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    matrix = data["matrices"][0]
    print(f'''"""MITRE ATLAS tactic and technique ids with their names, to validate the risk register's ATLAS ids.

Vendored by tools/vendor_atlas.py from mitre-atlas/atlas-data `dist/ATLAS.yaml`, ATLAS {data["version"]}, Apache-2.0
(commit {commit or "unknown"}).
Ids and names only; descriptions live at atlas.mitre.org.
"""

from __future__ import annotations

ATLAS_VERSION = "{data["version"]}"

ATLAS_TACTICS: dict[str, str] = {{''')
    for t in sorted(matrix["tactics"], key=lambda t: t["id"]):
        print(f'    "{t["id"]}": {json.dumps(t["name"])},')
    print("}\n\nATLAS_TECHNIQUES: dict[str, str] = {")
    for t in sorted(matrix["techniques"], key=lambda t: t["id"]):
        print(f'    "{t["id"]}": {json.dumps(t["name"])},')
    print("}")


if __name__ == "__main__":
    main(*sys.argv[1:])
