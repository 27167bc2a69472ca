"""`firebreak audit`: read the audit log (integrations/audit.py) from whichever store this host points at."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from cli.common import CliError
from integrations import audit
from integrations.store import StoreError, open_store
from playbook.render import table

UNITS = {"m": 60, "h": 3600, "d": 86400}


def since(text: str) -> datetime:
    """'30m', '12h', '7d' ago, or an ISO 8601 time (UTC when it names no zone)."""
    if text[:-1].isdigit() and text[-1:] in UNITS:
        return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * UNITS[text[-1]])
    try:
        at = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"'{text}' is neither 30m / 12h / 7d nor an ISO 8601 time") from err
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        found = audit.events(open_store(), args.since, args.who, args.incident)
    except StoreError as err:
        raise CliError(str(err)) from err
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no audit events" + (" match" if args.since or args.who or args.incident else ""))
        return 0
    rows = [[e["at"][:19].replace("T", " "), e["who"], e["what"], e["incident"] or "-", e["origin"],
             " ".join(f"{k}={v}" for k, v in e["details"].items() if k != "workflow_id")] for e in found]
    print(table(["WHEN (UTC)", "WHO", "WHAT", "INCIDENT", "FROM", "DETAILS"], rows))
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """audit"""
    cmd = subs.add_parser("audit", help="who did what, when and from where: people's actions, tokens, playbook "
                          "changes seen at start, exports")
    cmd.add_argument("--since", type=since, help="only events since then: 30m, 12h, 7d or an ISO 8601 time")
    cmd.add_argument("--who", help="only events by this person (roster id, or the OS user for token and export)")
    cmd.add_argument("--incident", help="only events on this incident (number or workflow id)")
    cmd.add_argument("--json", action="store_true", help="the events as JSON")
    cmd.set_defaults(run=cmd_audit)
