"""`firebreak`: run Firebreak and work incidents from a terminal.

Exit codes: 0 done, 1 refused or not found, 2 bad usage or configuration, 3 Temporal unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.context import default_playbook_path, firebreak_home
from activities.review import RISK_REGISTER
from intake.tokens import TokenStore, TokenStoreError
from integrations.redact import describe, outbound
from observability import tracing
from observability.tracing import TracingConfigError
from playbook.config import Playbook, PlaybookError, load_playbook
from playbook.figures import bar_chart, figures
from playbook.models import (
    BRIEF_TEXT_LIMIT,
    ActionItem,
    Decision,
    Detection,
    HumanAction,
    Resolution,
    RetrospectiveNotes,
    Role,
    RoleAssignment,
    Severity,
    SeverityChange,
    SignalKind,
)
from playbook.remedy import PATCH_TEXT_LIMIT, PatchText, mitigations_text
from playbook.render import incident_text, table
from playbook.risk import RiskEntry
from playbook.state import IncidentState
from workflows import search_attributes as sa
from workflows.action_items import ActionItemWorkflow
from workflows.actions import NUMBER, IncidentNotFound, find_incident, open_approvals, send_action
from workflows.admission import Inadmissible, admit
from workflows.client import TASK_QUEUE, connect, raise_detection
from workflows.codec import CodecConfigError
from workflows.incident import IncidentWorkflow

OUTCOME_WAIT_SECONDS = 10.0


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- helpers


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
    try:
        return await handle.query(IncidentWorkflow.get_state)
    except WorkflowQueryFailedError as err:
        raise CliError(f"{handle.id} is not an incident ({err.message})") from err
    except RPCError as err:
        raise CliError(f"cannot read incident {handle.id}: {err.message}. Is `firebreak worker` running?") from err


def _identity(args: argparse.Namespace) -> tuple[str, Role]:
    who = args.as_ or os.environ.get("FIREBREAK_USER")
    if not who:
        raise CliError("say who you are: --as <person on the roster> (or set FIREBREAK_USER)", 2)
    role = args.role or os.environ.get("FIREBREAK_ROLE")
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
    try:
        outcome = await send_action(handle, signal, payload, OUTCOME_WAIT_SECONDS)
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


# ---------------------------------------------------------------- commands


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
    deadline = asyncio.get_running_loop().time() + OUTCOME_WAIT_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        try:
            state = await handle.query(IncidentWorkflow.get_state)
        except RPCError:
            state = None
        if state is not None and state.number:
            print(f"{state.number} {state.severity.value} {state.status.value}: {detection.kind.value} on "
                  f"{', '.join(detection.services)} (workflow {handle.id}, {state.alert_count} alert(s))")
            return 0
        await asyncio.sleep(0.2)
    print(f"declared as workflow {handle.id}; no worker has opened it yet (is `firebreak worker` running?)")
    return 0


async def cmd_ls(args: argparse.Namespace) -> int:
    client = await _client(args)
    query = "WorkflowType = 'IncidentWorkflow'"
    if not args.all:
        query += " AND ExecutionStatus = 'Running'"
    if args.status:
        query += f" AND IncidentStatus = '{args.status}'"
    if args.service:
        query += f" AND AffectedService = '{args.service}'"
    rows = []
    async for w in client.list_workflows(query, limit=args.limit):
        attrs = w.typed_search_attributes
        detected = attrs.get(sa.DETECTED_AT)
        rows.append([attrs.get(sa.INCIDENT_NUMBER) or "-", attrs.get(sa.INCIDENT_SEVERITY) or "-",
                     attrs.get(sa.INCIDENT_STATUS) or "-", attrs.get(sa.INCIDENT_STEP) or "-",
                     attrs.get(sa.AFFECTED_SERVICE) or "-", attrs.get(sa.SIGNAL_KIND) or "-",
                     str(attrs.get(sa.ALERT_COUNT) or 0),
                     detected.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if detected else "-", w.id])
    if args.json:
        keys = ["number", "severity", "status", "step", "service", "kind", "alerts", "detected_at", "workflow_id"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
    elif rows:
        print(table(["INCIDENT", "SEV", "STATUS", "STEP", "SERVICE", "KIND", "ALERTS", "DETECTED", "WORKFLOW"], rows))
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
    waiting, unanswered = await open_approvals(client)
    if as_json:
        print(json.dumps({"waiting": [w.model_dump(mode="json") for w in waiting],
                          "unanswered": [u.model_dump(mode="json") for u in unanswered]}, indent=2))
        return 0
    if waiting:
        print(table(["INCIDENT", "REQUEST", "ROLE", "MAY APPROVE", "DEADLINE", "WHAT"],
                    [[w.incident, w.request_id, w.role.value, ",".join(w.escalated_to) or "-",
                      w.deadline.strftime("%Y-%m-%d %H:%M UTC"), w.what[:60]] for w in waiting]))
    else:
        print("nothing waits for approval in the open incidents")
    for u in unanswered:
        print(f"{u.incident}: did not answer ({u.reason}); is `firebreak worker` running?", file=sys.stderr)
    return 0


def _tokens() -> TokenStore:
    return TokenStore()


def cmd_token_issue(args: argparse.Namespace) -> int:
    roster = _playbook(args).roster
    if args.person not in roster.people:
        raise CliError(f"'{args.person}' is not on the roster in {args.playbook}; tokens are for people on the "
                       f"roster ({', '.join(roster.people)})", 2)
    try:
        token, record = _tokens().issue(args.person)
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    print(token)
    print(f"token {record.id} for {args.person}: shown once, only its hash is kept in {_tokens().path}. "
          f"Send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    try:
        gone = _tokens().revoke(args.person, args.id)
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    if not gone:
        raise CliError(f"{args.person} has no token{f' {args.id}' if args.id else ''} to revoke")
    print(f"revoked {len(gone)} token(s) of {args.person}: {', '.join(t.id for t in gone)}")
    return 0


def cmd_token_ls(args: argparse.Namespace) -> int:
    try:
        records = _tokens().list()
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    if args.json:
        print(json.dumps([{"id": r.id, "person": r.person, "created_at": r.created_at.isoformat()}
                          for r in records], indent=2))
    elif records:
        print(table(["PERSON", "TOKEN", "CREATED"],
                    [[r.person, r.id, r.created_at.strftime("%Y-%m-%d %H:%M UTC")] for r in records]))
    else:
        print(f"no personal tokens ({_tokens().path})")
    return 0


async def cmd_ack(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.acknowledge,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.comment))


def _read_text(path: str) -> str:
    """A UTF-8 text file, or standard input for '-'."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}", 2) from err
    except UnicodeDecodeError as err:
        raise CliError(f"{path} is not UTF-8 text", 2) from err


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


async def cmd_retest(args: argparse.Namespace) -> int:
    return await _send(args, IncidentWorkflow.retest,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.comment))


async def cmd_patch(args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    if not text.strip():
        raise CliError(f"{args.file} is empty", 2)
    if len(text) > PATCH_TEXT_LIMIT:
        raise CliError(f"{args.file} has {len(text)} characters; a patch text takes at most {PATCH_TEXT_LIMIT}", 2)
    return await _send(args, IncidentWorkflow.patch, lambda by, role, aid: PatchText(
        by=by, role=role, action_id=aid, comment=args.comment, text=text, action=args.action or ""))


def _action_item(text: str) -> ActionItem:
    what, _, rest = text.partition("|")
    owner, _, due = rest.partition("|")
    if not what.strip() or not owner.strip():
        raise CliError(f"--action takes 'what|owner|YYYY-MM-DD', got '{text}'", 2)
    try:
        due_at = datetime.fromisoformat(due.strip()).replace(tzinfo=UTC) if due.strip() else None
    except ValueError as err:
        raise CliError(f"--action {text}: due date '{due}' is not YYYY-MM-DD", 2) from err
    return ActionItem(what=what.strip(), owner=owner.strip(), due=due_at)


async def cmd_retro(args: argparse.Namespace) -> int:
    if args.file:
        try:
            raw = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise CliError(f"cannot read {args.file}: {err}", 2) from err
    elif args.root_cause:
        raw = {"root_cause": args.root_cause, "contributing_factors": args.factor,
               "preventative_actions": args.prevent, "went_well": args.went_well, "went_badly": args.went_badly,
               "action_items": [_action_item(a).model_dump(mode="json") for a in args.action]}
        if args.owasp or args.nist or args.failure_mode:
            raw["risk"] = {"owasp_llm": args.owasp or None, "nist_ai_600_1": args.nist or None,
                           "failure_mode": args.failure_mode}
    else:
        raise CliError("retro needs --root-cause (with --factor/--prevent/--action) or --file notes.json", 2)

    def build(by: str, role: Role, aid: str) -> RetrospectiveNotes:
        try:
            return RetrospectiveNotes.model_validate({**raw, "by": by, "role": role, "action_id": aid})
        except ValidationError as err:
            first = err.errors()[0]
            raise CliError(f"retrospective notes: {'.'.join(map(str, first['loc']))}: {first['msg']}", 2) from err

    return await _send(args, IncidentWorkflow.retrospective_done, build)


async def cmd_actions(args: argparse.Namespace) -> int:
    client = await _client(args)
    query = "WorkflowType = 'ActionItemWorkflow'" + ("" if args.all else " AND ExecutionStatus = 'Running'")
    if args.incident:
        if not NUMBER.match(args.incident):
            raise CliError(f"'{args.incident}' is not an incident number like INC-2026-0001", 2)
        query += f" AND IncidentNumber = '{args.incident}'"
    items = []
    async for w in client.list_workflows(query, limit=args.limit):
        try:
            items.append((w.id, await client.get_workflow_handle(w.id).query(ActionItemWorkflow.get_item)))
        except RPCError as err:
            raise CliError(f"cannot read action item {w.id}: {err.message}. Is `firebreak worker` running?") from err
    if args.json:
        print(json.dumps([{"id": wid, **item.model_dump(mode="json", exclude={"outcomes"})} for wid, item in items],
                         indent=2))
    elif not items:
        print("no open action items" if not args.all else "no action items")
    else:
        print(table(["ACTION ITEM", "STATUS", "OWNER", "DUE", "REMINDERS", "WHAT"],
                    [[wid, i.status, i.item.owner, i.item.due.strftime("%Y-%m-%d") if i.item.due else "-",
                      str(i.reminders_sent), i.item.what[:60]] for wid, i in items]))
    return 0


async def cmd_done(args: argparse.Namespace) -> int:
    args.incident = args.action_item
    return await _send(args, ActionItemWorkflow.mark_done,
                       lambda by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=args.note))


def _artefacts() -> Path:
    return firebreak_home() / "artefacts"


def cmd_risks(args: argparse.Namespace) -> int:
    register = _artefacts() / RISK_REGISTER
    entries = [RiskEntry.model_validate_json(p.read_text()) for p in sorted(register.glob("*.json"))]
    entries = [e for e in entries if (not args.kind or e.kind.value == args.kind)
               and (not args.owasp or args.owasp in e.owasp_llm) and (not args.service or args.service in e.services)]
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
    elif not entries:
        print(f"the risk register is empty ({register})")
    else:
        print(table(["INCIDENT", "SEV", "KIND", "SERVICES", "FAILURE MODE", "HARM", "OWASP", "NIST AI 600-1",
                     "ROOT CAUSE"],
                    [[e.incident, e.severity.value, e.kind.value, ",".join(e.services), e.failure_mode,
                      e.harm_severity, ",".join(e.owasp_llm), "; ".join(e.nist_ai_600_1),
                      (e.root_cause or "(review pending)")[:50]] for e in entries]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    records = []
    for path in sorted(_artefacts().glob("*/retrospective.json")):
        records.append(json.loads(path.read_text()))
    if not records:
        print(f"no resolved incidents in {_artefacts()} yet")
        return 0
    result = figures(records, on_time_minutes=args.on_time_minutes)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    def line(name: str, s: dict[str, Any]) -> list[str]:
        return [name, str(s["n"]), *("-" if s[k] is None else f"{s[k]:g}" for k in ("median", "p90", "max"))]

    rows = [line("time to acknowledge", result["minutes_to_acknowledge"]),
            line("time to resolve", result["minutes_to_resolve"]),
            *(line(f"  {step}", s) for step, s in result["minutes_per_step"].items()),
            line("approval latency", result["approval_minutes"])]
    cadence = result["cadence"]
    share = "-" if cadence["on_time_share"] is None else f"{100 * cadence['on_time_share']:.0f}%"
    print(f"{result['incidents']} incident(s) with a retrospective record (minutes)\n")
    print(table(["FIGURE", "N", "MEDIAN", "P90", "MAX"], rows))
    print(f"\ncadence: {cadence['briefs_sent']} of {cadence['briefs_due']} briefs sent, {cadence['sent_on_time']} "
          f"within {cadence['on_time_minutes']:g} min of due ({share} on time)")
    print("\ntime to resolve by incident (minutes)\n" + bar_chart(result["resolve_by_incident"]))
    return 0


async def cmd_check_playbook(args: argparse.Namespace) -> int:
    pb = _playbook(args)
    print(f"{args.playbook}: ok ({len(pb.roster.people)} people, {len(pb.actions)} actions, "
          f"{len(pb.services)} service plans, {len(pb.severity.rules)} severity rules)")
    return 0


async def cmd_watchers_sync(args: argparse.Namespace) -> int:
    from workflows.schedules import schedule_id, sync_watchers

    pb = _playbook(args)
    done = await sync_watchers(await _client(args), pb)
    for name, what in done:
        print(f"{schedule_id(name)}: {what}")
    if not pb.watchers:
        print(f"{args.playbook}: no [watchers] configured")
    return 0


def cmd_watchers_status(args: argparse.Namespace) -> int:
    """What each watcher remembers: its breach in progress, alerts raised, and whether Langfuse answers."""
    from integrations.artefacts import ArtefactStore
    from playbook.watch import WatchMemory, describe, memory_path

    pb = _playbook(args)
    store = ArtefactStore(firebreak_home() / "artefacts")
    rows: list[dict[str, Any]] = []
    for name, watcher in sorted(pb.watchers.items()):
        path = store.path(memory_path(name))
        try:
            memory = WatchMemory.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None
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


# ---------------------------------------------------------------- parser


def _human(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--as", dest="as_", metavar="PERSON", help="who you are on the roster (default $FIREBREAK_USER)")
    sub.add_argument("--role", choices=[r.value for r in Role],
                     help="the role you act in (default $FIREBREAK_ROLE, or your only role on the roster)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firebreak", description="Durable incident response for AI systems.")
    parser.add_argument("--playbook", type=Path, default=default_playbook_path(),
                        help="playbook file (default $FIREBREAK_PLAYBOOK or ./playbook.toml)")
    parser.add_argument("--address", help="Temporal host:port (default TEMPORAL_ADDRESS / envconfig, "
                        "else localhost:7233)")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    watchers = subs.add_parser("watchers", help="the Langfuse watchers' Temporal Schedules")
    watchers_subs = watchers.add_subparsers(dest="watchers_command", required=True, metavar="COMMAND")
    watchers_subs.add_parser("sync", help="create, update or delete one schedule per [watchers.<name>]").set_defaults(
        run=cmd_watchers_sync)
    status = watchers_subs.add_parser("status", help="each watcher's breach in progress and Langfuse errors "
                                                     "(exit 1 while one fails to read Langfuse)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_watchers_status)

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

    token = subs.add_parser("token", help="personal API tokens for people on the roster (HTTP approvals)")
    token_subs = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    issue = token_subs.add_parser("issue", help="print a new token for PERSON once (only its hash is stored)")
    issue.add_argument("person")
    issue.set_defaults(run=cmd_token_issue)
    revoke = token_subs.add_parser("revoke", help="revoke PERSON's tokens (or one, with --id)")
    revoke.add_argument("person")
    revoke.add_argument("--id", help="only the token with this id (see `firebreak token ls`)")
    revoke.set_defaults(run=cmd_token_revoke)
    token_ls = token_subs.add_parser("ls", help="list the tokens: person, id, created")
    token_ls.add_argument("--json", action="store_true")
    token_ls.set_defaults(run=cmd_token_ls)

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
    retest = subs.add_parser("retest", help="run the incident's promptfoo regression suite again (incident "
                             "commander or AI Ops), e.g. after the candidate was fixed")
    retest.add_argument("incident")
    retest.add_argument("--comment", default="")
    _human(retest)
    retest.set_defaults(run=cmd_retest)
    patch = subs.add_parser(
        "patch", help="send a new patch text for the prompt (incident commander or AI Ops): a new candidate version",
        description="Send a new patched prompt text mid-incident. The incident creates a new candidate version in "
        "Langfuse from it (labelled candidate; once per text, however often it is retried), runs the plan's "
        "regression suites against it, and asks for the promotion approval with the suite's result. "
        f"At most {PATCH_TEXT_LIMIT} characters. It runs once the response steps are done.")
    patch.add_argument("incident")
    patch.add_argument("--file", required=True, metavar="FILE", help="the new prompt text (UTF-8; '-' reads stdin)")
    patch.add_argument("--action", metavar="NAME", help="the langfuse_prompt_patch action (default: the plan's only "
                       "one)")
    patch.add_argument("--comment", default="")
    _human(patch)
    patch.set_defaults(run=cmd_patch)
    retro = subs.add_parser("retro", help="record the retrospective (incident commander); closes the incident")
    retro.add_argument("incident")
    retro.add_argument("--file", help="JSON with root_cause, contributing_factors, preventative_actions, "
                       "action_items [{what, owner, due}], went_well, went_badly")
    retro.add_argument("--root-cause")
    retro.add_argument("--factor", action="append", default=[], help="contributing factor (repeatable)")
    retro.add_argument("--prevent", action="append", default=[], help="preventative action (repeatable)")
    retro.add_argument("--action", action="append", default=[], metavar="WHAT|OWNER|DUE",
                       help="action item (repeatable)")
    retro.add_argument("--went-well", action="append", default=[])
    retro.add_argument("--went-badly", action="append", default=[])
    retro.add_argument("--failure-mode", help="risk register: the failure mode, if not the signal kind's default")
    retro.add_argument("--owasp", action="append", default=[], metavar="LLM0N",
                       help="risk register: OWASP LLM Top 10 (2025) id, repeatable (default from the signal kind)")
    retro.add_argument("--nist", action="append", default=[], metavar="RISK",
                       help="risk register: NIST AI 600-1 risk name, repeatable (default from the signal kind)")
    _human(retro)
    retro.set_defaults(run=cmd_retro)
    actions = subs.add_parser("actions", help="retrospective action items, chased by reminders until done")
    actions.add_argument("--incident", help="only this incident's items (INC number)")
    actions.add_argument("--all", action="store_true", help="include items already done")
    actions.add_argument("--limit", type=int, default=200)
    actions.add_argument("--json", action="store_true")
    actions.set_defaults(run=cmd_actions)
    done = subs.add_parser("done", help="mark an action item done (its owner or an incident commander)")
    done.add_argument("action_item", help="the item's id, e.g. action-INC-2026-0001-1 (see `firebreak actions`)")
    done.add_argument("--note", default="")
    _human(done)
    done.set_defaults(run=cmd_done)
    risks = subs.add_parser("risks", help="the risk register: one entry per resolved incident (local artefacts)")
    risks.add_argument("--kind", choices=[k.value for k in SignalKind])
    risks.add_argument("--owasp", metavar="LLM0N", help="only entries with this OWASP LLM Top 10 id")
    risks.add_argument("--service")
    risks.add_argument("--json", action="store_true")
    risks.set_defaults(run=cmd_risks)
    report = subs.add_parser("report", help="figures across incidents: acknowledge/resolve times, time per step, "
                             "cadence adherence, approval latency")
    report.add_argument("--on-time-minutes", type=float, default=15.0,
                        help="a brief sent within this many minutes of falling due counts as on time (default 15)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=cmd_report)
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
    except KeyboardInterrupt:
        code = 130
    tracing.shutdown()  # export buffered spans: os._exit skips atexit
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the SDK can crash the interpreter at exit (sdk-python #300); leave with the real code


if __name__ == "__main__":
    main()
