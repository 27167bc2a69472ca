"""`firebreak drill INC`: replay a closed incident's detection as a practice incident (DRILL-...): archive only,
no channel or tracker, the participants asked first in every role, compared with the real one at its end."""

from __future__ import annotations

import argparse

import settings
from cli.common import CliError, _client, _handle, _playbook, _state
from client.drill import NotDrillable, start_drill
from client.temporal import TASK_QUEUE


async def cmd_drill(args: argparse.Namespace) -> int:
    by = args.as_ or settings.read(settings.USER)
    if not by:
        raise CliError("say who you are: --as <person on the roster> (or set FIREBREAK_USER)", 2)
    roster = _playbook(args).roster.people
    participants = list(dict.fromkeys(p.strip() for p in (args.participants or by).split(",") if p.strip()))
    unknown = [p for p in [by, *participants] if p not in roster]
    if unknown:
        raise CliError(f"not on the roster: {', '.join(unknown)}", 2)
    client = await _client(args)
    real = await _state(await _handle(client, args.incident))
    try:
        handle = await start_drill(client, real, participants, by, TASK_QUEUE)
    except NotDrillable as err:
        raise CliError(str(err)) from err
    print(f"drill of {real.number} started: {handle.id} (participants: {', '.join(participants)}); its number "
          f"is DRILL-...: firebreak ls shows it. Nothing is paged or sent outside the archive.")
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """drill"""
    drill = subs.add_parser("drill", help="replay a closed incident as a practice incident (DRILL-...): archive "
                            "only, compared with the real one at its end")
    drill.add_argument("incident")
    drill.add_argument("--participants", metavar="A,B", help="roster ids asked first in every role (default: you)")
    drill.add_argument("--as", dest="as_", metavar="PERSON", help="who you are on the roster (default "
                       "$FIREBREAK_USER)")
    drill.set_defaults(run=cmd_drill)
