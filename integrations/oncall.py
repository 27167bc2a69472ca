"""Who is on call: iCalendar feeds (RFC 5545, expanded by `recurring-ical-events`: weekly rotations, time zones and
daylight-saving changes, RECURRENCE-ID exceptions), PagerDuty schedules and PagerDuty escalation policies (REST
API v2 `GET /oncalls`; a policy's escalation levels are its layers).

A feed's events are shifts; an event's SUMMARY (or an ATTENDEE's e-mail) names the person: a roster id, a roster
name or a roster contact. Where shifts overlap, an override (a one-off event in a feed of recurring ones) holds the
role, even across the rotation's handover; otherwise the shift that started last does. Each layer (feed or
schedule) gives one person; the layers in order are the escalation chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from integrations.pagerduty import PagerDutyError, client_options, quiet, secret
from playbook.config.paging import OnCallSchedule, PagerDutyConfig
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
    import icalendar  # the iCalendar readers load with the first feed read, not with the worker
    import recurring_ical_events

    try:
        calendar = icalendar.Calendar.from_ical(feed)
        events = recurring_ical_events.of(calendar).between(start, end)
    except (ValueError, KeyError) as err:
        raise FeedError(f"{layer}: not an iCalendar feed RFC 5545 accepts ({err})") from err
    rotations = {str(e.get("UID")) for e in calendar.walk("VEVENT") if "RRULE" in e or "RDATE" in e}
    shifts = []
    for event in events:
        summary = str(event.get("SUMMARY", "")).strip()
        attendees = event.get("ATTENDEE", [])
        names = [summary, *(str(a) for a in (attendees if isinstance(attendees, list) else [attendees]))]
        begins = _aware(event.decoded("DTSTART"))
        ends = _aware(event.decoded("DTEND")) if "DTEND" in event else begins + event.decoded("DURATION", timedelta())
        shifts.append(Shift(person=person_of(roster, names), named=summary, start=begins.astimezone(UTC),
                            end=ends.astimezone(UTC), layer=layer,
                            override=bool(rotations) and str(event.get("UID")) not in rotations))
    return sorted(shifts, key=lambda s: (s.start, s.end))


def holder(shifts: list[Shift], at: datetime) -> Shift | None:
    """The shift covering `at`; of overlapping ones an override (a one-off event over a rotation), then the one
    that started last, then the shorter."""
    covering = [s for s in shifts if s.start <= at < s.end]
    return max(covering, key=lambda s: (s.override, s.start, -(s.end - s.start).total_seconds()), default=None)


def next_change(shifts: list[Shift], at: datetime) -> Shift | None:
    """The first later shift that puts someone else in the role (an override's end hands back to the rotation)."""
    now = holder(shifts, at)
    moments = sorted({s.start for s in shifts if s.start > at} | {s.end for s in shifts if s.end > at})
    for moment in moments:
        then = holder(shifts, moment)
        if then is not None and (now is None or then.named != now.named):
            return then.model_copy(update={"start": moment})
    return None


def pagerduty_oncalls(cfg: PagerDutyConfig, what: str, params: dict[str, Any], roster: Roster, start: datetime,
                      end: datetime, timeout: float) -> list[tuple[int, Shift]]:
    """On-call entries between start and end (GET /oncalls, a read-only REST API key), each with its escalation
    level; `what` names the schedule or escalation policy asked about, in errors and layers."""
    from pagerduty import RestApiV2Client
    from pagerduty.errors import Error, HttpError

    token = secret(cfg.api_token_env, "PagerDuty REST API key")
    by_user = {p.pagerduty_user: pid for pid, p in roster.people.items() if p.pagerduty_user}
    params = {**params, "since": start.isoformat(), "until": end.isoformat()}
    with quiet(RestApiV2Client(token, base_url=cfg.api_url, **client_options(cfg)), cfg) as client:
        client.timeout = timeout
        try:
            entries = list(client.iter_all("oncalls", params=params))
        except HttpError as err:
            said = f"{err.response.status_code} {err.response.text[:200]}" if err.response is not None else str(err)
            raise FeedError(f"PagerDuty {what}: {said}; check {cfg.api_token_env} (a read-only REST API key)") from err
        except (Error, PagerDutyError) as err:
            raise FeedError(f"PagerDuty {what}: {err}") from err
    found = []
    for entry in entries:
        user = entry.get("user") or {}
        begins = datetime.fromisoformat(entry["start"]) if entry.get("start") else start  # always on call: no end
        ends = datetime.fromisoformat(entry["end"]) if entry.get("end") else end
        found.append((int(entry.get("escalation_level") or 1), Shift(
            person=by_user.get(str(user.get("id"))), named=str(user.get("summary") or user.get("id")),
            start=_aware(begins).astimezone(UTC), end=_aware(ends).astimezone(UTC), layer=f"pagerduty:{what}")))
    return found


def _layers(schedule: OnCallSchedule, request: OnCallRequest, base: Path, start: datetime,
            end: datetime) -> Iterator[tuple[str, list[Shift] | FeedError]]:
    """Each layer in escalation order with its shifts, or why it could not be read: the iCalendar feeds, the
    PagerDuty schedules, then the escalation policy's levels."""
    timeout, pd, roster = float(request.paging.feed_timeout_seconds), request.paging.pagerduty, request.roster
    for feed in schedule.ical:
        try:
            yield feed, ical_shifts(read_feed(feed, base, timeout), roster, start, end, feed)
        except (FeedError, PagerDutyError) as err:
            yield feed, FeedError(str(err))
    for sid in schedule.pagerduty_schedules:
        try:
            yield sid, [sh for _, sh in pagerduty_oncalls(pd, sid, {"schedule_ids[]": [sid]}, roster, start, end,
                                                          timeout)]
        except (FeedError, PagerDutyError) as err:
            yield sid, FeedError(str(err))
    if (policy := schedule.pagerduty_escalation_policy) is not None:
        try:
            entries = pagerduty_oncalls(pd, policy, {"escalation_policy_ids[]": [policy]}, roster, start, end, timeout)
        except (FeedError, PagerDutyError) as err:
            yield policy, FeedError(str(err))
            return
        for level in sorted({lvl for lvl, _ in entries}):
            layer = f"pagerduty:{policy}/level-{level}"
            yield layer, [sh.model_copy(update={"layer": layer}) for lvl, sh in entries if lvl == level]


def on_call(request: OnCallRequest, base: Path) -> OnCallResult:
    """Who holds each scheduled role at `request.at`, and the next change of each layer. A layer that cannot be
    read is an error on its role; the others still count."""
    at = request.at.astimezone(UTC)
    start, end = at - timedelta(days=1), at + timedelta(days=request.horizon_days)
    result = OnCallResult(at=at)
    for role, schedule in request.paging.oncall.items():
        found = RoleOnCall(role=Role(role))
        for _, shifts in _layers(schedule, request, base, start, end):
            if isinstance(shifts, FeedError):
                found.errors.append(str(shifts))
                continue
            shifts.sort(key=lambda s: (s.start, s.end))
            if (now := holder(shifts, at)) is not None:
                found.now.append(now)
            if (later := next_change(shifts, at)) is not None:
                found.next.append(later)
        result.roles[Role(role)] = found
    return result
