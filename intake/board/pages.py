"""The sign-in page, the incidents list and the reports page (the incident page is in incident_page.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from intake.board.layout import age, csrf_field, esc, when
from intake.board.reads import Filters, Row
from playbook.models import Severity, SignalKind


def signin_body(csrf: str, refused: str = "", back: str = "/") -> str:
    said = f'<p class="card bad" role="alert">{esc(refused)}</p>' if refused else ""
    return (f"<h1>Sign in</h1>{said}<p>Sign in with your personal token (<code>firebreak token issue "
            f"PERSON</code> prints one). Only people on the playbook's roster see the board.</p>"
            f'<form method="post" action="/signin">{csrf_field(csrf)}'
            f'<input type="hidden" name="next" value="{esc(back)}">'
            f'<label for="token">personal token</label> '
            f'<input id="token" name="token" type="password" autocomplete="current-password" required> '
            f'<button type="submit">Sign in</button></form>')


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
    opts = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(t)}</option>'
                   for v, t in options)
    return f'<label>{esc(label)} <select name="{name}">{opts}</select></label>'


def filters_form(f: Filters) -> str:
    return ('<form method="get" action="/" aria-label="Filters" class="card">'
            + _select("state", "status", [("open", "open"), ("closed", "closed"), ("all", "all")], f.state)
            + _select("severity", "severity", [("", "any"), *((s.value, s.value) for s in Severity)], f.severity)
            + _select("kind", "kind", [("", "any"), *((k.value, k.value) for k in SignalKind)], f.kind)
            + f'<label>service <input name="service" value="{esc(f.service)}" size="14"></label>'
            + f'<label><input type="checkbox" name="mine" value="1"{" checked" if f.mine else ""}> waiting for me'
            + '</label> <button type="submit">Filter</button></form>')


def list_body(f: Filters, rows: list[Row], problem: str = "") -> str:
    head = ["incident", "severity", "status", "step", "service", "kind", "alerts", "commander", "age",
            "next brief due", "waiting for me"]
    trs = []
    for r in rows:
        c = r.cells
        trs.append(f'<tr><th scope="row"><a href="/incidents/{quote(c["number"])}">{esc(c["number"])}</a></th>'
                   f'<td>{esc(c["severity"])}</td><td>{esc(c["status"])}</td><td>{esc(c["step"])}</td>'
                   f'<td>{esc(c["service"])}</td><td>{esc(c["kind"])}</td><td>{esc(c["alerts"])}</td>'
                   f'<td>{esc(r.commander)}</td><td>{age(r.detected_at)}</td><td>{when(r.next_brief_due)}</td>'
                   f'<td>{r.waiting_for_me or ""}</td></tr>')
    table = ('<div class="table-wrap"><table><caption class="vh">Incidents</caption><thead><tr>'
             + "".join(f'<th scope="col">{h}</th>' for h in head) + "</tr></thead><tbody>" + "".join(trs)
             + "</tbody></table></div>") if trs else "<p>No incident matches.</p>"
    said = f'<p class="card bad" role="alert">{esc(problem)}</p>' if problem else ""
    return (f'<h1>Incidents</h1>{filters_form(f)}{said}<section id="incidents" data-live aria-label="Incidents">'
            f'<p class="muted">{len(rows)} shown</p>{table}</section>')


def _line(name: str, s: dict[str, Any]) -> str:
    cells = "".join(f"<td>{'-' if s[k] is None else f'{s[k]:g}'}</td>" for k in ("median", "p90", "max"))
    return f'<tr><th scope="row">{esc(name)}</th><td>{s["n"]}</td>{cells}</tr>'


def reports_body(result: dict[str, Any] | None, svgs: list[str], problems: list[str]) -> str:
    notes = "".join(f'<li>{esc(p)}</li>' for p in problems)
    notes = f'<ul class="card warn" aria-label="Records not read">{notes}</ul>' if notes else ""
    if result is None:
        return f"<h1>Reports</h1>{notes}<p>No resolved incident with a retrospective record yet.</p>"
    rows = [_line("time to acknowledge (MTTA)", result["minutes_to_acknowledge"]),
            _line("time to resolve (MTTR)", result["minutes_to_resolve"]),
            *(_line(f"  {step}", s) for step, s in result["minutes_per_step"].items()),
            _line("approval latency", result["approval_minutes"])]
    cadence = result["cadence"]
    share = "-" if cadence["on_time_share"] is None else f"{100 * cadence['on_time_share']:.0f}%"
    return (f"<h1>Reports</h1>{notes}<p>{result['incidents']} incident(s) with a retrospective record; the same "
            f"figures as <code>firebreak report</code> (minutes).</p>"
            '<div class="table-wrap"><table><caption class="vh">Figures</caption><thead><tr><th scope="col">'
            'figure</th><th scope="col">n</th><th scope="col">median</th><th scope="col">p90</th><th scope="col">'
            f'max</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f"<p>cadence: {cadence['briefs_sent']} of {cadence['briefs_due']} briefs sent, {cadence['sent_on_time']} "
            f"within {cadence['on_time_minutes']:g} min of due ({share} on time)</p>"
            f'<h2>Charts</h2><div class="charts">{"".join(f"<figure>{s}</figure>" for s in svgs)}</div>')
