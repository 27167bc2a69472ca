"""The cross-checks: references between sections that pydantic cannot see (backups, actions, channels, template
variables, roles), each problem as (key, reason)."""

from __future__ import annotations

import re

from playbook.approval import ApprovalMode
from playbook.config.actions import (
    Action,
    HttpAction,
    HttpRequest,
    LangfusePromptPatchAction,
    LangfusePromptRollbackAction,
    ManualAction,
    PromptfooRegressionAction,
)
from playbook.config.channels import CHANNEL_KINDS_FOR_PAGES
from playbook.config.root import Playbook
from playbook.config.templates import TEMPLATE_VARIABLES, template_variables
from playbook.models import Role, Step


def _cross_check(pb: Playbook) -> list[tuple[str, str]]:
    """References that pydantic cannot see; each problem as (key, reason)."""
    problems: list[tuple[str, str]] = []
    people = pb.roster.people
    for pid, person in people.items():
        if person.backup is not None and person.backup not in people:
            problems.append((f"roster.people.{pid}.backup", f"'{person.backup}' is not in roster.people"))
        if person.backup == pid:
            problems.append((f"roster.people.{pid}.backup", "a person cannot be their own backup"))
    for role in Role:
        if role != Role.LEGAL and not pb.roster.holders(role):
            problems.append(("roster.people", f"nobody holds the role '{role.value}'; every role needs someone"))
    policies = {"approvals.default": pb.approvals.default}
    for gated, per_sev in pb.approvals.actions.items():
        if gated not in pb.actions:
            problems.append((f"approvals.actions.{gated}", f"no action '{gated}' in [actions]"))
        for sev, mode in per_sev.items():
            policies[f"approvals.actions.{gated}.{sev.value}"] = mode
    for key, mode in policies.items():
        if ApprovalMode.parse(mode) is None:
            problems.append((key, f"'{mode}' is not a policy; use auto, auto_with_notice or approve:<role>"))
    for svc, plan in pb.services.items():
        for step in (Step.STABILISE, Step.CONTAIN, Step.REMEDIATE):
            for name in getattr(plan, step.value):
                if name not in pb.actions:
                    problems.append((f"services.{svc}.{step.value}", f"no action '{name}' in [actions]"))
    for name, action in pb.actions.items():
        texts = _action_texts(action)
        for field, text in texts.items():
            unknown = template_variables(text) - TEMPLATE_VARIABLES
            if unknown:
                problems.append((f"actions.{name}.{field}", f"unknown template variable(s) {sorted(unknown)}; "
                                 f"known: {sorted(TEMPLATE_VARIABLES)}"))
    for name, action in pb.actions.items():
        if isinstance(action, PromptfooRegressionAction):
            source = pb.evidence.get(action.evidence)
            if source is None or source.kind != "langfuse":
                problems.append((f"actions.{name}.evidence", f"'{action.evidence}' is not a langfuse source in "
                                 "[evidence]; the suite is built from its traces"))
    for name, source in pb.evidence.items():
        unknown = template_variables(" ".join([source.trace_name or "", *source.tags, *source.prompt_names,
                                               *source.datasets])
                                     ) - TEMPLATE_VARIABLES
        if unknown:
            problems.append((f"evidence.{name}", f"unknown template variable(s) {sorted(unknown)}; "
                             f"known: {sorted(TEMPLATE_VARIABLES)}"))
    for name in pb.watchers:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            problems.append((f"watchers.{name}", "name a watcher with 1-64 letters, digits, '-' or '_' "
                             "(it becomes part of a Temporal schedule id)"))
    problems += _check_communicate(pb) + missing_known_good(pb)
    return problems


def _check_communicate(pb: Playbook) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    comm = pb.communicate
    fields: dict[str, list[str]] = {"communicate.notify_channels": comm.notify_channels,
                                    "communicate.approval_channels": comm.approval_channels}
    if comm.audiences is None:
        fields["communicate.channels"] = comm.channels
    elif comm.channels:
        problems.append(("communicate.channels", "with [communicate.audiences] given, list the channels in each "
                         "audience's 'channels' instead"))
    elif not comm.audiences:
        problems.append(("communicate.audiences", "name at least one audience, or leave the table out for the "
                         "default (the responders)"))
    for name, audience in (comm.audiences or {}).items():
        fields[f"communicate.audiences.{name}.channels"] = audience.channels
    for key, names in fields.items():
        for name in names:
            if name not in pb.channels:
                problems.append((key, f"no channel '{name}' in [channels]"))
    for name in comm.notify_channels:
        if name in pb.channels and pb.channels[name].kind not in CHANNEL_KINDS_FOR_PAGES:
            problems.append(("communicate.notify_channels", f"'{name}' is a {pb.channels[name].kind} channel; pages "
                             f"go to {' or '.join(CHANNEL_KINDS_FOR_PAGES)} channels"))
    for name in comm.approval_channels:
        if name in pb.channels and pb.channels[name].kind != "slack":
            problems.append(("communicate.approval_channels", f"'{name}' is not a kind = \"slack\" channel; "
                             "approval requests with buttons need chat.postMessage"))
    room = comm.incident_channel
    if room.enabled and (room.channel is None or room.channel not in pb.channels
                         or pb.channels[room.channel].kind != "slack"):
        problems.append(("communicate.incident_channel.channel", "name a kind = \"slack\" channel in [channels] "
                         "(its bot token creates the incident's channel)"))
    pages = [(aud, name) for aud, audience in comm.audience_map().items() for name in audience.channels
             if name in pb.channels and pb.channels[name].kind == "statuspage"]
    for name in sorted({n for _, n in pages}):
        users = [aud for aud, n in pages if n == name]
        if len(users) > 1:
            problems.append((f"communicate.audiences.{users[1]}", f"the Statuspage channel '{name}' is already the "
                             f"{users[0]} audience's; one audience keeps a page's incident"))
    for aud_name, audience in comm.audience_map().items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", aud_name):
            problems.append((f"communicate.audiences.{aud_name}", "name an audience with 1-32 lower-case letters, "
                             "digits or '_', starting with a letter (it becomes part of request ids and file names)"))
        for name in audience.channels:
            if name in pb.channels and pb.channels[name].kind == "statuspage" and not audience.external:
                problems.append((f"communicate.audiences.{aud_name}", f"'{name}' is a public Statuspage: set "
                                 "external = true so the communications role releases what goes there"))
    return problems


def _action_texts(action: Action) -> dict[str, str]:
    """The action's fields that may hold template variables, by key."""
    if isinstance(action, ManualAction):
        return {"instructions": action.instructions, "undo_instructions": action.undo_instructions or ""}
    if isinstance(action, LangfusePromptRollbackAction):
        return {"prompt_name": action.prompt_name, "prompt_version": action.prompt_version}
    if isinstance(action, LangfusePromptPatchAction):
        return {"prompt_name": action.prompt_name, "text_file": action.text_file}
    if isinstance(action, PromptfooRegressionAction):
        return {}
    if not isinstance(action, HttpAction):  # the infrastructure backends say which of their keys are templates
        return action.texts()
    texts = _request_texts(action)
    if action.undo is not None:
        texts.update({f"undo.{k}": v for k, v in _request_texts(action.undo).items()})
    return texts


def _request_texts(request: HttpRequest) -> dict[str, str]:
    return {"url": request.url, "body": request.body or "", **{f"headers.{k}": v for k, v in request.headers.items()}}


# ${known_good_*} -> the known_good field of the service plan that fills it
KNOWN_GOOD = {"known_good_model": "model", "known_good_prompt_name": "prompt_name",
              "known_good_prompt_version": "prompt_version"}
PLANNED_STEPS = ("stabilise", "contain", "remediate")


def missing_known_good(pb: Playbook) -> list[tuple[str, str]]:
    """(key, reason) for each planned action that needs a known_good value its service plan does not give: known
    when the playbook loads, so refused there rather than rendered as a gap in an approval text."""
    problems: list[tuple[str, str]] = []
    for service, plan in pb.services.items():
        for step in PLANNED_STEPS:
            for name in getattr(plan, step):
                action = pb.actions.get(name)
                if action is None:
                    continue  # reported as an unknown action
                needed = {var: field for field, text in _action_texts(action).items()
                          for var in template_variables(text) if var in KNOWN_GOOD}
                for var, field in sorted(needed.items()):
                    key = KNOWN_GOOD[var]
                    if getattr(plan.known_good, key) is None:
                        problems.append((f"services.{service}.{step}", f"action '{name}' needs ${{{var}}} (in its "
                                         f"{field}), but this plan's known_good has no {key}: set known_good = "
                                         f"{{ {key} = ... }} for '{service}', or plan an action that does not need it"))
    return problems
