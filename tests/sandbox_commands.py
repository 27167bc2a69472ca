"""A workflow that sends the SDK every kind of payload-bearing command worker.FirebreakSandbox answers a payload
context for: a local activity, an activity, a child workflow, a timer's summary, a memo, a signal's input and
the result. tests/test_sandbox.py runs it to compare the direct answers with the SDK's own, asked in the sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Child:
    @workflow.run
    async def run(self, text: str) -> str:
        return f"child saw {text}"


@workflow.defn
class EveryCommand:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.signal
    def hear(self, text: str) -> None:
        self.heard.append(text)

    @workflow.run
    async def run(self, text: str) -> list[str]:
        local = await workflow.execute_local_activity(shout, text, start_to_close_timeout=timedelta(seconds=10),
                                                      summary="local")
        remote = await workflow.execute_activity(shout, local, start_to_close_timeout=timedelta(seconds=10),
                                                 summary="remote")
        child = await workflow.execute_child_workflow(Child.run, remote, id=f"{workflow.info().workflow_id}-child")
        workflow.upsert_memo({"seen": child})
        await workflow.sleep(timedelta(minutes=5), summary="a timer")
        await workflow.wait_condition(lambda: bool(self.heard))
        return [local, remote, child, *self.heard]
