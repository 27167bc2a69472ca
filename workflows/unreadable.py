"""Input a workflow cannot read fails visibly: a failed workflow that says what could not be read, never a silent
retry.

Firebreak's workflows take their start input as the JSON they were started with (a parameter typed `Any`) and
validate it here, in workflow code. Left to the SDK's decoding, a ValidationError fails the first workflow task, and
Temporal retries a failing workflow task forever without a word (no number, no ticket, no page). Here it is an
error in the worker's log (workflow.logger: the incident's id comes with it) and a non-retryable ApplicationError
that fails the workflow with the fields and values it could not read; `firebreak ls --all`, `firebreak show`, the
Temporal UI and `temporal workflow describe` show it Failed with that message. A run already retrying when this
code is deployed fails at its next attempt (no command was recorded before, so nothing to replay differently).

Alerts in an incident's batch signal are read one by one with `describe` (workflows/incident/alerts.py,
`readable_alerts`): one that cannot be read is dropped with a warning and a timeline entry, and the others count.
A single signal the SDK cannot decode is dropped by the SDK itself with an error in the log ("Failed
deserializing signal input ..., dropping the signal"); the incident goes on.
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

UNREADABLE = "UnreadableInput"
M = TypeVar("M", bound=BaseModel)


def describe(err: ValidationError, limit: int = 5) -> str:
    """'detection.metrics.toxicity_p95: Input should be a valid number (got None)', for each problem."""
    parts = []
    for problem in err.errors()[:limit]:
        where = ".".join(str(p) for p in problem["loc"]) or "(the whole input)"
        got = repr(problem.get("input"))
        parts.append(f"{where}: {problem['msg']} (got {got[:80] + '...' if len(got) > 80 else got})")
    more = err.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more problem(s)" if more > 0 else "")


def read_input(model: type[M], raw: Any, what: str) -> M:
    """`raw` as `model`, or fail the workflow (after an error in the log) saying what could not be read."""
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        message = f"{what} cannot be read, so it fails instead of running: {describe(err)}"
        workflow.logger.error(message)
        raise ApplicationError(message, type=UNREADABLE, non_retryable=True) from None

