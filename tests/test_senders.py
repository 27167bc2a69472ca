"""Channels are found by the type of their configuration (activities/senders.py): every kind a playbook may
configure has a sender, and only the webhook, which carries an Idempotency-Key, is sent without asking the archive."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.senders import SENDERS, sender_for
from playbook.config import Channel


def channel_types(hint: object = Channel) -> list[type]:
    """The configuration models in the Channel union (through its Annotated and Union layers)."""
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [hint]
    return [t for arg in typing.get_args(hint) for t in channel_types(arg)]


def test_every_channel_kind_has_its_sender() -> None:
    kinds = channel_types()
    assert len(kinds) == 6  # webhook, Slack webhook, Slack, e-mail, Statuspage, Teams
    assert set(SENDERS) == set(kinds)
    assert [t.__name__ for t in kinds if SENDERS[t].keyed] == ["WebhookChannel"]


def test_a_configuration_without_a_sender_fails_for_good() -> None:
    with pytest.raises(ApplicationError, match="no sender for a channel of type object") as err:
        sender_for(object())
    assert err.value.non_retryable
