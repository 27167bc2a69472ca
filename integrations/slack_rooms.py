"""A Slack channel per incident, through slack_sdk's WebClient: conversations.create, conversations.list (to find a
channel whose name is taken), auth.test (who the bot is), conversations.invite and conversations.archive.

The bot token needs channels:manage (create, invite, archive public channels), channels:read (list), groups:write
(the same for private ones), chat:write (the timeline) and users:read. Answers that mean the work is already done
(already_in_channel, already_archived) are successes; a 429 is slack.RateLimited with Retry-After.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from integrations.channels import ChannelError
from integrations.slack import _client, _refused
from playbook.config import SlackChannel

LIST_PAGES = 20  # conversations.list pages of 200 read to find a taken name, at most


class Found(NamedTuple):
    id: str
    name: str
    creator: str
    archived: bool


def _call(method: str, target: str, call: Any, done: tuple[str, ...] = ()) -> Any:
    from slack_sdk.errors import SlackApiError, SlackClientError  # loaded already: `call` is a client's method

    try:
        return call()
    except SlackApiError as err:
        if err.response.status_code != 429 and err.response.get("error") in done:
            return err.response
        raise _refused(method, target, err) from err
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack {method} for {target} failed: {err}") from err


def create(cfg: SlackChannel, name: str) -> tuple[str, str] | None:
    """conversations.create of a public channel: (id, name), or None when the name is taken (name_taken)."""
    response = _call("conversations.create", name,
                     lambda: _client(cfg).conversations_create(name=name, is_private=False), ("name_taken",))
    if response.get("ok") is False:
        return None
    channel = response.get("channel") or {}
    return str(channel.get("id") or ""), str(channel.get("name") or name)


def bot_user(cfg: SlackChannel) -> str:
    """auth.test: the bot's own user id (what `creator` says of the channels it created)."""
    return str(_call("auth.test", "the bot", lambda: _client(cfg).auth_test()).get("user_id") or "")


def find(cfg: SlackChannel, name: str) -> Found | None:
    """The channel called `name`, archived ones included (their names stay taken), by conversations.list."""
    client, cursor = _client(cfg), None
    for _ in range(LIST_PAGES):
        page = _call("conversations.list", name, lambda c=cursor: client.conversations_list(  # type: ignore[misc]
            types="public_channel,private_channel", exclude_archived=False, limit=200, cursor=c))
        for ch in page.get("channels") or []:
            if ch.get("name") == name:
                return Found(str(ch.get("id")), name, str(ch.get("creator") or ""), bool(ch.get("is_archived")))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def invite(cfg: SlackChannel, channel_id: str, user: str) -> str:
    """conversations.invite of one user: "invited", "already_in_channel", or Slack's refusal for this user
    (user_not_found, cant_invite ...), which does not stop the others."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        _client(cfg).conversations_invite(channel=channel_id, users=user)
    except SlackApiError as err:
        error = str(err.response.get("error") or err.response.status_code)
        if err.response.status_code == 429 or error in ("channel_not_found", "is_archived", "not_in_channel",
                                                        "invalid_auth", "missing_scope", "not_authed"):
            raise _refused("conversations.invite", channel_id, err) from err
        return error
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack conversations.invite for {channel_id} failed: {err}") from err
    return "invited"


def archive(cfg: SlackChannel, channel_id: str) -> None:
    """conversations.archive; an already archived channel is fine."""
    _call("conversations.archive", channel_id, lambda: _client(cfg).conversations_archive(channel=channel_id),
          ("already_archived",))


def post(cfg: SlackChannel, channel_id: str, text: str) -> str:
    """chat.postMessage of mrkdwn text to the channel (by id); the message's ts."""
    response = _call("chat.postMessage", channel_id,
                     lambda: _client(cfg).chat_postMessage(channel=channel_id, text=text[:3900], mrkdwn=True))
    return str(response.get("ts") or "")
