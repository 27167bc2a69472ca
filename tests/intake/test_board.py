"""The incident board in a real browser (Debian's headless Chromium) against a real stack: a responder signs in, sees
an incident appear live when an alert is posted, is refused for a role they do not hold (with the workflow's reason),
approves a gate as the person holding the role and sees the step advance, resolves keeping the mitigation, edits the
closing brief as the domain SME and sees the diff, reads the reports, and signs out. Each page's screenshot is kept
under .firebreak/board-screenshots/ for docs/board.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from playbook.models import ActionItem, ApprovalStatus, RetrospectiveNotes, Role
from tests.intake.board_stack import SCREENSHOTS, Browser, Stack
from tests.intake.support import API_TOKEN, bearer
from tests.support import human, wait_for
from tests.test_ui import CHROMEDRIVER, CHROMIUM
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver: `make test` as root installs them")


async def run(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def click(b: Browser, selector: str) -> None:
    b.press(selector)


def attribute(b: Browser, selector: str, name: str) -> str:
    return b.read(selector, lambda e: e.get_attribute(name))


def first_tab_stop(b: Browser) -> str:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    b.driver.refresh()  # a fresh page: nothing has the focus yet
    ActionChains(b.driver).send_keys(Keys.TAB).perform()
    return str(b.driver.switch_to.active_element.get_attribute("textContent"))


def tracked_item(b: Browser, path: str) -> str:
    """The first action item's line once its workflow answers (it starts as the retrospective is recorded)."""
    for _ in range(20):
        b.get(path)
        line = b.text("#review li")
        if "·" in line:
            return line
        time.sleep(0.25)
    raise AssertionError(f"the action item's workflow did not answer: {line}")


def edit_brief(b: Browser, request_id: str, added: str) -> None:
    form = f"form[action$='/approvals/{request_id}']"
    b.press(f"#approvals details:has({form} textarea) summary")
    b.css(f"{form} textarea").send_keys(added)
    b.press(f"{form} textarea ~ button")


async def test_a_responder_works_an_incident_on_the_board(board: Stack, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download a browser or driver
    service, http = f"board-{uuid.uuid4().hex[:6]}", board.api.http
    (SCREENSHOTS / "failure.png").unlink(missing_ok=True)
    b: Browser = await run(Browser, board.api.url, tmp_path / "chromium")
    try:
        await run(b.get, "/")
        assert "Sign in" in await run(b.text, "h1")  # nobody sees anything before signing in
        await run(b.screenshot, "signin")
        await run(b.sign_in, board.tokens["sam"])
        await run(b.get, f"/?service={service}")
        await run(b.until_text, "#live-status", "live")
        assert "No incident matches" in await run(b.text, "#incidents")

        # An alert arrives: the incident shows in the open page without a reload.
        r = await http.post("/v1/alerts", headers=bearer(API_TOKEN), json={
            "kind": "toxicity", "services": [service], "summary": "toxic answers after prompt v13",
            "fingerprint": f"fp-{service}", "alert_id": "a-1", "metrics": {"toxicity_p95": 0.91}})
        assert r.status_code == 202, r.text
        handle = board.client.get_workflow_handle(r.json()["incidents"][0]["workflow_id"])
        state = await wait_for(handle, lambda s: s.number is not None and s.ticket is not None)
        number = state.number
        assert number is not None
        row = await run(b.until_text, "#incidents", number)
        assert "SEV1" in row and "toxicity" in row and service in row
        await run(b.screenshot, "incidents")

        # Sam (domain SME) may not acknowledge: no button. Bea (incident commander, AI Ops) acknowledges, and the
        # stabilise gate shows up in her open page.
        await run(b.get, f"/incidents/{number}")
        assert "Acknowledge" not in await run(b.text, "#overview")
        await run(b.sign_out)
        await run(b.get, f"/incidents/{number}")
        assert "Sign in" in await run(b.text, "h1")  # signed out means out
        await run(b.sign_in, board.tokens["bea"])
        await run(b.get, f"/incidents/{number}")
        await run(click, b, "form[action$='/acknowledge'] button")
        assert "acknowledge: accepted" in await run(b.until_text, ".flash", "acknowledge")
        approvals = await run(b.until_text, "#approvals", "stabilise-1")
        assert "who may decide: ai_ops" in approvals and "decide by" in approvals

        # Sam may not decide an AI Ops gate: the workflow refuses, and the page says why.
        await run(b.sign_out)
        await run(b.sign_in, board.tokens["sam"])
        await run(b.get, f"/incidents/{number}")
        await run(click, b, "form[action$='/approvals/stabilise-1'] button[value=approve]")
        refused = await run(b.until_text, ".flash", "refused")
        assert "stabilise-1" in refused and "ai_ops" in refused
        request = (await handle.query(IncidentWorkflow.get_state)).approval("stabilise-1")
        assert request is not None and request.status == ApprovalStatus.PENDING

        # Bea holds AI Ops: her approval is accepted and the step moves on.
        await run(b.sign_out)
        await run(b.sign_in, board.tokens["bea"])
        await run(b.get, f"/incidents/{number}")
        await run(click, b, "form[action$='/approvals/stabilise-1'] button[value=approve]")
        assert "accepted" in await run(b.until_text, ".flash", "stabilise-1")
        await run(b.until_text, "#mitigations", "rollback_prompt")
        assert (await run(b.text, "ol.steps li.done")).startswith("1. detect")
        now = await run(b.text, "ol.steps li[aria-current=step]")
        assert "stabilise" not in now and "detect" not in now, now

        # Someone else writes a note (here through the workflow's signal, as the CLI does): the open page's
        # timeline shows it without a reload.
        await handle.signal(IncidentWorkflow.add_note, human("olu", Role.AI_OPS, "rollback verified in staging"))
        await run(b.until_text, "#timeline", "rollback verified in staging")

        # Resolve from the board, keeping the mitigation; the closing brief then waits for the SME.
        await run(click, b, "#mitigations details summary")
        await run(click, b, "#mitigations form button")
        assert "accepted" in await run(b.until_text, ".flash", "resolve")
        await run(b.until_text, "#approvals", "brief-final")
        state = await handle.query(IncidentWorkflow.get_state)
        assert [(m.name, m.choice) for m in state.in_place] == [("rollback_prompt", "keep")]

        # Sam edits the closing brief and approves it; the page shows the edit as a diff.
        await run(b.sign_out)
        await run(b.sign_in, board.tokens["sam"])
        await run(b.get, f"/incidents/{number}")
        await run(edit_brief, b, "brief-final", "\nCustomers were told at 10:40 by the support team.")
        assert "accepted" in await run(b.until_text, ".flash", "brief-final")
        diff = await run(b.until_text, "#briefs pre.diff", "Customers were told")
        assert "+Customers were told at 10:40" in diff
        assert "-## What happened" not in diff  # only what the SME changed (the form's CRLF lines are the brief's)
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, action_id=str(uuid.uuid4()), root_cause="prompt v13",
            action_items=[ActionItem(what="add a toxicity eval to the prompt release", owner="olu")]))
        await run(b.until_text, "#review", "add a toxicity eval")
        assert "open" in await run(tracked_item, b, f"/incidents/{number}")  # the item's own workflow says so
        await run(b.screenshot, "incident")
        assert await run(b.phone, "incident-phone") == 0  # readable on a phone: nothing runs off the side

        # The evidence pack with its hashes, each item a link to its file; the ticket; the Temporal UI.
        evidence = await run(b.text, "#evidence")
        item = json.loads((board.store.path(number, "evidence", "manifest.json")).read_text())["items"][0]
        assert item["name"] in evidence and item["sha256"] in evidence
        ui = await run(attribute, b, "#overview a[href*='/namespaces/default/workflows/']", "href")
        assert ui.endswith(f"/workflows/{handle.id}")
        assert number in await run(b.text, "#overview dd a")  # the ticket (local: its file, served here)
        assert (await run(attribute, b, "#overview dd a", "href")).endswith(f"/incidents/{number}/files/ticket.md")
        await run(b.press, f"#evidence a[href$='/{item['path'].split('/')[-1]}']")
        assert service in await run(b.until_text, "body", service)  # the stored file, served to the signed in
        # The keyboard's first stop is the skip link.
        await run(b.get, f"/incidents/{number}")
        assert await run(first_tab_stop, b) == "Skip to content"

        await run(b.get, "/reports")
        reports = await run(b.text)
        assert "time to acknowledge (MTTA)" in reports and "Briefs on time per week" in reports
        # The numbers are `firebreak report`'s own, read from the same artefacts.
        printed = subprocess.run([sys.executable, "-m", "cli", "report", "--json"], capture_output=True, text=True,
                                 env={**os.environ, "FIREBREAK_HOME": str(board.store.root.parent)}, check=True)
        figures = json.loads(printed.stdout)
        assert f"{figures['incidents']} incident(s) with a retrospective record" in reports
        mttr = figures["minutes_to_resolve"]
        assert f"time to resolve (MTTR) {mttr['n']} {mttr['median']:g} {mttr['p90']:g} {mttr['max']:g}" in reports
        await run(b.screenshot, "reports")
        await run(b.sign_out)
    except BaseException:
        await run(b.screenshot, "failure")
        raise
    finally:
        await run(b.close)
