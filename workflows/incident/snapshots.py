"""One copy of each playbook snapshot per worker process, shared by the incidents that took it.

Every incident snapshots the playbook when it opens (its replay must not change with a later edit), so a worker
holding 1,000 incidents decoded 1,000 equal copies (16 to 40 kB each). Equal snapshots are the same playbook, and
workflow code only reads it (changes are made on copies: `model_copy(update=...)`), so one object serves them all.
Keyed by the snapshot's JSON, so two different playbooks never share. With the workflow code passed through the
sandbox (worker.py) the table is the process's; the strict sandbox re-imports this module per run, where it
shares nothing and changes nothing.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook.config import Playbook

KEEP = 64  # distinct playbooks remembered; a worker serves one or a few (more only across many edits)
_shared: dict[str, Playbook] = {}


def shared(playbook: Playbook) -> Playbook:
    """The worker's copy equal to `playbook` (this one, if it is the first)."""
    key = playbook.model_dump_json()
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= KEEP:
        _shared.clear()  # a rare edit storm: start over (incidents keep the copies they hold)
    return _shared.setdefault(key, playbook)
