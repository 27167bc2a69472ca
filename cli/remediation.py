"""Remediation: `firebreak retest` (run the regression suite again) and `firebreak patch` (a new prompt text)."""

from __future__ import annotations

import argparse

from cli.common import CliError, _human, _read_text, _send
from client.workflow_types import IncidentWorkflow
from playbook.models import HumanAction
from playbook.remedy import PATCH_TEXT_LIMIT, PatchText


async def cmd_retest(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.retest,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.comment))


async def cmd_patch(args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    if not text.strip():
        raise CliError(f"{args.file} is empty", 2)
    if len(text) > PATCH_TEXT_LIMIT:
        raise CliError(f"{args.file} has {len(text)} characters; a patch text takes at most {PATCH_TEXT_LIMIT}", 2)
    return await _send(args, IncidentWorkflow.patch, lambda by, role, aid: PatchText(
        by=by, role=role, action_id=aid, comment=args.comment, text=text, action=args.action or ""))


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """retest, patch"""
    retest = subs.add_parser("retest", help="run the incident's promptfoo regression suite again (incident "
                             "commander or AI Ops), e.g. after the candidate was fixed")
    retest.add_argument("incident")
    retest.add_argument("--comment", default="")
    _human(retest)
    retest.set_defaults(run=cmd_retest)
    patch = subs.add_parser(
        "patch", help="send a new patch text for the prompt (incident commander or AI Ops): a new candidate version",
        description="Send a new patched prompt text mid-incident. The incident creates a new candidate version in "
        "Langfuse from it (labelled candidate; once per text, however often it is retried), runs the plan's "
        "regression suites against it, and asks for the promotion approval with the suite's result. "
        f"At most {PATCH_TEXT_LIMIT} characters. It runs once the response steps are done.")
    patch.add_argument("incident")
    patch.add_argument("--file", required=True, metavar="FILE", help="the new prompt text (UTF-8; '-' reads stdin)")
    patch.add_argument("--action", metavar="NAME", help="the langfuse_prompt_patch action (default: the plan's only "
                       "one)")
    patch.add_argument("--comment", default="")
    _human(patch)
    patch.set_defaults(run=cmd_patch)
