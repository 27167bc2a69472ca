"""How each kind of channel sends an approved brief and a page: one small Protocol, one sender per channel type.

activities/communicate.py finds the sender by the type of the channel's configuration (`sender_for`), so a new kind
of channel is its model in playbook/config/channels.py, its adapter in integrations/ and one entry in SENDERS. The
senders shape what goes out (payload, blocks, footer) and call the adapters (integrations/channels.py, slack.py,
mail.py, statuspage.py), whose ChannelError the activity turns into a retryable failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from temporalio.exceptions import ApplicationError

from integrations import mail, slack, statuspage
from integrations.channels import post_webhook
from integrations.store import Store
from playbook.config import EmailChannel, SlackChannel, SlackWebhookChannel, StatuspageChannel, WebhookChannel
from playbook.messages import Notification, SendBrief

ACK_PAGE = "/notify/ack-"  # in the key of the pages that ask for acknowledgement (workflows/incident/acknowledge.py)


@dataclass(frozen=True)
class Sent:
    detail: str = "sent"
    external_id: str | None = None  # the channel's own id for the incident (Statuspage); None keeps the request's
    components: dict[str, str] | None = None  # a status page's components as it now shows them


class ChannelSender(Protocol):
    keyed: bool
    """True when the channel drops a repeated Idempotency-Key itself, so it is sent without asking the comms archive;
    False when it has no such key, so a brief the archive already holds is not sent again."""

    def brief(self, cfg: Any, request: SendBrief, store: Store) -> Sent:
        """Send the approved brief; ChannelError when the channel failed."""
        ...

    def page(self, cfg: Any, request: Notification, key: str) -> dict[str, str] | None:
        """Page the responders; ChannelError when the channel failed. What it returns is kept with the page's line
        in notifications-sent.jsonl (a Slack page's channel id and ts, for replacing it once acknowledged)."""
        ...


def footer(request: SendBrief) -> str:
    brief = request.brief
    parts = [f"Approved by {request.approved_by}."]
    if brief.edited_by:
        parts.append(f"Edited by {brief.edited_by}.")
    if request.released_by:
        parts.append(f"Released by {request.released_by}.")
    return " ".join(parts)


class _BriefsOnly:
    def page(self, cfg: Any, request: Notification, key: str) -> dict[str, str] | None:
        """Pages go to webhook, Slack and e-mail channels only; the playbook check refuses others in notify_channels."""
        return None


class WebhookSender:
    keyed = True

    def brief(self, cfg: WebhookChannel, request: SendBrief, store: Store) -> Sent:
        post_webhook(cfg, {
            "type": "incident_brief", "approved_by": request.approved_by, "released_by": request.released_by,
            **request.brief.model_dump(mode="json", exclude={"draft_text"})}, request.key)
        return Sent()

    def page(self, cfg: WebhookChannel, request: Notification, key: str) -> dict[str, str] | None:
        post_webhook(cfg, {"type": "incident_notification", "incident": request.incident_number,
                           "to": request.to, "subject": request.subject, "text": request.text}, key)
        return None


class SlackWebhookSender:
    keyed = False

    def brief(self, cfg: SlackWebhookChannel, request: SendBrief, store: Store) -> Sent:
        brief = request.brief
        slack.post_webhook_message(cfg, brief.title, slack.brief_blocks(brief.title, brief.text, footer(request)))
        return Sent()

    def page(self, cfg: SlackWebhookChannel, request: Notification, key: str) -> dict[str, str] | None:
        slack.post_webhook_message(cfg, f"{request.subject}\n{request.text}", None)
        return None


class SlackSender:
    keyed = False

    def page(self, cfg: SlackChannel, request: Notification, key: str) -> dict[str, str] | None:
        """The page; one asking for acknowledgement (the incident's `notify/ack-<level>` pages) carries an
        Acknowledge button (POST /v1/slack/actions), and its channel id and ts are kept so that it can be replaced
        once someone acknowledged (activities/paging.py)."""
        asks = ACK_PAGE in request.key
        posted = slack.post_message(cfg, f"{request.incident_number}: {request.subject}",
                                    slack.page_blocks(request.incident_number, request.subject, request.text,
                                                      request.to, acknowledge=asks))
        if not asks:
            return {"slack_channel": posted.channel}
        return {"slack_channel": posted.channel, "slack_ts": posted.ts}

    def brief(self, cfg: SlackChannel, request: SendBrief, store: Store) -> Sent:
        brief = request.brief
        posted = slack.post_message(cfg, brief.title, slack.brief_blocks(brief.title, brief.text, footer(request)))
        return Sent(detail=f"ts {posted.ts} in {posted.channel}")


class EmailSender:
    keyed = False

    def page(self, cfg: EmailChannel, request: Notification, key: str) -> dict[str, str] | None:
        """To the paged people's e-mail contacts (the channel's `to` when none has one), through its SMTP server."""
        to = [c for p in request.to if "@" in (c := request.contacts.get(p, "")) and ":" not in c] or cfg.to
        sent = mail.send(cfg.model_copy(update={"to": to}), f"[{request.incident_number}] {request.subject}",
                         f"{request.text}\n\n-- \nFirebreak paged {', '.join(request.to)} for "
                         f"{request.incident_number}.\n", key)
        return {"message_id": sent}

    def brief(self, cfg: EmailChannel, request: SendBrief, store: Store) -> Sent:
        brief = request.brief
        return Sent(detail=mail.send(cfg, brief.title, f"{brief.text}\n\n-- \n{footer(request)}\n", request.key))


class StatuspageSender(_BriefsOnly):
    keyed = False

    def brief(self, cfg: StatuspageChannel, request: SendBrief, store: Store) -> Sent:
        """Create the page's incident on the first brief, update it after; the id is remembered in the store. The
        detail also says the components as the page now shows them."""
        brief = request.brief
        memory = f"{brief.incident_number}/comms/statuspage-{request.channel}.json"
        known = request.external_id
        if known is None and store.exists(memory):
            known = str(store.read_json(memory)["incident_id"])
        body = brief.text.split("\n", 1)[1].strip() if brief.text.startswith("# ") else brief.text
        if known is not None:
            return _shown(known, statuspage.shown(statuspage.update(cfg, known, brief.status, body)))
        created = statuspage.create(cfg, brief.title, brief.status, body)
        incident_id = str(created["id"])
        store.write(memory, json.dumps({"incident_id": incident_id, "shortlink": created.get("shortlink"),
                                        "created_by_key": request.key}))
        return _shown(incident_id, statuspage.shown(created))


def _shown(incident_id: str, components: dict[str, str]) -> Sent:
    return Sent(detail=f"statuspage incident {incident_id}" + "".join(f"; {c}: {s}" for c, s in components.items()),
                external_id=incident_id, components=components)


SENDERS: dict[type, ChannelSender] = {
    WebhookChannel: WebhookSender(), SlackWebhookChannel: SlackWebhookSender(), SlackChannel: SlackSender(),
    EmailChannel: EmailSender(), StatuspageChannel: StatuspageSender()}


def sender_for(cfg: object) -> ChannelSender:
    try:
        return SENDERS[type(cfg)]
    except KeyError:
        raise ApplicationError(f"no sender for a channel of type {type(cfg).__name__}; register one in "
                               "activities/senders.py", non_retryable=True) from None
