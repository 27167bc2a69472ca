"""The directory store's incident-number ledger (integrations/number_ledger.py): append-only, read incrementally by
every handle, the old whole-document ledger carried over, a crash's torn line never a number."""

from __future__ import annotations

import json
import os
from pathlib import Path

from integrations.artefacts import ArtefactStore
from integrations.number_ledger import LEDGER, OLD_LEDGER


def test_each_number_appends_one_line_and_rewrites_none(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path)
    store.allocate_number("chain-1", "INC", 2026)
    before = (tmp_path / LEDGER).read_bytes()
    assert store.allocate_number("chain-2", "INC", 2026) == "INC-2026-0002"
    after = (tmp_path / LEDGER).read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1
    assert store.allocate_number("chain-1", "INC", 2026) == "INC-2026-0001"  # a retry: nothing appended
    assert (tmp_path / LEDGER).read_bytes() == after


def test_the_ledger_before_is_carried_over(tmp_path: Path) -> None:
    """A home written by an earlier Firebreak (`_numbers.json`): its incidents keep their numbers and the sequence
    goes on from where it was."""
    (tmp_path / OLD_LEDGER).write_text(json.dumps(
        {"by_chain": {"old-1": "INC-2026-0001", "old-2": "INC-2026-0002", "old-3": "INC-2025-0007"},
         "next": {"2026": 3, "2025": 8}}, indent=1))
    store = ArtefactStore(tmp_path)
    assert store.allocate_number("old-2", "INC", 2026) == "INC-2026-0002"
    assert store.allocate_number("new", "INC", 2026) == "INC-2026-0003"
    assert store.allocate_number("new-25", "INC", 2025) == "INC-2025-0008"
    assert not (tmp_path / OLD_LEDGER).exists()
    assert ArtefactStore(tmp_path).numbers() == {"old-1": "INC-2026-0001", "old-2": "INC-2026-0002",
                                                 "old-3": "INC-2025-0007", "new": "INC-2026-0003",
                                                 "new-25": "INC-2025-0008"}
    assert store.list_files() == []


def test_a_line_torn_by_a_crash_is_never_a_number(tmp_path: Path) -> None:
    one, two = ArtefactStore(tmp_path), ArtefactStore(tmp_path)
    assert one.allocate_number("a", "INC", 2026) == "INC-2026-0001"
    with (tmp_path / LEDGER).open("ab") as fh:  # a writer killed mid-line
        fh.write(b'{"chain": "b", "number": "INC-20')
    assert two.numbers() == {"a": "INC-2026-0001"}
    assert two.allocate_number("c", "INC", 2026) == "INC-2026-0002"
    assert one.allocate_number("d", "INC", 2026) == "INC-2026-0003"
    lines = [json.loads(line) for line in (tmp_path / LEDGER).read_text().splitlines()]
    assert [entry["number"] for entry in lines] == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]


def test_a_ledger_replaced_under_a_handle_is_read_again(tmp_path: Path) -> None:
    """A restore puts back an older ledger while a worker runs: the worker's handle reads the file it now finds."""
    store = ArtefactStore(tmp_path)
    for chain in ("a", "b", "c"):
        store.allocate_number(chain, "INC", 2026)
    older = tmp_path / "older.jsonl"
    older.write_text((tmp_path / LEDGER).read_text().splitlines(keepends=True)[0])
    os.replace(older, tmp_path / LEDGER)
    assert store.numbers() == {"a": "INC-2026-0001"}
    assert store.allocate_number("d", "INC", 2026) == "INC-2026-0002"


def test_a_ledger_replaced_by_a_longer_one_is_read_from_its_start(tmp_path: Path) -> None:
    """A restore from another home puts back a ledger longer than what the handle had read: read from its start,
    not from where the replaced file ended."""
    store = ArtefactStore(tmp_path / "here")
    store.allocate_number("a", "INC", 2026)
    other = ArtefactStore(tmp_path / "there")
    for chain in ("x", "y", "z"):
        other.allocate_number(chain, "OPS", 2026)
    os.replace(tmp_path / "there" / LEDGER, tmp_path / "here" / LEDGER)
    assert store.numbers() == {"x": "OPS-2026-0001", "y": "OPS-2026-0002", "z": "OPS-2026-0003"}
    assert store.allocate_number("a", "INC", 2026) == "INC-2026-0004"
