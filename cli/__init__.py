"""`firebreak`: run Firebreak and work incidents from a terminal.

Exit codes: 0 done, 1 refused or not found, 2 bad usage or configuration, 3 Temporal unreachable.

A module per verb group, each registering its own subcommands (`register`); the order below is the order of
`firebreak --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
from pathlib import Path

import settings
from cli import (
    audit,
    backup,
    drill,
    export,
    incidents,
    oncall,
    people,
    remediation,
    report,
    review,
    serious,
    server,
    tokens,
    watchers,
)
from cli.common import CliError
from cli.server import cmd_api, cmd_up, cmd_worker
from integrations.store import StoreError
from observability import tracing
from observability.tracing import TracingConfigError

GROUPS = (server, watchers, incidents, tokens, people, oncall, remediation, serious, review, drill, report, export,
          audit, backup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firebreak", description="Durable incident response for AI systems.")
    parser.add_argument("--playbook", type=Path, default=settings.default_playbook_path(),
                        help="playbook file (default $FIREBREAK_PLAYBOOK or ./playbook.toml)")
    parser.add_argument("--address", help="Temporal host:port (default TEMPORAL_ADDRESS / envconfig, "
                        "else localhost:7233)")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(subs)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.run not in (cmd_worker, cmd_api, cmd_up):  # those set up tracing as their own services
            try:
                tracing.setup("firebreak-cli")
            except TracingConfigError as err:
                raise CliError(str(err), 2) from err
        result = args.run(args)
        code = asyncio.run(result) if inspect.iscoroutine(result) else result
    except CliError as err:
        print(f"firebreak: {err}", file=sys.stderr)
        code = err.code
    except StoreError as err:  # e.g. an artefact encrypted with a key this host does not have (docs/store.md)
        print(f"firebreak: {err}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    tracing.shutdown()  # export buffered spans: os._exit skips atexit
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the SDK can crash the interpreter at exit (sdk-python #300); leave with the real code

