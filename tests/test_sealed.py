"""Encryption at rest: evidence, comms and retrospectives written through the store are ciphertext on disk and in
PostgreSQL when the codec keys are set; `firebreak export` (a real subprocess) reads them back with the evidence
manifest checked; rotation (a new key first, the old one after it) reads both; a missing key is a clear error."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from integrations.sealed import SealedError
from integrations.store import Store, open_store
from tests.servers.postgres import PostgresServer

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
OLD, NEW = f"k1:{base64.b64encode(os.urandom(32)).decode()}", f"k2:{base64.b64encode(os.urandom(32)).decode()}"
SECRET = "customer jane.roe@example.com saw the leaked answer"
N = "INC-2026-0001"


@pytest.fixture(params=["directory", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "FIREBREAK_HOME": str(tmp_path / "home"), "FIREBREAK_DATABASE_URL": ""}
    env.pop("FIREBREAK_CODEC_KEY_FILE", None)
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        env["FIREBREAK_DATABASE_URL"] = server.url(f"t_{uuid.uuid4().hex[:12]}")
    return env


def store_with(env: dict[str, str], keys: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    for name, value in env.items():
        if name.startswith("FIREBREAK_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", keys)
    return open_store()


def at_rest(env: dict[str, str]) -> bytes:
    """Every byte the store keeps, as it is kept: the files on disk, or the rows in PostgreSQL."""
    url = env["FIREBREAK_DATABASE_URL"]
    if not url:
        return b"".join(p.read_bytes() for p in Path(env["FIREBREAK_HOME"]).rglob("*") if p.is_file())
    with psycopg.connect(url) as conn:
        blobs = [bytes(r[0]) for r in conn.execute("SELECT content FROM blobs")]
        lines = [r[0].encode() for r in conn.execute("SELECT line FROM log_lines")]
    return b"".join(blobs + lines)


def export(env: dict[str, str], keys: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FIREBREAK, "export", N, "--out", str(out)], capture_output=True, text=True, timeout=60,
                          env={**env, "FIREBREAK_CODEC_KEYS": keys}, stdin=subprocess.DEVNULL)


def test_incident_content_is_ciphertext_at_rest_and_readable_with_the_keys(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_with(env, OLD, monkeypatch)
    evidence = SECRET.encode() + b" (evidence)"
    store.write(f"{N}/evidence/traces.json", evidence)
    store.write(f"{N}/evidence/manifest.json", json.dumps({"items": [
        {"path": f"{N}/evidence/traces.json", "sha256": hashlib.sha256(evidence).hexdigest()}]}))
    store.append_once(f"{N}/comms/archive.jsonl", "brief-1", {"text": SECRET + " (brief)"})
    store.write(f"{N}/retrospective.md", SECRET + " (retrospective)")
    store.write(f"{N}/ticket.json", '{"title": "not sealed"}')

    kept = at_rest(env)
    assert SECRET.encode() not in kept and b"k1\n" in kept  # the key id is in the header
    assert b"not sealed" in kept  # only incident content is sealed
    assert store.find_once(f"{N}/comms/archive.jsonl", "brief-1") == {"key": "brief-1", "text": SECRET + " (brief)"}
    with store.local_folder(f"{N}/evidence") as folder:  # tools (promptfoo) see plaintext
        assert (folder / "traces.json").read_bytes() == evidence

    # Rotation: the new key first, the old one after it. Old files read; new ones are written with the new key.
    rotated = store_with(env, f"{NEW},{OLD}", monkeypatch)
    rotated.write(f"{N}/evidence/later.txt", SECRET + " (later)")
    assert rotated.read_bytes(f"{N}/evidence/traces.json") == evidence
    assert b"k2\n" in at_rest(env) and SECRET.encode() not in at_rest(env)
    done = export(env, f"{NEW},{OLD}", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / N
    assert (folder / "evidence" / "traces.json").read_bytes() == evidence
    assert SECRET in (folder / "comms" / "archive.jsonl").read_text()
    assert (folder / "retrospective.md").read_text() == SECRET + " (retrospective)"
    manifest = json.loads((folder / "export-manifest.json").read_text())
    assert manifest["evidence_checked"] and manifest["evidence_mismatches"] == []

    # The old key dropped too early, or no keys at all: a clear error naming the key id, never ciphertext.
    missing = export(env, NEW, tmp_path / "out2")
    assert missing.returncode == 1
    assert "encrypted with key id 'k1', which is not configured (configured: k2)" in missing.stderr
    with pytest.raises(SealedError, match="key id 'k2', which is not configured \\(configured: none\\)"):
        store_with(env, "", monkeypatch).read_bytes(f"{N}/evidence/later.txt")
