"""The incident's own Slack channel ([communicate.incident_channel]): what the workflow keeps of it across
continue-as-new, what its activities are asked, and how timeline entries read there. Pure: no I/O."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from playbook.config import SlackChannel
from playbook.models import TimelineEntry

NAME_LIMIT = 80  # Slack: channel names are at most 80 characters, lower case, no spaces or periods


class IncidentRoom(BaseModel):
    """Carried in the incident state, so a new run neither creates the channel again nor posts an entry twice."""

    channel_id: str | None = None
    name: str | None = None
    invited: list[str] = Field(default_factory=list, description="Slack user ids invited (or already in)")
    posted: int = Field(default=0, description="timeline[:posted] has been posted")
    archived: bool = False


class RoomOpen(BaseModel):
    incident_number: str
    workflow_id: str
    name: str
    config: SlackChannel


class RoomOpened(BaseModel):
    channel_id: str
    name: str
    reused: bool = False


class RoomInvite(BaseModel):
    incident_number: str
    channel_id: str
    users: list[str]
    config: SlackChannel


class RoomPost(BaseModel):
    """Timeline entries `first`, `first + 1`, ...; each is posted once (the activity keeps a log by index)."""

    key: str
    incident_number: str
    channel_id: str
    first: int
    entries: list[TimelineEntry]
    config: SlackChannel


class RoomArchive(BaseModel):
    incident_number: str
    channel_id: str
    config: SlackChannel


def channel_name(prefix: str, number: str) -> str:
    """`inc-2026-0007` from INC-2026-0007 (with the prefix before it): lower case, anything Slack refuses as '-'."""
    name = re.sub(r"[^a-z0-9_-]+", "-", f"{prefix}{number}".lower()).strip("-")
    return name[:NAME_LIMIT] or "incident"


def suffixed(name: str, n: int) -> str:
    """The n-th alternative when the name is taken by another channel: inc-2026-0007-2, -3 ..."""
    tail = f"-{n}"
    return name[:NAME_LIMIT - len(tail)] + tail


def entry_line(index: int, entry: TimelineEntry) -> str:
    """One timeline entry as a line of the channel's message (the index is what keeps each entry posted once)."""
    details = "; ".join(f"{k}: {v}" for k, v in entry.details.items() if v not in (None, "", [], {}))
    line = f"`#{index}` {entry.at:%H:%M:%S} *{entry.actor}* ({entry.role}, {entry.step.value}): {entry.what}"
    return f"{line} - {details}"[:1500] if details else line[:1500]
