"""The regression gate never passes on a run that tested nothing or whose provider failed, with the real promptfoo
CLI (0.123.1, installed by `make`).

What promptfoo does, read in its dist and seen here: a run of zero cases exits 0 (its pass rate is NaN), a test list
that is empty runs one case with no assertion that passes ("No assertions"), and a provider error counts against the
pass rate (exit 100) as an error, not a failure -- once the http provider is told which statuses are errors.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from integrations.promptfoo import build_suite, run_suite
from playbook.config import PromptfooRegressionAction
from playbook.models import Severity, SignalKind
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401
from tests.support import wait_for
from tests.test_remedy import regression_setup, resolve

CASES = [{"trace_id": "a", "input": "where is my refund?"}, {"trace_id": "b", "input": "reset my password"}]


def _run(tmp_path: Path, suite: dict[str, Any]) -> Any:
    config = tmp_path / "promptfooconfig.json"
    config.write_text(json.dumps(suite), encoding="utf-8")
    return run_suite(config, tmp_path / "results.json", 120)


def test_a_run_of_no_case_exits_0_and_does_not_pass(tmp_path: Path) -> None:
    # No tests and no scenarios: promptfoo has nothing to run and exits 0.
    result = _run(tmp_path, {"prompts": ["{{input}}"], "providers": [{"id": "echo"}], "tests": [], "scenarios": []})
    assert (result.exit_code, result.successes, result.failures, result.errors) == (0, 0, 0, 0)
    assert not result.passed


def test_a_case_without_assertions_does_not_pass(tmp_path: Path) -> None:
    # An empty test list: promptfoo runs the prompt once with no assertion and calls it a pass.
    result = _run(tmp_path, {"prompts": ["{{input}}"], "providers": [{"id": "echo"}], "tests": []})
    assert (result.exit_code, result.successes, result.unasserted) == (0, 1, 1)
    assert not result.passed


def test_a_provider_answering_500_is_an_error_not_a_regression(tmp_path: Path) -> None:
    from tests.test_remedy import candidate_endpoint

    with candidate_endpoint() as cand:
        cand.status = 500
        action = PromptfooRegressionAction(evidence="traces", provider_url=f"{cand.url}/answer")
        result = _run(tmp_path, build_suite("INC-9", "toxicity", action, CASES))
    assert len(cand.requests) >= 2
    assert (result.exit_code, result.successes, result.failures, result.errors) == (100, 0, 0, 2)
    assert not result.passed
    assert all(reason.startswith("provider error: HTTP call failed with status 500") for _, reason in result.failed)


async def test_the_timeline_says_a_provider_error_failed_the_gate(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with regression_setup(tmp_path, monkeypatch) as (cand, playbook):
        cand.status = 500
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2, kind=SignalKind.TOXICITY)
            state = await wait_for(handle, lambda s: bool(s.regressions), ts_env, step=timedelta(seconds=5),
                                   attempts=600)
            run = state.regressions[0]
            assert (run.passed, run.errors, run.failures) == (False, 2, 0), run
            entry = next(e for e in state.timeline if e.what == "regression_suite: failed")
            assert "a provider error, not a regression, failed the gate" in entry.details["detail"], entry
            accepted, message = await resolve(handle)
            assert not accepted and "a provider error, not a regression" in message
