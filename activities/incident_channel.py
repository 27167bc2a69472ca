"""The incident's own Slack channel ([communicate.incident_channel]): open it, invite the responders, post the
timeline, archive it at close. Everything posted passes through playbook.redact.outbound first.

Each timeline entry is posted once: a log in the artefact store (<incident>/comms/incident-channel.jsonl) keeps the
index of every entry posted, so an attempt retried after a 429 (or a run continued as new) skips those an earlier
attempt posted. A 429 waits at least Slack's Retry-After (Temporal's next_retry_delay), as the other Slack senders do.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations import slack, slack_rooms
from integrations.channels import ChannelError
from playbook.incident_channel import RoomArchive, RoomInvite, RoomOpen, RoomOpened, RoomPost, entry_line, suffixed
from playbook.redact import outbound

SUFFIXES = 20  # inc-2026-0007-2 ... -20 tried when the name belongs to another channel
MESSAGE_CHARS = 3500


def _failed(err: ChannelError) -> ApplicationError:
    if isinstance(err, slack.RateLimited):
        return ApplicationError(f"{err}; retrying after {err.retry_after:g} s", type="RateLimited",
                                next_retry_delay=timedelta(seconds=max(err.retry_after, 1.0)))
    return ApplicationError(str(err), type="ChannelError")


class IncidentChannelActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _record(self, number: str) -> str:
        return f"{number}/comms/incident-channel.json"

    @activity.defn(name="open_incident_channel")
    def open_incident_channel(self, request: RoomOpen) -> RoomOpened:
        """conversations.create; when the name is taken, the channel is reused only if it is this incident's (this
        incident's record names it, or, without a record, the bot created it and it is not archived: an attempt whose
        answer was lost), else the next free suffix."""
        try:
            mine = self._mine(request)
            bot: str | None = None
            for n in range(1, SUFFIXES + 1):
                name = request.name if n == 1 else suffixed(request.name, n)
                made = slack_rooms.create(request.config, name)
                if made is not None:
                    return self._keep(request, RoomOpened(channel_id=made[0], name=made[1]))
                found = slack_rooms.find(request.config, name)
                if found is None:
                    continue
                if mine is not None:
                    if found.id == mine:
                        return self._keep(request, RoomOpened(channel_id=found.id, name=name, reused=True))
                    continue
                bot = bot if bot is not None else slack_rooms.bot_user(request.config)
                if found.creator == bot and not found.archived:
                    return self._keep(request, RoomOpened(channel_id=found.id, name=name, reused=True))
        except ChannelError as err:
            raise _failed(err) from err
        raise ApplicationError(f"no free channel name for {request.name} (tried {SUFFIXES})", type="ChannelError",
                               non_retryable=True)

    def _mine(self, request: RoomOpen) -> str | None:
        try:
            record = json.loads(self.ctx.store.read_bytes(self._record(request.incident_number)))
        except FileNotFoundError:
            return None
        return str(record["channel_id"]) if record.get("workflow_id") == request.workflow_id else None

    def _keep(self, request: RoomOpen, opened: RoomOpened) -> RoomOpened:
        self.ctx.store.write_once(self._record(request.incident_number), json.dumps(
            {"workflow_id": request.workflow_id, "channel_id": opened.channel_id, "name": opened.name,
             "at": datetime.now(UTC).isoformat()}))
        return opened

    @activity.defn(name="invite_to_incident_channel")
    def invite_to_incident_channel(self, request: RoomInvite) -> dict[str, str]:
        """Each user invited on their own; per user "invited", "already_in_channel" or Slack's refusal."""
        try:
            return {user: slack_rooms.invite(request.config, request.channel_id, user) for user in request.users}
        except ChannelError as err:
            raise _failed(err) from err

    @activity.defn(name="post_to_incident_channel")
    def post_to_incident_channel(self, request: RoomPost) -> int:
        """One message with the entries not posted yet (as many as fit); how many entries it covers."""
        log = f"{request.incident_number}/comms/incident-channel.jsonl"
        lines: list[tuple[str, str]] = []
        size, covered = 0, 0
        for offset, entry in enumerate(request.entries):
            key = f"{request.key}/{request.first + offset}"
            if self.ctx.store.find_once(log, key) is None:
                line = outbound(entry_line(request.first + offset, entry))
                if lines and size + len(line) > MESSAGE_CHARS:
                    break
                lines.append((key, line))
                size += len(line) + 1
            covered = offset + 1
        if lines:
            try:
                ts = slack_rooms.post(request.config, request.channel_id, "\n".join(line for _, line in lines))
            except ChannelError as err:
                raise _failed(err) from err
            for key, _ in lines:
                self.ctx.store.append_once(log, key, {"at": datetime.now(UTC).isoformat(), "ts": ts})
        return covered

    @activity.defn(name="archive_incident_channel")
    def archive_incident_channel(self, request: RoomArchive) -> bool:
        try:
            slack_rooms.archive(request.config, request.channel_id)
        except ChannelError as err:
            raise _failed(err) from err
        return True
