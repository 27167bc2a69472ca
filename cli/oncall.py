"""`firebreak oncall`: who holds each role now and who is next, from the playbook's schedules ([paging.oncall]:
iCalendar feeds and PagerDuty schedules), the roster where a role has no schedule. Reads the schedules directly, as
the worker's who_is_on_call activity does when it pages; needs no Temporal."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from cli.common import CliError, _playbook
from integrations.oncall import on_call
from playbook.config import Roster
from playbook.models import Role
from playbook.paging import OnCallRequest, RoleOnCall, Shift


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = subs.add_parser("oncall", help="who holds each role now and next (schedules, else the roster)")
    cmd.add_argument("--at", help="an ISO 8601 time to ask about instead of now (e.g. 2027-03-29T07:30:00+00:00)")
    cmd.add_argument("--json", action="store_true", help="print the answer as JSON")
    cmd.set_defaults(run=cmd_oncall)


def _when(raw: str | None) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as err:
        raise CliError(f"--at {raw!r} is not an ISO 8601 time (e.g. 2027-03-29T07:30:00+00:00)", 2) from err
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _shift(shift: Shift) -> str:
    who = shift.person or f"{shift.named!r} (not on the roster)"
    return f"{who} until {shift.end.isoformat(timespec='minutes')} [{shift.layer}]"


def _next(shift: Shift) -> str:
    who = shift.person or f"{shift.named!r} (not on the roster)"
    return f"{who} from {shift.start.isoformat(timespec='minutes')} [{shift.layer}]"


def _roster_holder(roster: Roster, role: Role) -> str | None:
    """The role's first holder on the roster; None for an optional role nobody holds (legal: the incident
    commander decides in its place)."""
    holders = roster.holders(role)
    return holders[0] if holders else None


def cmd_oncall(args: argparse.Namespace) -> int:
    playbook = _playbook(args)
    at = _when(args.at)
    found = on_call(OnCallRequest(at=at, paging=playbook.paging, roster=playbook.roster), args.playbook.parent)
    if args.json:
        print(json.dumps({"at": at.isoformat(), "roles": {
            role.value: found.roles[role].model_dump(mode="json") if role in found.roles else
            {"roster": _roster_holder(playbook.roster, role)} for role in Role}}, indent=2))
        return 0
    print(f"On call at {at.isoformat(timespec='minutes')}:")
    for role in Role:
        holders = found.roles.get(role)
        fallback = _roster_holder(playbook.roster, role)
        if holders is None:
            print(f"  {role.value}: {fallback} (roster; no schedule)" if fallback else
                  f"  {role.value}: nobody on the roster (the incident commander decides in its place)")
            continue
        _print_scheduled(role, holders, fallback or "nobody on the roster")
    return 0


def _print_scheduled(role: Role, holders: RoleOnCall, fallback: str) -> None:
    if holders.chain:
        print(f"  {role.value}: {holders.chain[0]} (schedule)")
    else:
        print(f"  {role.value}: {fallback} (roster; nobody on the schedule now)")
    for shift in holders.now:
        print(f"    now:  {_shift(shift)}")
    for shift in holders.next:
        print(f"    next: {_next(shift)}")
    for error in holders.errors:
        print(f"    could not read: {error}")
