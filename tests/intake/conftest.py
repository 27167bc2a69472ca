"""A real intake (uvicorn on 127.0.0.1) in front of the real dev server, and a worker with the real activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
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
