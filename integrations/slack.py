"""Slack: incoming webhooks and chat.postMessage (Block Kit) through slack_sdk.

Neither call takes an idempotency key, so callers check the comms archive before sending (see
activities/communicate.py). Approval requests carry Approve / Reject buttons whose values POST /v1/slack/actions
understands: 'approve|<incident>|<request id>' and 'reject|<incident>|<request id>'. Once the incident has accepted
a click, the intake replaces that message through the click's response_url (decided_blocks, respond): no buttons,
who decided and when.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

from integrations.channels import ChannelError
from playbook.config import SlackChannel, SlackWebhookChannel

if TYPE_CHECKING:  # slack_sdk loads with the first call to Slack, not with the worker
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from slack_sdk.http_retry import RetryHandler

TEXT_LIMIT = 2900  # a section block's text is 1 to 3000 characters (Block Kit reference, section block)


class RateLimited(ChannelError):
    """Slack answered 429: try again after `retry_after` seconds (its Retry-After header), not sooner."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Posted(NamedTuple):
    channel: str  # the channel's id (C...), as Slack answers it, whatever name the playbook used
    ts: str


def retry_handlers() -> list[RetryHandler]:
    """slack_sdk's retries without its rate-limit handler: a 429 goes back to Temporal's retry, which waits for
    Retry-After without holding an activity slot (and without sending twice)."""
    from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers

    return [h for h in default_retry_handlers() if not isinstance(h, RateLimitErrorRetryHandler)]


def _retry_after(headers: Any, default: float = 1.0) -> float:
    """Retry-After in seconds from a 429's headers (slack_sdk keeps them as given or as lists)."""
    value = None
    for name in ("Retry-After", "retry-after"):
        if headers and name in headers:
            value = headers[name]
            break
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else default
    except ValueError:
        return default


def _sections(text: str) -> list[dict[str, Any]]:
    """Text as section blocks of at most TEXT_LIMIT characters; none for blank text (Slack refuses an empty section
    with invalid_blocks)."""
    chunks = [text[i:i + TEXT_LIMIT] for i in range(0, len(text), TEXT_LIMIT)][:20]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks if chunk.strip()]


def mrkdwn(markdown: str) -> str:
    """The briefs' Markdown in Slack's mrkdwn: headings become bold lines, **bold** becomes *bold*."""
    lines = []
    for line in markdown.splitlines():
        heading = line.lstrip("#")
        if line.startswith("#") and heading.startswith(" "):
            line = f"*{heading.strip()}*"
        lines.append(line.replace("**", "*"))
    return "\n".join(lines)


def brief_blocks(title: str, text: str, footer: str) -> list[dict[str, Any]]:
    """A brief as Block Kit: the title as a header, the text, who approved it."""
    body = mrkdwn(text.partition("\n")[2].lstrip("\n") if text.startswith("# ") else text)
    return [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}, *_sections(body),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:300]}]}]


def page_blocks(incident: str, subject: str, text: str, to: list[str], acknowledge: bool,
                acknowledged_by: str | None = None) -> list[dict[str, Any]]:
    """A page: who is paged and why, with an Acknowledge button for POST /v1/slack/actions while nobody has; once
    someone has, the same page without the button, saying who."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{incident}: {subject[:300]}*\n"
                                                              f"Paged: {', '.join(to)[:300]}"}},
        *_sections(mrkdwn(text))]
    if acknowledged_by:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                        "text": f"Acknowledged by {acknowledged_by[:100]}."}]})
    elif acknowledge:
        blocks.append({"type": "actions", "block_id": f"firebreak-ack-{incident}"[:255], "elements": [
            {"type": "button", "action_id": "firebreak-ack", "style": "primary",
             "text": {"type": "plain_text", "text": "Acknowledge"}, "value": f"ack|{incident}"}]})
    return blocks


def approval_blocks(incident: str, request_id: str, subject: str, text: str, why: str,
                    editable: bool = True) -> list[dict[str, Any]]:
    """An approval request: what, why, the draft, and Approve / Reject buttons for POST /v1/slack/actions; with
    `editable` (a brief) the hint on how to edit the text before approving."""
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{incident}: approval needed ({request_id})*\n"
                                                              f"{subject[:500]}\n_{why[:500]}_"}},
        *_sections(mrkdwn(text)),
        {"type": "actions", "block_id": f"firebreak-{request_id}"[:255], "elements": [
            {"type": "button", "action_id": "firebreak-approve", "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}, "value": f"approve|{incident}|{request_id}"},
            {"type": "button", "action_id": "firebreak-reject", "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}, "value": f"reject|{incident}|{request_id}"}]},
        {"type": "context", "block_id": f"firebreak-hint-{request_id}"[:255], "elements": [
            {"type": "mrkdwn", "text": f"To edit the text before approving: `firebreak approve {incident} "
                                       f"{request_id} --text-file edited.md`"}]},
    ]
    return blocks if editable else blocks[:-1]


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decided_blocks(original: list[dict[str, Any]], fallback: str, line: str) -> list[dict[str, Any]]:
    """An answered approval request: the original blocks without buttons (and without the 'edit before approving'
    hint), plus a context line saying who decided and when."""
    kept = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"
            and not str(b.get("block_id") or "").startswith("firebreak-hint")] or _sections(fallback)
    return [*kept[:49], {"type": "context", "elements": [{"type": "mrkdwn", "text": line[:300] or "-"}]}]


def respond(url: str, text: str, blocks: list[dict[str, Any]] | None, *, replace_original: bool,
            timeout: int) -> None:
    """Answer an interaction through its response_url (no token; Slack accepts 5 uses within 30 minutes): replace
    the original message, or post an ephemeral message to the person who clicked."""
    from slack_sdk.errors import SlackClientError
    from slack_sdk.webhook import WebhookClient

    try:
        response = WebhookClient(url, timeout=max(timeout, 1), retry_handlers=retry_handlers()).send(
            text=text[:3000], blocks=blocks, replace_original=replace_original,
            response_type=None if replace_original else "ephemeral")
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack response_url failed: {err}") from err
    _check_webhook("Slack response_url", response)


def _check_webhook(what: str, response: Any) -> None:
    if response.status_code == 429:
        raise RateLimited(f"{what} is rate limited (429)", _retry_after(response.headers))
    if response.status_code != 200:
        raise ChannelError(f"{what} answered {response.status_code}: {str(response.body)[:200]}")


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ChannelError(f"{what}: set the environment variable {name} on the worker")
    return value


def post_webhook_message(channel: SlackWebhookChannel, text: str, blocks: list[dict[str, Any]] | None) -> None:
    from slack_sdk.errors import SlackClientError
    from slack_sdk.webhook import WebhookClient

    url = channel.url or _env(channel.url_env or "", "the Slack incoming webhook URL")
    try:
        response = WebhookClient(url, timeout=int(max(channel.timeout_seconds, 1)),
                                 retry_handlers=retry_handlers()).send(text=text[:3000], blocks=blocks)
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack webhook failed: {err}") from err
    _check_webhook("Slack webhook", response)


def _client(channel: SlackChannel) -> WebClient:
    from slack_sdk import WebClient

    kwargs: dict[str, Any] = {"token": _env(channel.token_env, "the Slack bot token"),
                              "timeout": int(max(channel.timeout_seconds, 1)), "retry_handlers": retry_handlers()}
    if channel.base_url:
        kwargs["base_url"] = channel.base_url if channel.base_url.endswith("/") else channel.base_url + "/"
    return WebClient(**kwargs)


def _refused(method: str, target: str, err: SlackApiError) -> ChannelError:
    if err.response.status_code == 429:
        return RateLimited(f"Slack {method} to {target} is rate limited (429)", _retry_after(err.response.headers))
    return ChannelError(f"Slack {method} to {target} refused: {err.response.get('error', err.response.status_code)}")


def post_message(channel: SlackChannel, text: str, blocks: list[dict[str, Any]]) -> Posted:
    """chat.postMessage; the channel's id and the message's ts, as Slack answered them (chat.update needs both)."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        response = _client(channel).chat_postMessage(channel=channel.channel, text=text[:3000], blocks=blocks)
    except SlackApiError as err:
        raise _refused("chat.postMessage", channel.channel, err) from err
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack chat.postMessage to {channel.channel} failed: {err}") from err
    return Posted(str(response.get("channel") or ""), str(response.get("ts") or ""))


def update_message(channel: SlackChannel, posted: Posted, text: str, blocks: list[dict[str, Any]]) -> None:
    """chat.update of a message this app posted, by channel id and ts (it takes no channel names)."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        _client(channel).chat_update(channel=posted.channel, ts=posted.ts, text=text[:3000], blocks=blocks)
    except SlackApiError as err:
        raise _refused("chat.update", posted.channel, err) from err
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack chat.update in {posted.channel} failed: {err}") from err
