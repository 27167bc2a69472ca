"""The Langfuse watchers' Temporal Schedules: `firebreak watchers sync` and `firebreak watchers status`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import _client, _playbook
from playbook.render import table


async def cmd_watchers_sync(args: argparse.Namespace) -> int:
    from client.schedules import schedule_id, sync_watchers

    pb = _playbook(args)
    done = await sync_watchers(await _client(args), pb)
    for name, what in done:
        print(f"{schedule_id(name)}: {what}")
    if not pb.watchers:
        print(f"{args.playbook}: no [watchers] configured")
    return 0


def cmd_watchers_status(args: argparse.Namespace) -> int:
    """What each watcher remembers: its breach in progress, alerts raised, and whether Langfuse answers."""
    from integrations.store import open_store
    from playbook.watch import WatchMemory, describe, memory_path

    pb = _playbook(args)
    store = open_store()
    rows: list[dict[str, Any]] = []
    for name, watcher in sorted(pb.watchers.items()):
        path = memory_path(name)
        try:
            memory = WatchMemory.model_validate_json(store.read_bytes(path)) if store.exists(path) else None
        except ValueError:
            memory = None
        rows.append({"name": name, "kind": watcher.kind, "watches": describe(watcher), "ran": memory is not None,
                     **(memory.model_dump(mode="json", exclude={"reported", "traces"}) if memory else {}),
                     "alerts_remembered": len(memory.reported) if memory else 0,
                     "traces_remembered": len(memory.traces) if memory else 0})
    failing = 1 if any(r.get("failures") for r in rows) else 0
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"{args.playbook}: no [watchers] configured")
    else:
        print(table(["WATCHER", "KIND", "BREACH IN PROGRESS", "LAST BREACH", "ALERTS", "FAILING", "LAST ERROR"], [
            [r["name"], r["kind"], r.get("episode") or "-", r.get("last_breach_at") or "-",
             str(r["alerts_remembered"]), f"{r['failures']} run(s)" if r.get("failures") else "-",
             (r.get("last_error") or "-")[:80]] for r in rows]))
    return failing


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """watchers sync, watchers status"""
    watchers = subs.add_parser("watchers", help="the Langfuse watchers' Temporal Schedules")
    watchers_subs = watchers.add_subparsers(dest="watchers_command", required=True, metavar="COMMAND")
    watchers_subs.add_parser("sync", help="create, update or delete one schedule per [watchers.<name>]").set_defaults(
        run=cmd_watchers_sync)
    status = watchers_subs.add_parser("status", help="each watcher's breach in progress and Langfuse errors "
                                                     "(exit 1 while one fails to read Langfuse)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_watchers_status)
