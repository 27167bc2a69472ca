"""Microsoft Teams through a Workflows (Power Automate "When a Teams webhook request is received") or incoming
webhook URL: one message carrying one Adaptive Card, as Microsoft documents it:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                         "contentUrl": null, "content": {AdaptiveCard, version 1.4}}]}

(learn.microsoft.com, "Create incoming webhooks with Workflows for Microsoft Teams" and "Send messages using
incoming webhooks"; Adaptive Card 1.4 is what Teams renders in channels.) A Workflows URL answers 202 Accepted,
a legacy incoming webhook 200; 429 carries Retry-After, which the activity's retry honours (RateLimited).
Teams cannot send a click back to a webhook sender, so the card's only action opens Firebreak (Action.OpenUrl).
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from integrations.channels import ChannelError
from integrations.slack import RateLimited
from playbook.config import TeamsChannel

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEXT_LIMIT = 20_000  # Teams refuses messages over ~28 KB; the card's text is cut well below


def card(title: str, text: str, facts: dict[str, str] | None = None, link: str | None = None,
         link_title: str = "Open in Firebreak") -> dict[str, Any]:
    """The message: a bold title, the text (Adaptive Cards render a Markdown subset in TextBlock), the facts, and
    the link to act in Firebreak when there is one."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title[:300], "weight": "Bolder", "size": "Medium", "wrap": True}]
    if text.strip():
        body.append({"type": "TextBlock", "text": text[:TEXT_LIMIT], "wrap": True})
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": k[:100], "value": v[:500]} for k, v in facts.items()]})
    content: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                               "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": link_title, "url": link}]
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None,
                                                "content": content}]}


def link(channel: TeamsChannel, incident: str) -> str | None:
    return channel.link_url.replace("{incident}", incident) if channel.link_url else None


def post(channel: TeamsChannel, message: dict[str, Any]) -> int:
    """POST the message; its status (200 or 202), ChannelError when refused, RateLimited on 429."""
    url = channel.url or os.environ.get(channel.url_env or "", "")
    if not url:
        raise ChannelError(f"the Teams webhook URL is not set (environment variable {channel.url_env})")
    try:
        response = httpx.post(url, content=json.dumps(message), headers={"Content-Type": "application/json"},
                              timeout=channel.timeout_seconds)
    except httpx.HTTPError as err:
        raise ChannelError(f"Teams webhook failed: {type(err).__name__}") from err  # the URL is a secret
    if response.status_code == 429:
        try:
            wait = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        raise RateLimited("Teams webhook is rate limited (429)", wait)
    if response.status_code not in (200, 202):
        raise ChannelError(f"Teams webhook answered {response.status_code}: {response.text[:200]}")
    return response.status_code
