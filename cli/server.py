"""Running Firebreak: `firebreak up` (everything, on the embedded default), `worker`, `api`, `check-playbook`."""

from __future__ import annotations

import argparse

from cli.common import CliError, _playbook
from client.codec import CodecConfigError
from observability.tracing import TracingConfigError


async def cmd_check_playbook(args: argparse.Namespace) -> int:
    pb = _playbook(args)
    print(f"{args.playbook}: ok ({len(pb.roster.people)} people, {len(pb.actions)} actions, "
          f"{len(pb.services)} service plans, {len(pb.severity.rules)} severity rules)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import worker

    worker.main(["--playbook", str(args.playbook), *(["--address", args.address] if args.address else [])])
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from intake.app import serve  # type: ignore[import-not-found]
    from observability.logs import configure_logging

    _playbook(args)
    configure_logging()  # text, or JSON lines with FIREBREAK_LOG_FORMAT=json
    try:
        serve(args.playbook, args.host, args.port, args.address)
    except (CodecConfigError, TracingConfigError) as err:
        raise CliError(str(err), 2) from err
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from embedded.up import run_up

    _playbook(args)
    return run_up(args)


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """up, worker, api, check-playbook"""
    up = subs.add_parser("up", help="run the embedded Temporal dev server, the worker and the intake API")
    up.add_argument("--port", type=int, default=7233, help="Temporal frontend port (default 7233)")
    up.add_argument("--ui-port", type=int, default=8233, help="Temporal UI port (default 8233)")
    up.add_argument("--api-port", type=int, default=8800, help="intake API port (default 8800)")
    up.add_argument("--no-api", action="store_true", help="do not start the intake API")
    up.set_defaults(run=cmd_up)

    subs.add_parser("worker", help="run a worker against TEMPORAL_ADDRESS").set_defaults(run=cmd_worker)
    api = subs.add_parser("api", help="run the intake HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8800)
    api.set_defaults(run=cmd_api)
    subs.add_parser("check-playbook", help="validate the playbook and exit").set_defaults(run=cmd_check_playbook)
