"""The incident page: summary, the seven steps, what waits for whom (and the forms to decide), mitigations with
keep/undo at resolution, briefs with the SME's edits, the evidence pack, the ticket, the retrospective, the timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from intake.board.artefacts import BriefFiles
from intake.board.layout import csrf_field, esc, when
from intake.board.reads import commander, primary
from playbook.current_details import approvers
from playbook.models import ActionItem, ApprovalRequest, Role, Step
from playbook.state import ActionItemState, IncidentState

MAX_TIMELINE = 300


def steps_strip(state: IncidentState) -> str:
    items, order = [], list(Step)
    for i, step in enumerate(Step, 1):
        now = step == state.step and state.status.value not in ("closed",)
        before = order.index(step) < order.index(state.step) and step != Step.COMMUNICATE  # briefs run throughout
        closed = state.status.value == "closed"
        cls = "now" if now else "done" if step in state.steps_done or before or closed else ""
        said = " (current step)" if now else " (done)" if cls == "done" else ""
        current = ' aria-current="step"' if now else ""
        items.append(f'<li class="{cls}"{current}>{i}. {esc(step.value)}'
                     f'<span class="vh">{said}</span></li>')
    return f'<ol class="steps" aria-label="The seven steps">{"".join(items)}</ol>'


def _roles_select(name: str, roles: list[Role], wanted: Role) -> str:
    ordered = sorted(roles, key=lambda r: r != wanted)
    options = "".join(f'<option value="{esc(r.value)}">{esc(r.value)}</option>' for r in ordered)
    return f'<label>act as <select name="{name}">{options}</select></label>'


def approval_form(number: str, req: ApprovalRequest, csrf: str, my_roles: list[Role], draft: str | None) -> str:
    base = f"/incidents/{quote(number)}/approvals/{quote(req.request_id)}"
    rid = esc(req.request_id)
    fields = (csrf_field(csrf) + (_roles_select("role", my_roles, req.role) if my_roles else "")
              + f'<label>comment <input name="comment" maxlength="4000" id="comment-{rid}"></label>')
    form = (f'<form method="post" action="{base}">{fields}'
            f'<button type="submit" name="decision" value="approve">Approve</button> '
            f'<button type="submit" name="decision" value="reject">Reject</button></form>')
    if draft is not None:
        form += (f'<details><summary>Edit and approve</summary><form method="post" action="{base}">'
                 f'{csrf_field(csrf)}<input type="hidden" name="decision" value="approve">'
                 + (_roles_select("role", my_roles, req.role) if my_roles else "")
                 + f'<label for="text-{rid}">brief text as it will be sent</label>'
                 f'<textarea id="text-{rid}" name="text">{esc(draft)}</textarea>'
                 f'<button type="submit">Approve with these edits</button></form></details>')
    return form


def acknowledge_form(state: IncidentState, number: str, csrf: str, my_roles: list[Role]) -> str:
    """For the incident commander or AI Ops while nobody has acknowledged (the workflow decides who may)."""
    roles: list[Role] = [r for r in my_roles if r in (Role.INCIDENT_COMMANDER, Role.AI_OPS)]
    if state.acknowledged_by or not roles:
        return ""
    return (f'<form method="post" action="/incidents/{quote(number)}/acknowledge" class="card">{csrf_field(csrf)}'
            f'{_roles_select("role", roles, Role.INCIDENT_COMMANDER)}<button type="submit">Acknowledge</button>'
            f"</form>")


def pending_section(state: IncidentState, number: str, csrf: str, my_roles: list[Role],
                    draft: Callable[[str], str | None]) -> str:
    pending = state.pending_approvals()
    if not pending:
        return "<p>Nothing waits for a decision.</p>"
    out = []
    for req in pending:
        who = approvers(state, req.role, lambda r: primary(state, r))
        out.append(f'<div class="card"><h3>{esc(req.request_id)}: {esc(req.subject)}</h3>'
                   f'<p>{esc(req.why)}</p><p>who may decide: <strong>{esc(req.role.value)}</strong> '
                   f'({esc(", ".join(who) or "nobody")})'
                   + (f"; escalated to {esc(', '.join(req.escalated_to))}" if req.escalated_to else "")
                   + f' · decide by {when(req.deadline)}</p>'
                   + approval_form(number, req, csrf, my_roles, draft(req.request_id)) + "</div>")
    return "".join(out)


def mitigations_section(state: IncidentState, number: str, csrf: str, may_resolve: bool) -> str:
    rows = "".join(f"<tr><td>{esc(m.step.value)}</td><td>{esc(m.name)}</td><td>{when(m.applied_at)}</td>"
                   f"<td>{esc(m.outcome)}{' (' + esc(m.choice) + ' by ' + esc(m.chosen_by) + ')' if m.choice else ''}"
                   f"</td></tr>" for m in state.in_place)
    out = ('<div class="table-wrap"><table><caption class="vh">Mitigations</caption><thead><tr><th scope="col">'
           'step</th><th scope="col">mitigation</th><th scope="col">applied</th><th scope="col">now</th></tr>'
           f'</thead><tbody>{rows}</tbody></table></div>' if rows else "<p>No mitigation in place.</p>")
    others = [m for m in state.mitigations if m.outcome != "done"]
    if others:
        out += "<p>Not in place: " + esc(", ".join(f"{m.action} ({m.outcome})" for m in others[-10:])) + "</p>"
    if may_resolve and state.status.value not in ("resolved", "closed"):
        choices = "".join(
            f'<fieldset><legend>{esc(m.name)}</legend>'
            f'<label><input type="radio" name="m:{esc(m.name)}" value="keep" checked> keep</label>'
            f'<label><input type="radio" name="m:{esc(m.name)}" value="undo"> undo</label></fieldset>'
            for m in state.in_place if m.outcome == "in_place")
        out += (f'<details><summary>Resolve the incident</summary><form method="post" '
                f'action="/incidents/{quote(number)}/resolve">{csrf_field(csrf)}{choices}'
                f'<label for="summary">resolution summary</label><textarea id="summary" name="comment" '
                f'maxlength="4000"></textarea><button type="submit">Resolve</button></form></details>')
    return out


def diff_html(diff: str) -> str:
    lines = []  # one block per line (no newlines between them: the blocks make the lines)
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            lines.append(f"<ins>{esc(line)}</ins>")
        elif line.startswith("-") and not line.startswith("---"):
            lines.append(f"<del>{esc(line)}</del>")
        else:
            lines.append(f'<span class="line">{esc(line)}</span>')
    return '<pre class="diff" aria-label="the SME\'s edit">' + "".join(lines) + "</pre>"


def briefs_section(found: list[BriefFiles]) -> str:
    if not found:
        return "<p>No brief drafted yet.</p>"
    out = []
    for b in found:
        state = "sent" if b.sent is not None else "draft, not sent"
        edit = diff_html(b.diff) if b.diff else ("<p class=\"muted\">sent as drafted</p>" if b.sent else "")
        text = b.sent if b.sent is not None else b.draft
        out.append(f'<div class="card"><h3>brief #{b.seq}, {esc(b.audience)} ({state})</h3>{edit}'
                   f'<details><summary>text</summary><pre>{esc(text)}</pre></details></div>')
    return "".join(out)


def evidence_section(number: str, manifest: dict[str, Any] | None) -> str:
    if not manifest:
        return "<p>No evidence pack yet.</p>"
    rows = []
    for item in manifest.get("items", []):
        path = str(item.get("path") or "")
        rel = path.split("/", 1)[1] if path.startswith(f"{number}/") else ""
        name = (f'<a href="/incidents/{quote(number)}/files/{quote(rel)}">{esc(item.get("name"))}</a>' if rel
                else esc(item.get("name")))
        rows.append(f"<tr><td>{name}</td><td>{esc(item.get('source'))}</td>"
                    f"<td><code>{esc(item.get('sha256') or '-')}</code></td><td>{esc(item.get('size') or '-')}</td>"
                    f"<td class=\"bad\">{esc(item.get('error') or '')}</td></tr>")
    return ('<div class="table-wrap"><table><caption class="vh">Evidence pack</caption><thead><tr>'
            '<th scope="col">item</th><th scope="col">source</th><th scope="col">sha256</th><th scope="col">bytes'
            f'</th><th scope="col">error</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f'<p>collected {esc(manifest.get("collected_at"))} · <a href="/incidents/{quote(number)}/files/'
            f'evidence/manifest.json">manifest.json</a></p>')


def _item(seq: int, a: ActionItem, tracked: ActionItemState | None) -> str:
    line = f"{esc(a.what)}: {esc(a.owner)}{', due ' + when(a.due) if a.due else ''}"
    if tracked is None:
        return f"<li>{line}</li>"
    status = f"done by {esc(tracked.done_by)}" if tracked.status == "done" and tracked.done_by else esc(tracked.status)
    issue = ""
    if tracked.ticket is not None and tracked.ticket.url.startswith(("http://", "https://")):
        issue = f' · <a href="{esc(tracked.ticket.url)}">{esc(tracked.ticket.key)}</a>'
    return f"<li>{line} · <strong>{status}</strong>{issue}</li>"


def review_section(state: IncidentState, tracked: dict[int, ActionItemState]) -> str:
    r = state.retrospective
    due = f"<p>Retrospective due {when(state.retrospective_due)}.</p>" if state.retrospective_due else ""
    if r is None:
        return due or "<p>No retrospective yet.</p>"
    items = "".join(_item(seq, a, tracked.get(seq)) for seq, a in enumerate(r.action_items, 1)) or "<li>none</li>"
    lists = "".join(f"<h3>{title}</h3><ul>{''.join(f'<li>{esc(x)}</li>' for x in values)}</ul>"
                    for title, values in (("contributing factors", r.contributing_factors),
                                          ("preventative actions", r.preventative_actions),
                                          ("went well", r.went_well), ("went badly", r.went_badly)) if values)
    return f"<p>root cause: {esc(r.root_cause)}</p>{lists}<h3>action items</h3><ul>{items}</ul>"


PROSE = ("text", "comment", "reason", "error", "summary", "title")  # details worth a line on the timeline


def said(details: dict[str, Any]) -> str:
    found = next((details[k] for k in PROSE if isinstance(details.get(k), str) and details[k].strip()), "")
    return f'<br><span class="muted">{esc(found[:500])}</span>' if found else ""


def timeline_section(state: IncidentState) -> str:
    entries = state.timeline[-MAX_TIMELINE:]
    rows = "".join(f"<tr><td>{when(e.at)}</td><td>{esc(e.step.value)}</td><td>{esc(e.actor)}"
                   f"{' (' + esc(e.role) + ')' if e.role else ''}</td><td>{esc(e.what)}{said(e.details)}</td></tr>"
                   for e in reversed(entries))
    return ('<div class="table-wrap"><table><caption class="vh">Timeline, newest first</caption><thead><tr>'
            '<th scope="col">at</th><th scope="col">step</th><th scope="col">who</th><th scope="col">what</th>'
            f'</tr></thead><tbody>{rows}</tbody></table></div>')


def incident_body(state: IncidentState, workflow_id: str, running: bool, csrf: str, my_roles: list[Role],
                  draft: Callable[[str], str | None], found_briefs: list[BriefFiles],
                  manifest: dict[str, Any] | None, temporal_ui: str, tracked: dict[int, ActionItemState]) -> str:
    number = state.number or workflow_id
    d = state.detection
    ticket = "not yet"
    if state.ticket:  # a local ticket is a file of the artefacts (a file:// link a browser would not open here)
        href = (f"/incidents/{quote(number)}/files/ticket.md" if state.ticket.url.startswith("file:")
                else state.ticket.url)
        ticket = f'<a href="{esc(href)}">{esc(state.ticket.key)}</a> ({esc(state.ticket.backend)})'
    ui = f"{temporal_ui.rstrip('/')}/namespaces/default/workflows/{quote(workflow_id)}"
    summary = (f'<dl class="card"><dt>severity</dt><dd>{esc(state.severity.value)} '
               f'<span class="muted">{esc(state.severity_reason)}</span></dd>'
               f'<dt>status</dt><dd>{esc(state.status.value)}{"" if running else " (workflow closed)"}</dd>'
               f'<dt>what</dt><dd>{esc(d.kind.value)} on {esc(", ".join(d.services))}: {esc(d.summary)}</dd>'
               f'<dt>alerts</dt><dd>{state.alert_count}</dd><dt>commander</dt><dd>{esc(commander(state))}</dd>'
               f'<dt>acknowledged</dt><dd>{esc(state.acknowledged_by or "not yet")} {when(state.acknowledged_at)}'
               f'</dd><dt>next brief due</dt><dd>{when(state.next_brief_due)}</dd><dt>ticket</dt><dd>{ticket}</dd>'
               f'<dt>Temporal</dt><dd><a href="{esc(ui)}">this incident in the Temporal UI</a></dd></dl>')
    return (f"<h1>{esc(number)}: {esc(d.summary)}</h1>"
            f'<section id="overview" data-live aria-labelledby="h-overview"><h2 id="h-overview">Summary</h2>'
            f"{steps_strip(state)}{acknowledge_form(state, number, csrf, my_roles) if running else ''}{summary}"
            f"</section>"
            f'<section id="approvals" data-live aria-labelledby="h-approvals"><h2 id="h-approvals">Waiting for a '
            f'decision</h2>{pending_section(state, number, csrf, my_roles, draft)}</section>'
            f'<section id="mitigations" data-live aria-labelledby="h-mitigations"><h2 id="h-mitigations">Mitigations'
            f"</h2>{mitigations_section(state, number, csrf, Role.INCIDENT_COMMANDER in my_roles and running)}"
            f"</section>"
            f'<section id="briefs" data-live aria-labelledby="h-briefs"><h2 id="h-briefs">Briefs</h2>'
            f"{briefs_section(found_briefs)}</section>"
            f'<section id="evidence" data-live aria-labelledby="h-evidence"><h2 id="h-evidence">Evidence pack</h2>'
            f"{evidence_section(number, manifest)}</section>"
            f'<section id="review" data-live aria-labelledby="h-review"><h2 id="h-review">Retrospective</h2>'
            f"{review_section(state, tracked)}</section>"
            f'<section id="timeline" data-live aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline</h2>'
            f"{timeline_section(state)}</section>")
