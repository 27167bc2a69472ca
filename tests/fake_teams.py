"""A Microsoft Teams Workflows webhook on 127.0.0.1, from Microsoft's documentation ("Create incoming webhooks with
Workflows for Microsoft Teams"; "Send Adaptive Cards using an incoming webhook"; the Adaptive Card 1.4 schema
reference at adaptivecards.io/explorer):

- POST of `{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
  "content": {...}}]}` with Content-Type application/json; the Workflows trigger answers 202 Accepted (empty body).
- The card: `type` "AdaptiveCard", a `version` Teams renders (up to 1.5 in channels), `body` a list of elements each
  with a `type` (TextBlock needs `text`; FactSet needs `facts` of {title, value}); `actions` of which Teams runs
  Action.OpenUrl (needs `url`) for a webhook's card -- Action.Submit / Action.Execute need a bot, not a webhook.
- 429 with Retry-After when the flow is throttled.

The JSON Schema of Adaptive Cards is not vendored (no package on PyPI ships it); `problem` checks the documented
required fields above, and every message is refused 400 with the first problem, as the Workflows trigger refuses a
body that does not match its schema.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import FakeServer

RENDERED = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
ELEMENTS = {"TextBlock": ("text",), "FactSet": ("facts",), "Image": ("url",), "ColumnSet": (), "Container": ("items",)}


def problem(message: Any) -> str | None:
    """What is wrong with a Teams webhook message, by the documented shape; None when Teams would post it."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return "type must be 'message'"
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "attachments must hold exactly one card"
    attachment = attachments[0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return "contentType must be application/vnd.microsoft.card.adaptive"
    card = attachment.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return "content.type must be AdaptiveCard"
    if card.get("version") not in RENDERED:
        return f"content.version {card.get('version')!r} is not one Teams renders"
    for element in card.get("body") or []:
        needed = ELEMENTS.get(element.get("type"))
        if needed is None:
            return f"unknown element {element.get('type')!r}"
        if any(not element.get(f) for f in needed):
            return f"{element['type']} needs {', '.join(needed)}"
        if element["type"] == "FactSet" and any(set(f) != {"title", "value"} for f in element["facts"]):
            return "a fact is {title, value}"
    for action in card.get("actions") or []:
        if action.get("type") != "Action.OpenUrl":
            return f"{action.get('type')} needs a bot; a webhook's card may only open a URL"
        if not str(action.get("url", "")).startswith(("https://", "http://")):
            return "Action.OpenUrl needs an absolute url"
    return None


class FakeTeams(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []  # the accepted cards' content
        self.refused: list[str] = []
        self.limited = 0

    def webhook_url(self) -> str:
        return f"{self.url}/workflows/a1b2c3/triggers/manual/paths/invoke?api-version=1&sig=secret"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            if method != "POST" or not path.startswith("/workflows/") or "sig=" not in path:
                return 404, "application/json", {"error": {"code": "NotFound"}}
            if self.limited > 0:
                self.limited -= 1
                return 429, "application/json", {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"}
            if not headers.get("Content-Type", "").startswith("application/json"):
                return 415, "application/json", {"error": {"code": "UnsupportedMediaType"}}
            try:
                message = json.loads(body)
            except ValueError:
                return 400, "application/json", {"error": {"code": "InvalidRequestContent"}}
            why = problem(message)
            if why:
                self.refused.append(why)
                return 400, "application/json", {"error": {"code": "InvalidRequestContent", "message": why}}
            self.cards.append(message["attachments"][0]["content"])
            return 202, "application/json", b""
