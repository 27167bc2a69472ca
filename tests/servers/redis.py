"""A real redis-server (Debian's package, `make redis` installs it) for the tests: one per test session on a free
127.0.0.1 port, no persistence, stopped at the end. Tests that need it are skipped when the binary is missing."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support import free_port

BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"
START_SECONDS = 10.0


@dataclass(frozen=True)
class RedisServer:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def start(folder: Path) -> tuple[subprocess.Popen[bytes], RedisServer]:
    port = free_port()
    proc = subprocess.Popen([BINARY, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder), "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = RedisServer(port)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:  # bounded: up to START_SECONDS for the first PING
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if server.client().ping():
                return proc, server
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} within {START_SECONDS}s")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not Path(BINARY).exists():
        pytest.skip("redis-server is not installed (make redis installs Debian's as root)")
    proc, server = start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
