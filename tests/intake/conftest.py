"""A real intake (uvicorn on 127.0.0.1) in front of the real dev server, and a worker with the real activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from tests.intake.board_stack import Stack, board_stack
from tests.intake.support import Running, config, secrets, serving
from tests.support import incident_worker, write_playbook


@pytest_asyncio.fixture
async def api(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Running]:
    cfg = config()
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as running:
        yield running


@pytest_asyncio.fixture
async def worker(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> AsyncIterator[None]:
    async with incident_worker(dev_env.client, task_queue, write_playbook(tmp_path), home):
        yield


@pytest_asyncio.fixture(scope="session")
async def board(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One board stack for every board test (tests/intake/board_stack.py)."""
    async with board_stack(dev_env.client, tmp_path_factory.mktemp("board")) as stack:
        yield stack
