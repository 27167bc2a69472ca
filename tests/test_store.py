"""The one store interface, kept by both implementations: the directory (embedded default) and a real PostgreSQL.

Every case runs against both. The PostgreSQL cases use the session's server (tests/servers/postgres.py), each
test in a database of its own; what they check is what a second worker or the CLI on another host would see.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli import build_parser
from cli.common import CliError
from integrations.artefacts import ArtefactStore
from integrations.pgstore import PostgresStore, migrate, migrations
from integrations.store import Store, StoreError, open_store, read_lines
from tests.servers.postgres import PostgresServer

FIREBREAK = str(Path(sys.executable).with_name("firebreak"))


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.url(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["directory", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two handles on one store, as two workers on two hosts would hold."""
    if request.param == "directory":
        yield ArtefactStore(tmp_path / "artefacts"), ArtefactStore(tmp_path / "artefacts")
    else:
        url = request.getfixturevalue("database")
        yield PostgresStore(url), PostgresStore(url)


def test_files_logs_and_listing(stores: tuple[Store, Store]) -> None:
    one, two = stores
    one.write("INC-2026-0001/ticket.json", '{"a": 1}')
    assert two.read_json("INC-2026-0001/ticket.json") == {"a": 1} and two.exists("INC-2026-0001/ticket.json")
    two.write("INC-2026-0001/ticket.json", b'{"a": 2}')  # replaced as a whole
    assert one.read_bytes("INC-2026-0001/ticket.json") == b'{"a": 2}'
    assert two.write_once("INC-2026-0001/briefs/1.md", "first")[1] is True
    assert one.write_once("INC-2026-0001/briefs/1.md", "retry")[1] is False  # a retry keeps the first text
    assert one.read_bytes("INC-2026-0001/briefs/1.md") == b"first"
    assert one.append_once("INC-2026-0001/comms/archive.jsonl", "k1", {"kind": "brief"}) is True
    assert two.append_once("INC-2026-0001/comms/archive.jsonl", "k1", {"kind": "brief"}) is False
    assert two.append_once("INC-2026-0001/comms/archive.jsonl", "k2", {"kind": "page"}) is True
    assert one.find_once("INC-2026-0001/comms/archive.jsonl", "k2") == {"key": "k2", "kind": "page"}
    assert one.find_once("INC-2026-0001/comms/archive.jsonl", "nope") is None
    assert [r["key"] for r in read_lines(two, "INC-2026-0001/comms/archive.jsonl")] == ["k1", "k2"]
    assert read_lines(two, "INC-2026-0001/none.jsonl") == []
    one.write("INC-2026-0002/ticket.json", "{}")
    assert two.list_files("INC-2026-0001") == ["INC-2026-0001/briefs/1.md", "INC-2026-0001/comms/archive.jsonl",
                                               "INC-2026-0001/ticket.json"]
    assert two.list_files("INC-2026-000") == []  # a folder, not a string prefix
    with pytest.raises(FileNotFoundError):
        one.read_bytes("INC-2026-0001/missing.md")
    with pytest.raises(ValueError, match="escapes"):
        one.write("../outside", "x")


def test_local_folder_keeps_what_a_tool_wrote(stores: tuple[Store, Store]) -> None:
    one, two = stores
    one.write("INC-2026-0001/evidence/a.json", "[1]")
    with one.local_folder("INC-2026-0001/evidence") as evidence, one.local_folder("INC-2026-0001/run-1") as run:
        assert (evidence / "a.json").read_text() == "[1]"
        (run / "results.json").write_text('{"ok": true}')
        (run / ".cache").mkdir()
        (run / ".cache" / "db").write_text("tool state")
    assert two.read_json("INC-2026-0001/run-1/results.json") == {"ok": True}
    assert two.list_files("INC-2026-0001/run-1") == ["INC-2026-0001/run-1/results.json"]


def test_numbers_are_unique_gap_free_and_stable_across_handles(stores: tuple[Store, Store]) -> None:
    """Eight threads on two handles allocate for 40 chains, each chain twice: one number per chain, 1..40."""
    one, two = stores
    chains = [f"chain-{i}" for i in range(40)]
    got: dict[str, set[str]] = {c: set() for c in chains}
    lock = threading.Lock()

    def allocate(store: Store, part: list[str]) -> None:
        for chain in part:
            number = store.allocate_number(chain, "INC", 2026)
            with lock:
                got[chain].add(number)

    threads = [threading.Thread(target=allocate, args=(store, chains[i::4]))
               for i in range(4) for store in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(len(numbers) == 1 for numbers in got.values())
    assert sorted(n for (n,) in got.values()) == [f"INC-2026-{i:04d}" for i in range(1, 41)]
    assert one.allocate_number("other-year", "INC", 2027) == "INC-2027-0001"
    assert two.numbers()["chain-7"] == next(iter(got["chain-7"]))


def test_postgresql_keeps_contents_by_their_sha256(database: str) -> None:
    """The blob key is the sha256 the evidence manifest shows; the same content twice is stored once."""
    store = PostgresStore(database)
    content = b'{"observations": []}'
    store.write("INC-2026-0001/evidence/x.json", content)
    store.write("INC-2026-0002/evidence/x.json", content)
    with psycopg.connect(database) as conn:
        blobs = conn.execute("SELECT sha256, size FROM blobs").fetchall()
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert blobs == [(hashlib.sha256(content).hexdigest(), len(content))]
    assert [v for (v,) in versions] == [v for v, _, _ in migrations()]


def test_migrations_run_once_when_workers_start_together(postgres: PostgresServer) -> None:
    """Four connections migrate a fresh database at once: each migration is applied by exactly one of them."""
    url = postgres.url(f"t_{uuid.uuid4().hex[:12]}")
    applied: list[list[int]] = []

    def start() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            applied.append(migrate(conn))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(v for versions in applied for v in versions) == [v for v, _, _ in migrations()]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (len(migrations()),)


def test_a_bad_database_url_is_a_clear_error() -> None:
    refused = r"cannot use the PostgreSQL store \(postgresql://nobody@127.0.0.1:1/x\)"
    with pytest.raises(StoreError, match=refused) as err:
        open_store({"FIREBREAK_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/x"})
    assert "secret" not in str(err.value)
    assert isinstance(open_store({"FIREBREAK_DATABASE_URL": ""}).inner, ArtefactStore)  # type: ignore[attr-defined]


def _seed(store: Store) -> None:
    evidence = b'{"observations": [1]}'
    store.write("INC-2026-0001/ticket.json", "{}")
    store.write("INC-2026-0001/evidence/t.observations.json", evidence)
    store.write("INC-2026-0001/evidence/manifest.json", json.dumps({"incident": "INC-2026-0001", "items": [
        {"name": "t", "path": "INC-2026-0001/evidence/t.observations.json",
         "sha256": hashlib.sha256(evidence).hexdigest()}]}))
    store.append_once("INC-2026-0001/comms/archive.jsonl", "k", {"kind": "brief"})


def _export(*args: str) -> int:
    parsed = build_parser().parse_args(["export", *args])
    return int(parsed.run(parsed))


def test_export_from_the_postgresql_store_on_a_host_without_artefacts(database: str, tmp_path: Path) -> None:
    """`firebreak export` as a subprocess whose home is empty: everything comes from PostgreSQL."""
    _seed(PostgresStore(database))
    env = {**os.environ, "FIREBREAK_HOME": str(tmp_path / "empty"), "FIREBREAK_DATABASE_URL": database}
    done = subprocess.run([FIREBREAK, "export", "INC-2026-0001", "--out", str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "INC-2026-0001"
    manifest = json.loads((folder / "export-manifest.json").read_text())
    assert manifest["evidence_checked"] and manifest["evidence_mismatches"] == []
    assert [f["path"] for f in manifest["files"]] == ["comms/archive.jsonl", "evidence/manifest.json",
                                                      "evidence/t.observations.json", "ticket.json"]
    assert (folder / "comms" / "archive.jsonl").read_text() == '{"key": "k", "kind": "brief"}\n'
    assert not (tmp_path / "empty").exists()


def test_export_zip_from_the_directory_store_names_tampered_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIREBREAK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FIREBREAK_DATABASE_URL", raising=False)
    store = ArtefactStore(tmp_path / "home" / "artefacts")
    _seed(store)
    out = tmp_path / "out"
    assert _export("INC-2026-0001", "--zip", "--out", str(out)) == 0
    store.write("INC-2026-0001/evidence/t.observations.json", b"tampered")
    assert _export("INC-2026-0001", "--zip", "--out", str(out / "again")) == 1
    assert "differs from the evidence manifest" in capsys.readouterr().err
    with zipfile.ZipFile(out / "again" / "INC-2026-0001.zip") as archive:
        assert archive.read("INC-2026-0001/evidence/t.observations.json") == b"tampered"
        manifest = json.loads(archive.read("INC-2026-0001/export-manifest.json"))
    assert manifest["evidence_mismatches"][0]["path"] == "INC-2026-0001/evidence/t.observations.json"
    with pytest.raises(CliError, match="exists already"):
        _export("INC-2026-0001", "--zip", "--out", str(out))
    with pytest.raises(CliError, match="no artefacts for INC-2026-0099"):
        _export("INC-2026-0099", "--out", str(out))


def test_tokens_and_the_deploy_log_are_shared_through_postgresql(database: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A token issued on one host answers on another intake at once, and stops at once when revoked; a Langfuse
    webhook redelivered to a second intake is logged once and read back by a worker elsewhere."""
    from datetime import UTC, datetime

    from intake.tokens import token_store
    from integrations.deploys import last_deploy, read_deploys, record_deploy

    monkeypatch.setenv("FIREBREAK_DATABASE_URL", database)
    issuer, intake = token_store(), token_store()
    token, record = issuer.issue("olu")
    assert intake.person_for(token) == "olu" and intake.person_for(token + "x") is None
    assert [t.id for t in intake.list()] == [record.id] and "personal_tokens" in intake.where
    assert [t.id for t in issuer.revoke("olu")] == [record.id]
    assert intake.person_for(token) is None and intake.revoke("olu") == []

    entry = {"prompt": "support/answer", "version": 13, "labels": ["production"], "at": "2026-11-30T10:00:00Z"}
    assert record_deploy(open_store(), "delivery-1", entry) is True
    assert record_deploy(open_store(), "delivery-1", entry) is False  # redelivered to another intake
    worker = open_store()
    found, truncated = read_deploys(worker, datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [(e["prompt"], e["version"]) for e in found] == [("support/answer", 13)] and not truncated
    last = last_deploy(worker, "support/answer", datetime(2026, 12, 1, tzinfo=UTC))
    assert last is not None and last["version"] == 13
    assert isinstance(worker.inner, PostgresStore) and isinstance(worker, Store)  # type: ignore[attr-defined]
