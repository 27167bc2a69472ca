"""What every `firebreak` command shares: its error, the playbook, the Temporal client, finding an incident,
who is acting, and sending a person's action to an incident."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

import settings
from client.actions import ORIGIN, IncidentNotFound, failure_of, find_incident, send_action, set_auditor
from client.codec import CodecConfigError
from client.temporal import connect
from client.workflow_types import IncidentWorkflow
from integrations import audit
from integrations.store import open_store
from playbook.config import Playbook, PlaybookError, load_playbook
from playbook.models import Role
from playbook.state import IncidentState

OUTCOME_WAIT_SECONDS = 10.0


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _playbook(args: argparse.Namespace) -> Playbook:
    try:
        return load_playbook(args.playbook)[0]
    except PlaybookError as err:
        raise CliError(str(err), 2) from err


async def _client(args: argparse.Namespace) -> Client:
    try:
        return await connect(args.address)
    except CodecConfigError as err:
        raise CliError(str(err), 2) from err
    except Exception as err:  # noqa: BLE001 - every connection failure reads the same to a person
        where = args.address or os.environ.get("TEMPORAL_ADDRESS") or "localhost:7233"
        raise CliError(f"cannot reach Temporal at {where} ({err}). Start Firebreak with `make up`, "
                       f"or point TEMPORAL_ADDRESS at your Temporal server.", 3) from err


async def _handle(client: Client, ref: str) -> WorkflowHandle[Any, Any]:
    """An incident by number (INC-2026-0001) or workflow id; the running one if a number was reused."""
    try:
        return await find_incident(client, ref)
    except IncidentNotFound as err:
        raise CliError(f"{err}. `firebreak ls --all` lists incidents.") from err


async def _state(handle: WorkflowHandle[Any, Any]) -> IncidentState:
    failed = await failure_of(handle)  # e.g. its input could not be read: there is no state to ask for
    if failed:
        raise CliError(failed)
    try:
        return await handle.query(IncidentWorkflow.get_state)
    except WorkflowQueryFailedError as err:
        raise CliError(f"{handle.id} is not an incident ({err.message})") from err
    except RPCError as err:
        raise CliError(f"cannot read incident {handle.id}: {err.message}. Is `firebreak worker` running?") from err


def _identity(args: argparse.Namespace) -> tuple[str, Role]:
    who = args.as_ or settings.read(settings.USER)
    if not who:
        raise CliError("say who you are: --as <person on the roster> (or set FIREBREAK_USER)", 2)
    role = args.role or settings.read(settings.ROLE)
    if role:
        try:
            return who, Role(role)
        except ValueError as err:
            raise CliError(f"unknown role '{role}'; roles: {', '.join(r.value for r in Role)}", 2) from err
    person = _playbook(args).roster.people.get(who)
    if person is None:
        raise CliError(f"'{who}' is not on the roster in {args.playbook}", 2)
    if len(person.roles) > 1:
        raise CliError(f"{who} holds several roles ({', '.join(r.value for r in person.roles)}); pick one "
                       f"with --role", 2)
    return who, person.roles[0]


async def _send(args: argparse.Namespace, signal: Callable[..., Any], build: Callable[[str, Role, str], Any]) -> int:
    """Send a human action and report what the workflow made of it (accepted or refused, and why)."""
    who, role = _identity(args)
    action_id = str(uuid.uuid4())
    payload = build(who, role, action_id)
    client = await _client(args)
    handle = await _handle(client, args.incident)
    ORIGIN.set(audit.here("cli"))
    set_auditor(audit.action_recorder(open_store))
    number = args.incident if args.incident != handle.id else ""
    try:
        outcome = await send_action(handle, signal, payload, OUTCOME_WAIT_SECONDS, number)
    except RPCError as err:
        raise CliError(f"could not reach incident {args.incident}: {err.message}") from err
    if outcome is not None:
        if outcome.accepted:
            print(f"{args.incident}: {outcome.message}")
            return 0
        print(f"{args.incident}: refused: {outcome.message}", file=sys.stderr)
        return 1
    print(f"{args.incident}: sent; the incident has not processed it yet (is `firebreak worker` running?)")
    return 0


def _read_text(path: str) -> str:
    """A UTF-8 text file, or standard input for '-'."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}", 2) from err
    except UnicodeDecodeError as err:
        raise CliError(f"{path} is not UTF-8 text", 2) from err


def _human(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--as", dest="as_", metavar="PERSON", help="who you are on the roster (default $FIREBREAK_USER)")
    sub.add_argument("--role", choices=[r.value for r in Role],
                     help="the role you act in (default $FIREBREAK_ROLE, or your only role on the roster)")
