"""The page shell every board page shares: head, skip link, navigation, who is signed in, sign-out, the live status.

Plain server-rendered HTML; every value goes through `esc`.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from intake.board.session import Session


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f'<time datetime="{esc(moment.astimezone(UTC).isoformat())}">{text}</time>'


def age(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"


def page(title: str, body: str, session: Session | None, events: str | None = None, flash: str = "") -> str:
    """A whole page. `events`: the server-sent events URL whose changes refresh the page's [data-live] parts."""
    nav = ""
    if session is not None:
        nav = (f'<nav aria-label="Board"><a href="/">Incidents</a><a href="/reports">Reports</a></nav>'
               f'<span class="who">signed in as <strong>{esc(session.person)}</strong></span>'
               f'<form class="inline" method="post" action="/signout">{csrf_field(session.csrf)}'
               f'<button type="submit">Sign out</button></form>')
    live = ('<p class="muted" id="live-status" role="status" aria-live="polite">connecting for live updates'
            '</p>' if events else "")
    said = f'<div class="card flash" role="status">{esc(flash)}</div>' if flash else ""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{esc(title)} · Firebreak</title>
<link rel="stylesheet" href="/board/static/board.css"></head>
<body{f' data-events="{esc(events)}"' if events else ''}>
<a class="skip" href="#main">Skip to content</a>
<header><strong>Firebreak</strong>{nav}</header>
<main id="main">
{said}{live}{body}
</main>
<script src="/board/static/board.js" defer></script>
</body></html>"""
