"""The incident's own Slack channel ([communicate.incident_channel], markers.INCIDENT_CHANNEL): opened once the
incident is, the responders invited (and whoever joins the incident later), the timeline posted as it grows, at most
one message per `post_every_seconds`, and archived when the incident closes.

A small task of its own, started again after a continue-as-new: the state carries the channel's id, who was invited
and how many timeline entries were posted (`IncidentRoom.posted`), so a new run neither opens another channel nor
posts an entry twice; the activity's own log by timeline index covers an attempt lost mid-post.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    from playbook.config import IncidentChannelConfig, SlackChannel
    from playbook.incident_channel import (
        IncidentRoom,
        RoomArchive,
        RoomInvite,
        RoomOpen,
        RoomOpened,
        RoomPost,
        channel_name,
    )
    from playbook.models import Role
    from workflows.incident import markers
    from workflows.incident.calls import cause, http_call

BATCH = 50  # timeline entries offered to one post (the activity posts as many as fit in one message)
OPEN_CALLS = 2 * 20 + 1  # conversations.create and .list per name tried, auth.test: the open activity's timeout


class ChannelRoom:
    def __init__(self, core: IncidentCore) -> None:
        self.core = core
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failing = False

    def _settings(self) -> tuple[IncidentChannelConfig, SlackChannel] | None:
        pb = self.core.playbook()
        room = pb.communicate.incident_channel
        cfg = pb.channels.get(room.channel or "") if room.enabled else None
        return (room, cfg) if isinstance(cfg, SlackChannel) else None

    def resume(self) -> None:
        """Once the incident is open, and again after a continue-as-new. Off (the default), or for histories from
        before this room: no command at all."""
        s = self.core.state
        if s.playbook is None or self._task is not None:
            return
        if s.incident_room is None:
            if self._settings() is None or not markers.patched(markers.INCIDENT_CHANNEL):
                return
            s.incident_room = IncidentRoom()
        if not s.incident_room.archived:
            self._task = asyncio.create_task(self._run(s.incident_room))

    async def close(self) -> None:
        """The incident is closing: the last entries posted, then conversations.archive."""
        room = self.core.state.incident_room
        if room is None or room.archived:
            return
        self._closing = True
        if self._task is not None:
            await self._task
        settings = self._settings()
        if room.channel_id is None or settings is None:
            return
        try:
            await workflow.execute_activity(
                "archive_incident_channel", RoomArchive(incident_number=self.core.number(),
                                                        channel_id=room.channel_id, config=settings[1]),
                result_type=bool, summary=f"archive #{room.name}", **http_call(settings[1].timeout_seconds))
        except ActivityError as err:
            self.core.system(self.core.state.step, f"could not archive Slack channel #{room.name}",
                             {"error": cause(err)})
            return
        room.archived = True
        self.core.system(self.core.state.step, f"Slack channel #{room.name} archived")

    # ------------------------------------------------------------------ the task

    async def _run(self, room: IncidentRoom) -> None:
        settings = self._settings()
        if settings is None:
            return
        every = timedelta(seconds=settings[0].post_every_seconds)
        if room.channel_id is None and not await self._open(room, *settings):
            return
        s = self.core.state
        while True:
            await self._invite(room, settings[1])
            await self._post(room, settings[1])
            if self._closing and (room.posted >= len(s.timeline) or self._failing):
                return
            if not self._closing:
                await self.core.wait(lambda: self._closing, every, "incident channel: next timeline post")
                await workflow.wait_condition(lambda: self._closing or room.posted < len(s.timeline)
                                              or bool(self._uninvited(room)))

    async def _open(self, room: IncidentRoom, settings: IncidentChannelConfig, cfg: SlackChannel) -> bool:
        core = self.core
        name = channel_name(settings.prefix, core.number())
        try:
            opened = await workflow.execute_activity(
                "open_incident_channel", RoomOpen(incident_number=core.number(), workflow_id=core.state.workflow_id,
                                                  name=name, config=cfg),
                result_type=RoomOpened, summary=f"open Slack channel #{name}",
                **http_call(cfg.timeout_seconds * OPEN_CALLS))
        except ActivityError as err:
            core.system(core.state.step, f"could not open Slack channel #{name}", {"error": cause(err)})
            return False
        room.channel_id, room.name = opened.channel_id, opened.name
        core.system(core.state.step, f"Slack channel #{opened.name} {'reused' if opened.reused else 'opened'}",
                    {"channel": opened.channel_id})
        return True

    def _uninvited(self, room: IncidentRoom) -> list[str]:
        """The Slack ids of the incident's people (each role's holder, anyone given a role or paged by escalation)
        not invited yet; people without a Slack id on the roster are left out."""
        s, roster = self.core.state, self.core.playbook().roster
        held = {r for person in roster.people.values() for r in person.roles}
        people = [self.core.primary(r) for r in Role if r in held] + list(s.assignments) + s.ack_escalated_to
        ids = [roster.people[p].slack_user for p in people if p in roster.people]
        return list(dict.fromkeys(u for u in ids if u and u not in room.invited))

    async def _invite(self, room: IncidentRoom, cfg: SlackChannel) -> None:
        users = self._uninvited(room)
        if not users or room.channel_id is None:
            return
        try:
            answers = await workflow.execute_activity(
                "invite_to_incident_channel", RoomInvite(incident_number=self.core.number(),
                                                         channel_id=room.channel_id, users=users, config=cfg),
                result_type=dict[str, str], summary=f"invite {len(users)} to #{room.name}",
                **http_call(cfg.timeout_seconds * len(users)))
        except ActivityError as err:
            room.invited.extend(users)  # not asked again each wake-up; the timeline says who was not invited
            self.core.system(self.core.state.step, f"could not invite to Slack channel #{room.name}",
                             {"users": ", ".join(users), "error": cause(err)})
            return
        room.invited.extend(users)
        refused = {u: a for u, a in answers.items() if a not in ("invited", "already_in_channel")}
        if refused:
            self.core.system(self.core.state.step, f"not invited to Slack channel #{room.name}", refused)

    async def _post(self, room: IncidentRoom, cfg: SlackChannel) -> None:
        s = self.core.state
        if room.channel_id is None or room.posted >= len(s.timeline):
            return
        entries = s.timeline[room.posted:room.posted + BATCH]
        try:
            covered = await workflow.execute_activity(
                "post_to_incident_channel", RoomPost(key=self.core.key("incident-channel"),
                                                     incident_number=self.core.number(), channel_id=room.channel_id,
                                                     first=room.posted, entries=entries, config=cfg),
                result_type=int, summary=f"timeline #{room.posted}.. to #{room.name}",
                **http_call(cfg.timeout_seconds))
        except ActivityError as err:
            if not self._failing:  # said once, not on every wake-up while Slack refuses
                self.core.system(s.step, f"could not post the timeline to Slack channel #{room.name}",
                                 {"error": cause(err)})
            self._failing = True
            return
        self._failing = False
        room.posted += max(covered, 1)
