"""The shape limits hold on the fast path too (intake/body.py): a body is only spared the walk over its values when
its bytes prove it is inside every limit, so each limit still refuses what it refused, with the same answer."""

from __future__ import annotations

import json

import pytest

from intake.body import MAX_DEPTH, MAX_ITEMS, IntakeError, load_json, parse, within_limits
from intake.formats import alertmanager

STORM_POST = json.dumps({
    "receiver": "firebreak", "status": "firing", "version": "4", "groupKey": "{}:{a=\"b\"}", "truncatedAlerts": 0,
    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example:9093",
    "alerts": [{"status": "firing", "labels": {"alertname": "LLMToxicitySpike", "service": "support-bot"},
                "annotations": {"summary": "Toxicity p95 above 0.8"}, "startsAt": "2026-11-27T10:42:05Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom.example:9090", "fingerprint": "f1"}]})


def test_an_ordinary_alert_post_takes_the_fast_path_and_parses() -> None:
    assert within_limits(STORM_POST.encode())
    assert parse(alertmanager.Message, STORM_POST.encode()).alerts[0].labels["service"] == "support-bot"


@pytest.mark.parametrize(("body", "status"), [
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), 400),  # too deep
    ("[" + ",".join(["0"] * (MAX_ITEMS + 1)) + "]", 413),  # too many entries in one array
    ('{"a": "x\\u0000y"}', 422),  # a NUL in a string
    ('{"a\\u0000": 1}', 422),  # a NUL in a key
    ('{"a": NaN}', 400),  # not a JSON number
    ('{"a": -Infinity}', 400),
    ('{"a": "\\xff"}', 400),  # not JSON
], ids=["depth", "items", "nul-value", "nul-key", "nan", "infinity", "bad-escape"])
def test_each_limit_still_refuses_with_the_same_answer(body: str, status: int) -> None:
    assert not within_limits(body.encode()) or status == 400
    with pytest.raises(IntakeError) as measured:
        load_json(body.encode())
    with pytest.raises(IntakeError) as parsed:
        parse(alertmanager.Message, body.encode())
    assert (parsed.value.status, parsed.value.message) == (measured.value.status, measured.value.message) \
        and measured.value.status == status
