"""Incidents: `firebreak declare`, `ls`, `show` and `pending`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client

from cli.common import OUTCOME_WAIT_SECONDS, CliError, _client, _handle, _state
from client.actions import opened
from client.admission import Inadmissible, admit
from client.listing import LS_HEADERS, LS_KEYS, incident_row, incidents_query, list_incidents
from client.pending import open_approvals, pending_table
from client.temporal import TASK_QUEUE, raise_detection
from playbook.models import Detection, Severity, SignalKind
from playbook.render import incident_text, table


def _key_values(pairs: list[str], what: str, cast: Callable[[str], Any] = str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--{what} takes key=value, got '{pair}'", 2)
        try:
            out[key.strip()] = cast(value.strip())
        except ValueError as err:
            raise CliError(f"--{what} {pair}: '{value}' is not a number", 2) from err
    return out


def _detection_from_args(args: argparse.Namespace) -> Detection:
    if args.file:
        try:
            return Detection.model_validate_json(Path(args.file).read_text(encoding="utf-8"))
        except OSError as err:
            raise CliError(f"cannot read {args.file}: {err.strerror}", 2) from err
        except ValidationError as err:
            first = err.errors()[0]
            raise CliError(f"{args.file}: {'.'.join(map(str, first['loc']))}: {first['msg']}", 2) from err
    if not args.service or not args.kind:
        raise CliError("declare needs --service and --kind (or --file detection.json)", 2)
    prompt_name, prompt_version = None, None
    if args.prompt:
        prompt_name, _, version = args.prompt.partition(":")
        prompt_version = int(version) if version.isdigit() else None
    try:
        return Detection(source="cli", kind=SignalKind(args.kind), services=args.service, summary=args.summary or "",
                         model=args.model, prompt_name=prompt_name, prompt_version=prompt_version,
                         deploy_id=args.deploy, metrics=_key_values(args.metric, "metric", float),
                         labels=_key_values(args.label, "label"), links=args.link,
                         severity_hint=Severity(args.severity) if args.severity else None,
                         fingerprint=args.fingerprint, alert_id=args.alert_id)
    except ValidationError as err:
        first = err.errors()[0]
        raise CliError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", 2) from err


async def cmd_declare(args: argparse.Namespace) -> int:
    detection = _detection_from_args(args)
    try:  # what the workflow could not decode, or a reader could not show, is refused here (exit 2)
        admit([detection], numbered=False)
    except Inadmissible as err:
        raise CliError(f"{err}; nothing was declared", 2) from err
    client = await _client(args)
    handle = await raise_detection(client, detection, task_queue=TASK_QUEUE)
    state = await opened(handle, OUTCOME_WAIT_SECONDS)
    if state is not None:
        print(f"{state.number} {state.severity.value} {state.status.value}: {detection.kind.value} on "
              f"{', '.join(detection.services)} (workflow {handle.id}, {state.alert_count} alert(s))")
        return 0
    print(f"declared as workflow {handle.id}; no worker has opened it yet (is `firebreak worker` running?)")
    return 0


async def cmd_ls(args: argparse.Namespace) -> int:
    client = await _client(args)
    try:
        query = incidents_query(args.all, args.status, args.service)
    except ValueError as err:
        raise CliError(f"ls: {err}", 2) from err
    rows = [incident_row(w) async for w in list_incidents(client, query, limit=args.limit)]
    if args.json:
        print(json.dumps([dict(zip(LS_KEYS, r, strict=True)) for r in rows], indent=2))
    elif rows:
        print(table(LS_HEADERS, rows))
    else:
        print("no open incidents" if not args.all else "no incidents")
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    client = await _client(args)
    state = await _state(await _handle(client, args.incident))
    print(state.model_dump_json(indent=2) if args.json else incident_text(state, args.timeline))
    return 0


async def cmd_pending(args: argparse.Namespace) -> int:
    client = await _client(args)
    if not args.incident:
        return await _pending_everywhere(client, args.json)
    state = await _state(await _handle(client, args.incident))
    pending = state.pending_approvals()
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in pending], indent=2))
    elif not pending:
        print(f"{state.number}: nothing waits for approval")
    else:
        print(table(["REQUEST", "ROLE", "DEADLINE", "WHAT"],
                    [[a.request_id, a.role.value, a.deadline.strftime("%H:%M UTC"), a.subject[:80]] for a in pending]))
    return 0


async def _pending_everywhere(client: Client, as_json: bool) -> int:
    listed = await open_approvals(client)
    if as_json:
        print(json.dumps(listed.as_json(), indent=2))
        return 0
    rows, problems = pending_table(listed)
    print(table(["INCIDENT", "REQUEST", "ROLE", "MAY APPROVE", "DEADLINE", "WHAT"], rows) if rows
          else "nothing waits for approval in the open incidents")
    for line in problems:
        print(line, file=sys.stderr)
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """declare, ls, show, pending"""
    declare = subs.add_parser("declare", help="open an incident (or join the one with the same fingerprint)")
    declare.add_argument("--file", help="a Detection as JSON instead of the flags below")
    declare.add_argument("--service", action="append", default=[], help="affected service (repeatable)")
    declare.add_argument("--kind", choices=[k.value for k in SignalKind])
    declare.add_argument("--summary")
    declare.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE")
    declare.add_argument("--label", action="append", default=[], metavar="NAME=VALUE")
    declare.add_argument("--link", action="append", default=[])
    declare.add_argument("--deploy", help="last deploy id")
    declare.add_argument("--model")
    declare.add_argument("--prompt", metavar="NAME[:VERSION]")
    declare.add_argument("--severity", choices=[s.value for s in Severity], help="severity hint (may only raise)")
    declare.add_argument("--fingerprint", help="grouping key; the same key joins the same open incident")
    declare.add_argument("--alert-id", help="this alert's id; repeats are counted once")
    declare.set_defaults(run=cmd_declare)

    ls = subs.add_parser("ls", help="list incidents (open ones unless --all)")
    ls.add_argument("--all", action="store_true", help="include closed incidents")
    ls.add_argument("--status", help="only this IncidentStatus (open, acknowledged, monitoring, resolved, closed)")
    ls.add_argument("--service")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=cmd_ls)

    show = subs.add_parser("show", help="state, current step, pending approvals and timeline of an incident")
    show.add_argument("incident", help="INC number or workflow id")
    show.add_argument("--json", action="store_true", help="the whole state as JSON")
    show.add_argument("--timeline", type=int, default=None, metavar="N", help="only the latest N timeline entries")
    show.set_defaults(run=cmd_show)

    pending = subs.add_parser("pending", help="what waits for approval: in one incident, or across open incidents")
    pending.add_argument("incident", nargs="?", help="INC number or workflow id (default: every open incident)")
    pending.add_argument("--json", action="store_true")
    pending.set_defaults(run=cmd_pending)
