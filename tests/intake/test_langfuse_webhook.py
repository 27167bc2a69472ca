"""Langfuse prompt-version webhooks into the deploy log (a real intake on 127.0.0.1, signed as Langfuse signs), and
the `deploys` evidence source listing the prompt versions of the blast window at the investigate step."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from intake.app import create_app
from intake.errors import IntakeError
from intake.langfuse_webhook import verify_langfuse
from integrations.artefacts import ArtefactStore
from integrations.deploys import deploy_text, log_path, record_deploy
from playbook.config import EvidenceSource, PlaybookError, parse_playbook
from playbook.messages import EvidenceInput
from tests.intake.support import Running, config, secrets, serving
from tests.support import ROSTER, detection

SECRET = "lf-whsec_" + "ab" * 32
PROMPT = "support/answer"


def event(version: int = 13, action: str = "created", event_id: str | None = None,
          at: datetime | None = None, **prompt: Any) -> dict[str, Any]:
    """Langfuse's PromptWebhookOutboundSchema (langfuse/langfuse packages/shared/src/domain/webhooks.ts at
    v4.16.0-30-g6275144614): `prompt.createdBy` required, `user` optional with only name and email."""
    when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"id": event_id or str(uuid.uuid4()), "timestamp": when, "type": "prompt-version", "apiVersion": "v1",
            "action": action,
            "prompt": {"id": "prompt_abc123", "name": PROMPT, "version": version, "projectId": "xyz789",
                       "createdBy": "user_cl9x", "labels": ["production", "latest"],
                       "prompt": "As a {{criticLevel}} critic, rate {{movie}}.", "type": "text",
                       "config": {"key": "value"}, "commitMessage": "Improved critic persona",
                       "tags": ["entertainment"], "createdAt": when, "updatedAt": when, **prompt},
            "user": {"name": "Carol Ops", "email": "carol@example.com"}}


def test_the_test_event_has_the_servers_names_and_no_others() -> None:
    """Pinned to PromptWebhookOutboundSchema and WebhookOutboundBaseSchema (webhooks.ts): a test event with a
    field Langfuse never sends (`user.id`) or without one it always sends (`prompt.createdBy`) tests nothing."""
    sent = event()
    assert set(sent) == {"id", "timestamp", "type", "apiVersion", "action", "prompt", "user"}
    assert set(sent["prompt"]) == {"id", "name", "version", "projectId", "createdBy", "labels", "prompt", "type",
                                   "config", "commitMessage", "tags", "createdAt", "updatedAt"}
    assert set(sent["user"]) == {"name", "email"}


def signed(body: bytes, secret: str = SECRET, stamp: int | None = None) -> dict[str, str]:
    t = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"x-langfuse-signature": f"t={t},v1={mac}", "content-type": "application/json",
            "user-agent": "Langfuse/1.0"}


@asynccontextmanager
async def intake(tmp_path: Path, secret: str | None = SECRET) -> AsyncIterator[tuple[Running, ArtefactStore]]:
    cfg = config()
    store = ArtefactStore(tmp_path / "artefacts")
    app = create_app(cfg, secrets(cfg), address="127.0.0.1:1", langfuse_secret=secret.encode() if secret else None,
                     store=store)
    async with serving(app) as api:
        yield api, store


def lines(store: ArtefactStore, name: str = PROMPT) -> list[dict[str, Any]]:
    path = store.path(log_path(name))
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_signed_prompt_versions_are_logged_once_per_delivery(tmp_path: Path) -> None:
    async with intake(tmp_path) as (api, store):
        body = json.dumps(event()).encode()
        first = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))
        assert first.status_code == 200, first.text
        assert first.json() == {"status": "recorded", "prompt": PROMPT, "version": 13, "action": "created"}
        again = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))  # a redelivery
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        chat = json.dumps(event(14, "updated", prompt=[{"role": "system", "content": "be kind"}])).encode()
        assert (await api.http.post("/v1/langfuse/webhook", content=chat, headers=signed(chat))).status_code == 200
        logged = lines(store)
        assert [(e["version"], e["action"]) for e in logged] == [(13, "created"), (14, "updated")]
        assert logged[0]["by"] == "Carol Ops" and logged[0]["labels"] == ["production", "latest"]
        assert logged[0]["commit_message"] == "Improved critic persona" and len(logged[0]["prompt_sha256"]) == 64
        text = store.path(log_path(PROMPT)).read_text()
        assert "carol@example.com" not in text and "criticLevel" not in text  # no e-mail, no prompt text


async def test_who_made_the_deploy_comes_from_what_langfuse_sends(tmp_path: Path) -> None:
    """Langfuse never sends `user.id`; `prompt.createdBy` is the version's author: a user id, or "API" when an API
    key created it (web/src/features/prompts/server/prompt-api-service.ts createPromptForApi); a change through the
    public API carries no `user` at all (updatePromptLabelsForApi). The log says who as far as the event does."""
    def without_user(**fields: Any) -> dict[str, Any]:
        sent = event(**fields)
        del sent["user"]
        return sent

    api_created = without_user(version=21, createdBy="API")
    unnamed = {**event(22, createdBy="cluser0unnamed"), "user": {"name": None, "email": "dev@example.com"}}
    api_moved = without_user(version=22, action="updated", createdBy="cluser0unnamed")
    async with intake(tmp_path) as (api, store):
        for sent in (api_created, unnamed, api_moved):
            body = json.dumps(sent).encode()
            answer = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text
        logged = lines(store)
        assert [(e["version"], e["action"], e["by"]) for e in logged] == [
            (21, "created", "API"),              # created with an API key
            (22, "created", "cluser0unnamed"),   # created in the UI by a user without a name: their id
            (22, "updated", None)]               # a label move names no one: the author is not who moved it
        assert [e["created_by"] for e in logged] == ["API", "cluser0unnamed", "cluser0unnamed"]
        assert deploy_text(logged[0]).endswith(" by API (Langfuse deploy log)")
        assert "dev@example.com" not in store.path(log_path(PROMPT)).read_text()


async def test_bad_missing_stale_and_unconfigured_signatures_are_refused(tmp_path: Path) -> None:
    body = json.dumps(event()).encode()
    async with intake(tmp_path) as (api, store):
        cases = {
            "wrong secret": signed(body, secret="lf-whsec_" + "cd" * 32),
            "no header": {"content-type": "application/json"},
            "malformed": {"x-langfuse-signature": "sha256=abc"},
            "replayed an hour later": signed(body, stamp=int(time.time()) - 3600),
            "tampered body": signed(body.replace(b'"version": 13', b'"version": 12')),
        }
        for why, headers in cases.items():
            answer = await api.http.post("/v1/langfuse/webhook", content=body, headers=headers)
            assert answer.status_code == 401, why
            assert answer.json()["field"] == "x-langfuse-signature" and answer.json()["message"], why
        other = json.dumps({**event(), "type": "trace"}).encode()
        answer = await api.http.post("/v1/langfuse/webhook", content=other, headers=signed(other))
        assert answer.status_code == 422 and "type" in answer.json()["message"]
        junk = b"{not json"
        assert (await api.http.post("/v1/langfuse/webhook", content=junk, headers=signed(junk))).status_code == 400
        assert lines(store) == []
    async with intake(tmp_path, secret=None) as (api, _):
        answer = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))
        assert answer.status_code == 403 and "FIREBREAK_LANGFUSE_WEBHOOK_SECRET" in answer.json()["message"]


def test_the_signature_check_matches_langfuses_scheme() -> None:
    body, now = b'{"id": "x"}', 1_800_000_000
    mac = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    verify_langfuse(SECRET.encode(), body, f"t={now},v1={mac}", 300, now=now + 299)
    with pytest.raises(IntakeError, match="more than 300 s away"):
        verify_langfuse(SECRET.encode(), body, f"t={now},v1={mac}", 300, now=now + 301)
    with pytest.raises(IntakeError, match="does not match"):
        verify_langfuse(SECRET.encode(), body + b" ", f"t={now},v1={mac}", 300, now=now)


def test_deploys_evidence_lists_the_blast_windows_prompt_versions(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path / "artefacts")
    detected = datetime.now(UTC) - timedelta(minutes=5)
    for version, minutes_ago in ((11, 600), (12, 50), (13, 20)):
        at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
        record_deploy(store, f"d-{version}", {"prompt": PROMPT, "version": version, "action": "updated",
                                              "labels": ["production"], "at": at})
    record_deploy(store, "d-other", {"prompt": "other", "version": 3, "action": "created", "labels": [],
                                     "at": datetime.now(UTC).isoformat()})
    ctx = ActivityContext(store=store, playbook_path=tmp_path / "playbook.toml")
    sources = {"deploys": EvidenceSource(kind="deploys", prompt_names=["${prompt_name}"], lookback_minutes=60),
               "all_deploys": EvidenceSource(kind="deploys", lookback_minutes=60)}
    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-9", workflow_id="incident-y", detection=detection(detected_at=detected),
        sources=sources, variables={"prompt_name": PROMPT, "service": "support-bot"}))
    items = {i.name: i for i in pack.items}
    mine = items["deploys.json"]
    assert mine.sha256 and mine.summary and mine.summary.startswith("2 deploy(s) in the window: support/answer v13")
    listed = json.loads((store.root / "INC-9" / "evidence" / "deploys.json").read_text())
    assert [d["version"] for d in listed["deploys"]] == [13, 12] and listed["prompts"] == [PROMPT]
    assert items["all_deploys.json"].summary and items["all_deploys.json"].summary.startswith("3 deploy(s)")
    manifest = json.loads((store.root / "INC-9" / "evidence" / "manifest.json").read_text())
    assert any(i.get("summary") for i in manifest["items"])
    with pytest.raises(PlaybookError, match=r"\['score_names'\] only apply to kind = 'langfuse'"):
        parse_playbook(ROSTER + '[evidence.d]\nkind = "deploys"\nscore_names = ["x"]\n')
    with pytest.raises(PlaybookError, match=r"\['prompt_names'\] only apply to kind = 'deploys'"):
        parse_playbook(ROSTER + '[evidence.d]\nkind = "http"\nurl = "http://127.0.0.1:1/"\nprompt_names = ["x"]\n')
