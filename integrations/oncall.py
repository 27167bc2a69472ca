"""Who is on call: iCalendar feeds (RFC 5545, expanded by `recurring-ical-events`: weekly rotations, time zones and
daylight-saving changes, RECURRENCE-ID exceptions) and PagerDuty schedules (REST API v2 `GET /oncalls`).

A feed's events are shifts; an event's SUMMARY (or an ATTENDEE's e-mail) names the person: a roster id, a roster
name or a roster contact. Where shifts overlap, the one that started last holds the role: an override is an event
of its own inside the rotation's shift. Each layer (feed or schedule) gives one person; the layers in order are the
escalation chain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import icalendar
import recurring_ical_events
from pagerduty import RestApiV2Client
from pagerduty.errors import Error, HttpError

from integrations.pagerduty import PagerDutyError, client_options, quiet, secret
from playbook.config.paging import PagerDutyConfig
from playbook.config.roster import Roster
from playbook.models import Role
from playbook.paging import OnCallRequest, OnCallResult, RoleOnCall, Shift


class FeedError(Exception):
    """A schedule that could not be read; says which and why."""


def person_of(roster: Roster, names: list[str]) -> str | None:
    """The roster id a schedule's name, e-mail or id stands for."""
    for raw in names:
        name = raw.strip().removeprefix("mailto:").removeprefix("MAILTO:").casefold()
        for pid, person in roster.people.items():
            if name and name in (pid.casefold(), person.name.casefold(), person.contact.casefold()):
                return pid
    return None


def read_feed(source: str, base: Path, timeout: float) -> bytes:
    if source.startswith(("https://", "http://")):
        try:
            response = httpx.get(source, timeout=timeout, follow_redirects=True)
        except httpx.HTTPError as err:
            raise FeedError(f"{source}: {err}") from err
        if response.status_code != 200:
            raise FeedError(f"{source} answered {response.status_code}")
        return response.content
    path = (base / source) if not Path(source).is_absolute() else Path(source)
    try:
        return path.read_bytes()
    except OSError as err:
        raise FeedError(f"{path}: {err.strerror or err}") from err


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):  # an all-day event: midnight UTC
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ical_shifts(feed: bytes, roster: Roster, start: datetime, end: datetime, layer: str) -> list[Shift]:
    try:
        calendar = icalendar.Calendar.from_ical(feed)
        events = recurring_ical_events.of(calendar).between(start, end)
    except (ValueError, KeyError) as err:
        raise FeedError(f"{layer}: not an iCalendar feed RFC 5545 accepts ({err})") from err
    shifts = []
    for event in events:
        summary = str(event.get("SUMMARY", "")).strip()
        attendees = event.get("ATTENDEE", [])
        names = [summary, *(str(a) for a in (attendees if isinstance(attendees, list) else [attendees]))]
        begins = _aware(event.decoded("DTSTART"))
        ends = _aware(event.decoded("DTEND")) if "DTEND" in event else begins + event.decoded("DURATION", timedelta())
        shifts.append(Shift(person=person_of(roster, names), named=summary, start=begins.astimezone(UTC),
                            end=ends.astimezone(UTC), layer=layer))
    return sorted(shifts, key=lambda s: (s.start, s.end))


def holder(shifts: list[Shift], at: datetime) -> Shift | None:
    """The shift covering `at`; of overlapping ones, the one that started last (an override), then the shorter."""
    covering = [s for s in shifts if s.start <= at < s.end]
    return max(covering, key=lambda s: (s.start, -(s.end - s.start).total_seconds()), default=None)


def next_change(shifts: list[Shift], at: datetime) -> Shift | None:
    """The first later shift that puts someone else in the role (an override's end hands back to the rotation)."""
    now = holder(shifts, at)
    moments = sorted({s.start for s in shifts if s.start > at} | {s.end for s in shifts if s.end > at})
    for moment in moments:
        then = holder(shifts, moment)
        if then is not None and (now is None or then.named != now.named):
            return then.model_copy(update={"start": moment})
    return None


def pagerduty_shifts(cfg: PagerDutyConfig, schedule: str, roster: Roster, start: datetime, end: datetime,
                     timeout: float) -> list[Shift]:
    """The schedule's on-call entries between start and end (GET /oncalls), with a read-only REST API key."""
    token = secret(cfg.api_token_env, "PagerDuty REST API key")
    by_user = {p.pagerduty_user: pid for pid, p in roster.people.items() if p.pagerduty_user}
    params = {"schedule_ids[]": [schedule], "since": start.isoformat(), "until": end.isoformat()}
    with quiet(RestApiV2Client(token, base_url=cfg.api_url, **client_options(cfg)), cfg) as client:
        client.timeout = timeout
        try:
            entries = list(client.iter_all("oncalls", params=params))
        except HttpError as err:
            said = f"{err.response.status_code} {err.response.text[:200]}" if err.response is not None else str(err)
            raise FeedError(f"PagerDuty schedule {schedule}: {said}; check {cfg.api_token_env} (a read-only REST API "
                            f"key)") from err
        except (Error, PagerDutyError) as err:
            raise FeedError(f"PagerDuty schedule {schedule}: {err}") from err
    shifts = []
    for entry in entries:
        user = entry.get("user") or {}
        begins = datetime.fromisoformat(entry["start"]) if entry.get("start") else start
        ends = datetime.fromisoformat(entry["end"]) if entry.get("end") else end
        shifts.append(Shift(person=by_user.get(str(user.get("id"))), named=str(user.get("summary") or user.get("id")),
                            start=_aware(begins).astimezone(UTC), end=_aware(ends).astimezone(UTC),
                            layer=f"pagerduty:{schedule}"))
    return sorted(shifts, key=lambda s: (s.start, s.end))


def on_call(request: OnCallRequest, base: Path) -> OnCallResult:
    """Who holds each scheduled role at `request.at`, and the next change of each layer. A layer that cannot be
    read is an error on its role; the others still count."""
    at = request.at.astimezone(UTC)
    start, end = at - timedelta(days=1), at + timedelta(days=request.horizon_days)
    timeout = float(request.paging.feed_timeout_seconds)
    result = OnCallResult(at=at)
    for role, schedule in request.paging.oncall.items():
        found = RoleOnCall(role=Role(role))
        layers: list[tuple[str, Any]] = [(f, None) for f in schedule.ical] + \
            [(f"pagerduty:{s}", s) for s in schedule.pagerduty_schedules]
        for layer, pd_schedule in layers:
            try:
                if pd_schedule is None:
                    shifts = ical_shifts(read_feed(layer, base, timeout), request.roster, start, end, layer)
                else:
                    shifts = pagerduty_shifts(request.paging.pagerduty, pd_schedule, request.roster, start, end,
                                              timeout)
            except (FeedError, PagerDutyError) as err:
                found.errors.append(str(err))
                continue
            if (now := holder(shifts, at)) is not None:
                found.now.append(now)
            if (later := next_change(shifts, at)) is not None:
                found.next.append(later)
        result.roles[Role(role)] = found
    return result
