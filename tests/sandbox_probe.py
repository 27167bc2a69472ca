"""A workflow room that reads the wall clock itself (`datetime.now()`), the mistake the sandbox exists to catch:
on replay it would answer differently. tests/test_sandbox.py treats this module as one of the rooms the worker
passes through the sandbox (worker.PASSED_THROUGH) and checks that the tests' strict sandbox still fails it."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


def opened_at() -> str:
    return datetime.now().isoformat()  # non-deterministic: workflow code must use workflow.now()


@workflow.defn
class ClockInARoom:
    @workflow.run
    async def run(self) -> str:
        return opened_at()
