"""Slack: incoming webhooks and chat.postMessage (Block Kit) through slack_sdk.

Neither call takes an idempotency key, so callers check the comms archive before sending (see
activities/communicate.py). Approval requests carry Approve / Reject buttons whose values POST /v1/slack/actions
understands: 'approve|<incident>|<request id>' and 'reject|<incident>|<request id>'. Once the incident has accepted
a click, the intake replaces that message through the click's response_url (decided_blocks, respond): no buttons,
who decided and when.
"""

from __future__ import annotations

import os
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from integrations.channels import ChannelError
from playbook.config import SlackChannel, SlackWebhookChannel

TEXT_LIMIT = 2900  # a section block's text is at most 3000 characters


def _sections(text: str) -> list[dict[str, Any]]:
    chunks = [text[i:i + TEXT_LIMIT] for i in range(0, len(text), TEXT_LIMIT)][:20] or [""]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]


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
    body = mrkdwn(text.split("\n", 1)[1].lstrip("\n") if text.startswith("# ") else text)
    return [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}, *_sections(body),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:300]}]}]


def approval_blocks(incident: str, request_id: str, subject: str, text: str, why: str) -> list[dict[str, Any]]:
    """An approval request: what, why, the draft, and Approve / Reject buttons for POST /v1/slack/actions."""
    return [
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


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decided_blocks(original: list[dict[str, Any]], fallback: str, line: str) -> list[dict[str, Any]]:
    """An answered approval request: the original blocks without buttons (and without the 'edit before approving'
    hint), plus a context line saying who decided and when."""
    kept = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"
            and not str(b.get("block_id") or "").startswith("firebreak-hint")] or _sections(fallback)
    return [*kept[:49], {"type": "context", "elements": [{"type": "mrkdwn", "text": line[:300]}]}]


def respond(url: str, text: str, blocks: list[dict[str, Any]] | None, *, replace_original: bool,
            timeout: int) -> None:
    """Answer an interaction through its response_url (no token; Slack accepts 5 uses within 30 minutes): replace
    the original message, or post an ephemeral message to the person who clicked."""
    try:
        response = WebhookClient(url, timeout=max(timeout, 1)).send(
            text=text[:3000], blocks=blocks, replace_original=replace_original,
            response_type=None if replace_original else "ephemeral")
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack response_url failed: {err}") from err
    if response.status_code != 200:
        raise ChannelError(f"Slack response_url answered {response.status_code}: {str(response.body)[:200]}")


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ChannelError(f"{what}: set the environment variable {name} on the worker")
    return value


def post_webhook_message(channel: SlackWebhookChannel, text: str, blocks: list[dict[str, Any]] | None) -> None:
    url = channel.url or _env(channel.url_env or "", "the Slack incoming webhook URL")
    try:
        response = WebhookClient(url, timeout=int(max(channel.timeout_seconds, 1))).send(text=text[:3000],
                                                                                       blocks=blocks)
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack webhook failed: {err}") from err
    if response.status_code != 200:
        raise ChannelError(f"Slack webhook answered {response.status_code}: {str(response.body)[:200]}")


def post_message(channel: SlackChannel, text: str, blocks: list[dict[str, Any]]) -> str:
    """chat.postMessage; the message's ts."""
    token = _env(channel.token_env, "the Slack bot token")
    kwargs: dict[str, Any] = {"token": token, "timeout": int(max(channel.timeout_seconds, 1))}
    if channel.base_url:
        kwargs["base_url"] = channel.base_url if channel.base_url.endswith("/") else channel.base_url + "/"
    try:
        response = WebClient(**kwargs).chat_postMessage(channel=channel.channel, text=text[:3000], blocks=blocks)
    except SlackApiError as err:
        raise ChannelError(f"Slack chat.postMessage to {channel.channel} refused: "
                           f"{err.response.get('error', err.response.status_code)}") from err
    except (SlackClientError, OSError) as err:
        raise ChannelError(f"Slack chat.postMessage to {channel.channel} failed: {err}") from err
    return str(response.get("ts") or "")
