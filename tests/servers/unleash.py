"""The real Unleash server (npm unleash-server, `make unleash` installs it under tools/unleash) on its own PostgreSQL
(Debian's postgresql 15), one per test session on free 127.0.0.1 ports, both stopped at the end. PostgreSQL refuses
to run as root, so as root (CI) it runs as the `postgres` user. Skipped when either is not installed.

Unleash creates its schema on start (about 20 s here); the admin token comes from `initApiTokens`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
UNLEASH_DIR = REPO / "tools" / "unleash"
NODE = REPO / "tools" / "promptfoo" / "node_modules" / ".bin" / "node"  # Node 22 (unleash-server 8 needs >= 22)
TOKEN = "*:*.firebreak-tests-admin-token"
START_SECONDS = 90.0


@dataclass(frozen=True)
class UnleashServer:
    url: str
    token: str = TOKEN


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _start_postgres(folder: Path) -> tuple[Path, int, str]:
    """initdb, start and createdb; `folder` is outside pytest's root-only temporary tree, for the postgres user."""
    port, user = free_port(), ("postgres" if os.geteuid() == 0 else "firebreak")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run(_as_pg([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync",
                           "-E", "UTF8"]), check=True, capture_output=True, timeout=60)
    subprocess.run(_as_pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "30",
                           "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
                   check=True, capture_output=True, timeout=60)
    subprocess.run(_as_pg([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, "unleash"]),
                   check=True, capture_output=True, timeout=30)
    return data, port, user


def _stop_postgres(data: Path) -> None:
    subprocess.run(_as_pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                   capture_output=True, timeout=30)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:  # bounded: migrations take about 20 s
        if proc.poll() is not None:
            raise RuntimeError(f"unleash-server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"unleash-server did not become healthy within {START_SECONDS}s")


@pytest.fixture(scope="session")
def unleash_server() -> Iterator[UnleashServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 is not installed at {PG_BIN}")
    if not (UNLEASH_DIR / "node_modules" / "unleash-server").exists() or not NODE.exists():
        pytest.skip("unleash-server is not installed: make unleash")
    folder = Path(tempfile.mkdtemp(prefix="firebreak-unleash-pg-"))
    try:
        data, db_port, user = _start_postgres(folder)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {err.cmd[-1]}: {err.stderr.decode()[-500:]}") from err
    port = free_port()
    env = {**os.environ, "UNLEASH_DB_PORT": str(db_port), "UNLEASH_DB_USER": user, "UNLEASH_DB_NAME": "unleash",
           "UNLEASH_PORT": str(port), "UNLEASH_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen([str(NODE), "run.js"], cwd=UNLEASH_DIR, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, url)
        yield UnleashServer(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        _stop_postgres(data)
        shutil.rmtree(folder, ignore_errors=True)
