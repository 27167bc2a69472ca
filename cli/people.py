"""People acting on an incident as who they are on the roster: `firebreak ack`, `approve`, `reject`, `severity`,
`assign`, `note` and `resolve`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from cli.common import CliError, _client, _handle, _human, _read_text, _send, _state
from client.workflow_types import IncidentWorkflow
from playbook.models import (
    BRIEF_TEXT_LIMIT,
    Decision,
    HumanAction,
    Resolution,
    Role,
    RoleAssignment,
    Severity,
    SeverityChange,
)
from playbook.redact import describe, outbound
from playbook.remedy import mitigations_text


async def cmd_ack(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.acknowledge,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.comment))


def _edited_text(path: str | None) -> str | None:
    """The edited brief from --text-file (or '-' for standard input)."""
    if path is None:
        return None
    text = _read_text(path)
    if not text.strip():
        raise CliError(f"{path} is empty; approve without --text-file to send the draft as it is", 2)
    if len(text) > BRIEF_TEXT_LIMIT:
        raise CliError(f"{path} has {len(text)} characters; a brief takes at most {BRIEF_TEXT_LIMIT}", 2)
    found: Counter[str] = Counter()
    text = outbound(text, counts=found)  # nothing that leaves Firebreak carries personal data or secrets
    if found:
        print(f"firebreak: {path}: {describe(found)} replaced with [REDACTED:...] markers; the brief is sent that "
              f"way", file=sys.stderr)
    return text


async def cmd_decide(args: argparse.Namespace) -> int:
    signal = IncidentWorkflow.approve if args.command == "approve" else IncidentWorkflow.reject
    text = _edited_text(getattr(args, "text_file", None))
    return await _send(args, signal, lambda by, role, aid: Decision(
        by=by, role=role, action_id=aid, request_id=args.request_id, comment=args.comment, text=text))


async def cmd_severity(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.set_severity, lambda by, role, aid: SeverityChange(
        by=by, role=role, action_id=aid, severity=Severity(args.severity), comment=args.reason))


async def cmd_assign(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.assign_role, lambda by, role, aid: RoleAssignment(
        by=by, role=role, action_id=aid, person=args.person, assign_role=Role(args.assign_role)))


async def cmd_note(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.add_note,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.text))


async def cmd_resolve(args: argparse.Namespace) -> int:
    code = await _send(args, IncidentWorkflow.resolve, lambda by, role, aid: Resolution(
        by=by, role=role, action_id=aid, comment=args.summary, keep=args.keep, undo=args.undo,
        override_regressions=args.override_regressions or ""))
    if code == 0:
        state = await _state(await _handle(await _client(args), args.incident))
        if state.in_place:
            print("Mitigations:")
            print("\n".join(mitigations_text(state.in_place)))
    return code


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """ack, approve, reject, severity, assign, note, resolve"""
    ack = subs.add_parser("ack", help="acknowledge an incident")
    ack.add_argument("incident")
    ack.add_argument("--comment", default="")
    _human(ack)
    ack.set_defaults(run=cmd_ack)
    for name in ("approve", "reject"):
        dec = subs.add_parser(name, help=f"{name} a pending request (see `firebreak pending`)",
                              description=f"{name.capitalize()} a pending request: an action (stabilise-1 ...), a "
                              "brief as the domain SME (brief-N for the responders, brief-N-<audience>), or an "
                              "external brief's release as communications (brief-N-<audience>-release).")
        dec.add_argument("incident")
        dec.add_argument("request_id")
        dec.add_argument("--comment", default="")
        if name == "approve":
            dec.add_argument("--text-file", metavar="PATH",
                             help="approving a brief (domain SME): send this edited text instead of the draft "
                                  "('-' reads standard input); the draft and the edit are both archived")
        _human(dec)
        dec.set_defaults(run=cmd_decide)
    sev = subs.add_parser("severity", help="change the severity (incident commander)")
    sev.add_argument("incident")
    sev.add_argument("severity", choices=[s.value for s in Severity])
    sev.add_argument("--reason", default="")
    _human(sev)
    sev.set_defaults(run=cmd_severity)
    assign = subs.add_parser("assign", help="give a person on the roster a role in this incident")
    assign.add_argument("incident")
    assign.add_argument("person")
    assign.add_argument("assign_role", choices=[r.value for r in Role], metavar="ROLE")
    _human(assign)
    assign.set_defaults(run=cmd_assign)
    note = subs.add_parser("note", help="add a note to the timeline")
    note.add_argument("incident")
    note.add_argument("text")
    _human(note)
    note.set_defaults(run=cmd_note)
    resolve = subs.add_parser(
        "resolve", help="resolve the incident (incident commander); keep or undo each mitigation in place, "
        "then the review starts", description="Resolve the incident. `firebreak show` lists the mitigations "
        "still in place; each is kept unless named with --undo (no choice means keep, recorded as such). While "
        "the latest regression suite run fails, resolving is refused unless --override-regressions gives a reason.")
    resolve.add_argument("incident")
    resolve.add_argument("--summary", default="")
    resolve.add_argument("--keep", action="append", default=[], metavar="MITIGATION",
                         help="leave this mitigation in place (repeatable; the default for any not named)")
    resolve.add_argument("--undo", action="append", default=[], metavar="MITIGATION",
                         help="reverse this mitigation now: its label move, undo request or manual undo step "
                         "(repeatable)")
    resolve.add_argument("--override-regressions", metavar="REASON",
                         help="resolve although the regression suite fails; the reason goes on the timeline")
    _human(resolve)
    resolve.set_defaults(run=cmd_resolve)
