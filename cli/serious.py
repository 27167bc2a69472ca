"""Serious incidents under the EU AI Act (Art. 73): `firebreak serious` (mark, correct, record the report to the
authority, or show the clock) and `override` (the incident commander releases a held action for safety)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from cli.common import CliError, _client, _handle, _human, _send, _state
from client.workflow_types import IncidentWorkflow
from playbook.config import SeriousCase
from playbook.models import Decision
from playbook.serious import AwareChange, ReportFiled, SeriousMark
from playbook.serious_report import CASE_TEXT, serious_lines, serious_summary


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise CliError(f"{flag} takes an ISO time like 2026-11-30T09:15Z, got '{text}'", 2) from err
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def cmd_serious(args: argparse.Namespace) -> int:
    aware_at, reported_at = _when(args.aware_at, "--aware-at"), _when(args.at, "--at")
    if args.reported:
        return await _send(args, IncidentWorkflow.serious_reported, lambda by, role, aid: ReportFiled(
            by=by, role=role, action_id=aid, kind="complete" if args.complete else "initial",
            reference=args.reported, reported_at=reported_at, comment=args.reason))
    if args.case:
        return await _send(args, IncidentWorkflow.mark_serious, lambda by, role, aid: SeriousMark(
            by=by, role=role, action_id=aid, case=SeriousCase(args.case), aware_at=aware_at, comment=args.reason))
    if aware_at is not None:
        return await _send(args, IncidentWorkflow.serious_aware, lambda by, role, aid: AwareChange(
            by=by, role=role, action_id=aid, aware_at=aware_at, comment=args.reason))
    state = await _state(await _handle(await _client(args), args.incident))
    if state.serious is None:
        print(f"{state.number}: not a serious incident")
    else:
        print("\n".join(serious_lines(serious_summary(state.serious))).rstrip())
    return 0


async def cmd_override(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise CliError("override needs --reason: why safety cannot wait for legal", 2)
    return await _send(args, IncidentWorkflow.override_hold, lambda by, role, aid: Decision(
        by=by, role=role, action_id=aid, request_id=args.request_id, comment=args.reason))


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """serious, override"""
    serious = subs.add_parser(
        "serious", help="EU AI Act serious incident: mark it with --case, correct --aware-at, record --reported "
        "REF; without options show its clock (incident commander or legal)")
    serious.add_argument("incident")
    serious.add_argument("--case", choices=[c.value for c in SeriousCase],
                         help="; ".join(f"{c.value}: {CASE_TEXT[c.value]}, {c.days} days" for c in SeriousCase))
    serious.add_argument("--aware-at", metavar="TIME", help="when the provider became aware (ISO time, UTC if no "
                         "zone); the deadline counts from here (default when marking: now)")
    serious.add_argument("--reported", metavar="REFERENCE", help="the report went to the authority under this "
                         "reference")
    serious.add_argument("--complete", action="store_true", help="with --reported: it was the complete report")
    serious.add_argument("--at", metavar="TIME", help="with --reported: when it was sent (default now)")
    serious.add_argument("--reason", default="", help="why (required to mark, re-classify or change --aware-at)")
    _human(serious)
    serious.set_defaults(run=cmd_serious)
    override = subs.add_parser("override", help="release an action held for legal in a serious incident, for "
                               "safety (incident commander; the reason is recorded)")
    override.add_argument("incident")
    override.add_argument("request_id", help="the held action's request, ai-act-hold-... (see `firebreak pending`)")
    override.add_argument("--reason", required=True)
    _human(override)
    override.set_defaults(run=cmd_override)
