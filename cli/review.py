"""Review: `firebreak retro` (the retrospective), `actions` (its action items) and `done` (one item done)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from temporalio.service import RPCError

from cli.common import CliError, _client, _human, _send
from cli.retro_draft import check_draft_args, cmd_retro_draft
from client.action_items import action_items, items_query
from client.workflow_types import ActionItemWorkflow, IncidentWorkflow
from playbook.atlas import ATLAS_VERSION
from playbook.models import ActionItem, HumanAction, RetrospectiveNotes, Role
from playbook.render import table


def _action_item(text: str) -> ActionItem:
    what, _, rest = text.partition("|")
    owner, _, due = rest.partition("|")
    if not what.strip() or not owner.strip():
        raise CliError(f"--action takes 'what|owner|YYYY-MM-DD', got '{text}'", 2)
    try:
        due_at = datetime.fromisoformat(due.strip()).replace(tzinfo=UTC) if due.strip() else None
    except ValueError as err:
        raise CliError(f"--action {text}: due date '{due}' is not YYYY-MM-DD", 2) from err
    return ActionItem(what=what.strip(), owner=owner.strip(), due=due_at)


async def cmd_retro(args: argparse.Namespace) -> int:
    if args.draft:
        check_draft_args(args)
        return await cmd_retro_draft(args)
    if args.file:
        try:
            raw = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise CliError(f"cannot read {args.file}: {err}", 2) from err
    elif args.root_cause:
        raw = {"root_cause": args.root_cause, "contributing_factors": args.factor,
               "preventative_actions": args.prevent, "went_well": args.went_well, "went_badly": args.went_badly,
               "lessons": args.lesson,
               "action_items": [_action_item(a).model_dump(mode="json") for a in args.action]}
        if args.owasp or args.nist or args.atlas or args.failure_mode:
            raw["risk"] = {"owasp_llm": args.owasp or None, "nist_ai_600_1": args.nist or None,
                           "mitre_atlas": args.atlas or None, "failure_mode": args.failure_mode}
    else:
        raise CliError("retro needs --root-cause (with --factor/--prevent/--action) or --file notes.json", 2)

    def build(by: str, role: Role, aid: str) -> RetrospectiveNotes:
        try:
            return RetrospectiveNotes.model_validate({**raw, "by": by, "role": role, "action_id": aid})
        except ValidationError as err:
            first = err.errors()[0]
            raise CliError(f"retrospective notes: {'.'.join(map(str, first['loc']))}: {first['msg']}", 2) from err

    return await _send(args, IncidentWorkflow.retrospective_done, build)


async def cmd_actions(args: argparse.Namespace) -> int:
    client = await _client(args)
    try:
        query = items_query(args.incident, args.all)
    except ValueError as err:
        raise CliError(str(err), 2) from err
    try:
        items, silent = await action_items(client, query, args.limit)
    except RPCError as err:
        raise CliError(f"cannot list action items: {err.message}") from err
    for wid, why in silent:
        print(f"firebreak: {wid} did not answer ({why}); is `firebreak worker` running?", file=sys.stderr)
    if args.json:
        print(json.dumps([{"id": wid, **item.model_dump(mode="json", exclude={"outcomes"})} for wid, item in items]
                         + [{"id": wid, "status": "unanswered", "error": why} for wid, why in silent], indent=2))
    elif not items:
        print("no open action items" if not args.all else "no action items")
    else:
        print(table(["ACTION ITEM", "STATUS", "OWNER", "DUE", "REMINDERS", "WHAT"],
                    [[wid, i.status, i.item.owner, i.item.due.strftime("%Y-%m-%d") if i.item.due else "-",
                      str(i.reminders_sent), i.item.what[:60]] for wid, i in items]))
    return 0


async def cmd_done(args: argparse.Namespace) -> int:
    args.incident = args.action_item
    return await _send(args, ActionItemWorkflow.mark_done,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.note))


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """retro, actions, done"""
    retro = subs.add_parser("retro", help="record the retrospective (incident commander); closes the incident")
    retro.add_argument("incident")
    retro.add_argument("--file", help="JSON with root_cause, contributing_factors, preventative_actions, "
                       "action_items [{what, owner, due}], went_well, went_badly, lessons")
    retro.add_argument("--root-cause")
    retro.add_argument("--draft", action="store_true", help="ask the [ai_draft] endpoint for a draft from the "
                       "incident's redacted record; shown and saved for you to edit, never recorded by itself")
    retro.add_argument("--factor", action="append", default=[], help="contributing factor (repeatable)")
    retro.add_argument("--prevent", action="append", default=[], help="preventative action (repeatable)")
    retro.add_argument("--action", action="append", default=[], metavar="WHAT|OWNER|DUE",
                       help="action item (repeatable)")
    retro.add_argument("--went-well", action="append", default=[])
    retro.add_argument("--went-badly", action="append", default=[])
    retro.add_argument("--lesson", action="append", default=[], help="what responders should learn (repeatable; "
                       "`firebreak drill` shows it to the drill's participants)")
    retro.add_argument("--failure-mode", help="risk register: the failure mode, if not the signal kind's default")
    retro.add_argument("--owasp", action="append", default=[], metavar="LLM0N",
                       help="risk register: OWASP LLM Top 10 (2025) id, repeatable (default from the signal kind)")
    retro.add_argument("--nist", action="append", default=[], metavar="RISK",
                       help="risk register: NIST AI 600-1 risk name, repeatable (default from the signal kind)")
    retro.add_argument("--atlas", action="append", default=[], metavar="AML.TNNNN",
                       help="risk register: MITRE ATLAS technique id, repeatable (checked against ATLAS "
                       f"{ATLAS_VERSION}; default from the signal kind)")
    _human(retro)
    retro.set_defaults(run=cmd_retro)
    actions = subs.add_parser("actions", help="retrospective action items, chased by reminders until done")
    actions.add_argument("--incident", help="only this incident's items (INC number)")
    actions.add_argument("--all", action="store_true", help="include items already done")
    actions.add_argument("--limit", type=int, default=200)
    actions.add_argument("--json", action="store_true")
    actions.set_defaults(run=cmd_actions)
    done = subs.add_parser("done", help="mark an action item done (its owner or an incident commander)")
    done.add_argument("action_item", help="the item's id, e.g. action-INC-2026-0001-1 (see `firebreak actions`)")
    done.add_argument("--note", default="")
    _human(done)
    done.set_defaults(run=cmd_done)
