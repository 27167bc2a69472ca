"""One module per playbook step; each calls integrations, never the other way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.actions import ActionActivities
from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from activities.detect import DetectActivities
from activities.freeze import FreezeActivities
from activities.incident_channel import IncidentChannelActivities
from activities.investigate import InvestigateActivities
from activities.paging import PagingActivities
from activities.remedy import RemedyActivities
from activities.review import ReviewActivities
from activities.serious import SeriousActivities
from activities.tickets import TicketActivities
from activities.watch import WatchActivities


def all_activities(ctx: ActivityContext) -> list[Callable[..., Any]]:
    detect, actions = DetectActivities(ctx), ActionActivities(ctx)
    investigate, communicate, review = InvestigateActivities(ctx), CommunicateActivities(ctx), ReviewActivities(ctx)
    tickets = TicketActivities(ctx)
    return [detect.open_incident, tickets.create_ticket, tickets.update_ticket, tickets.open_item_ticket,
            tickets.close_item_ticket, tickets.item_ticket_closed, actions.run_action,
            investigate.collect_evidence, communicate.draft_brief, communicate.send_brief, communicate.notify,
            communicate.post_approval_request, communicate.replace_decided_approval,
            review.write_retrospective, review.track_action_items, FreezeActivities(ctx).freeze_evidence,
            *_watch(ctx), *_remedy(ctx), *_paging(ctx),
            SeriousActivities(ctx).write_serious_report, *_incident_channel(ctx)]


def _watch(ctx: ActivityContext) -> list[Callable[..., Any]]:
    watch = WatchActivities(ctx)
    return [watch.watch_count, watch.watch_report, watch.watch_failed]


def _remedy(ctx: ActivityContext) -> list[Callable[..., Any]]:
    remedy = RemedyActivities(ctx)
    return [remedy.prepare_prompt_patch, remedy.promote_prompt_patch, remedy.undo_mitigation,
            remedy.run_regression_suite]


def _paging(ctx: ActivityContext) -> list[Callable[..., Any]]:
    paging = PagingActivities(ctx)
    return [paging.pagerduty_event, paging.who_is_on_call, paging.replace_slack_pages]


def _incident_channel(ctx: ActivityContext) -> list[Callable[..., Any]]:
    room = IncidentChannelActivities(ctx)
    return [room.open_incident_channel, room.invite_to_incident_channel, room.post_to_incident_channel,
            room.archive_incident_channel]
