"""The real Unleash server (npm unleash-server, `make unleash` installs it under tools/unleash) on the session's
PostgreSQL (tests/servers/postgres.py, Debian's postgresql run as a non-root user), one per test session on a free
127.0.0.1 port, stopped at the end. Skipped when Unleash is not installed (and, outside CI, when PostgreSQL is not).

Unleash creates its schema on start (about 20 s here); the admin token comes from `initApiTokens`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers.postgres import PostgresServer
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
UNLEASH_DIR = REPO / "tools" / "unleash"
NODE = REPO / "tools" / "promptfoo" / "node_modules" / ".bin" / "node"  # Node 22 (unleash-server 8 needs >= 22)
TOKEN = "*:*.firebreak-tests-admin-token"
START_SECONDS = 90.0


@dataclass(frozen=True)
class UnleashServer:
    url: str
    token: str = TOKEN


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
def unleash_server(postgres: PostgresServer) -> Iterator[UnleashServer]:
    if not (UNLEASH_DIR / "node_modules" / "unleash-server").exists() or not NODE.exists():
        pytest.skip("unleash-server is not installed: make unleash")
    postgres.url("unleash")  # created on first use
    port = free_port()
    env = {**os.environ, "UNLEASH_DB_PORT": str(postgres.port),
           "UNLEASH_DB_USER": postgres.user, "UNLEASH_DB_NAME": "unleash",
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
