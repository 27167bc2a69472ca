"""What people see and do in the Temporal UI and the `temporal` CLI, against the embedded dev server with its UI.

The signal payloads of docs/where-to-look.md are sent with the real `temporal` binary, so the documented JSON can't
rot; a headless Chromium (Debian's chromium + chromium-driver, installed by `make test` when missing) finds an
incident by its search attributes in the UI's workflow list, reads its summary, details and current details on the
workflow page, and approves a request through the UI's "Send a Signal" dialog with the documented payload.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shlex
import string
import typing
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import TypeAdapter
from temporalio.client import Client

from client.temporal import connect, raise_detection
from embedded.binaries import temporal_cli
from embedded.devserver import DevServer
from playbook.models import ApprovalStatus, Role
from tests.conftest import REPO
from tests.support import detection, free_port, human, incident_worker, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]
UI_WAIT = 30.0  # seconds any one thing may take to show in the UI

# The people of the documented payloads: they are sent as written, so the roster has them in the roles they claim.
DOCUMENTED_ROSTER = """
[roster.people.alice]
name = "Alice Ng"
roles = ["incident_commander"]
backup = "bob"
[roster.people.bob]
name = "Bob Osei"
roles = ["incident_commander", "ai_ops"]
backup = "carol"
[roster.people.carol]
name = "Carol Ruiz"
roles = ["ai_ops"]
backup = "bob"
[roster.people.dana]
name = "Dana Weiss"
roles = ["domain_sme"]
backup = "erin"
[roster.people.erin]
name = "Erin Park"
roles = ["domain_sme", "communications"]
"""
PLAYBOOK_BODY = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV1"
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back to the known-good prompt"
[services."*"]
stabilise = ["rollback_prompt"]
[tickets]
number_prefix = "%s"
"""


def documented_section() -> str:
    text = (REPO / "docs" / "where-to-look.md").read_text(encoding="utf-8")
    start = text.index("## Acting from the Temporal UI or the temporal CLI")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def documented_payloads() -> dict[str, str]:
    """signal name -> the JSON payload the documented table gives for it."""
    section = documented_section()
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\{.*\})` \|$", section, re.M))
    alert = re.search(r"^\| `alert` / `alert_batch` \|.*`(\{.*\})` \|$", section, re.M)
    assert alert is not None, "the documented alert row lost its example"
    rows["alert"] = alert.group(1)
    return rows


def documented_cli_example() -> list[str]:
    """The documented `temporal workflow signal` command, as argv."""
    block = re.search(r"<!-- cli example.*?```sh\n(.*?)```", documented_section(), re.S)
    assert block is not None, "the documented temporal CLI example is gone"
    return shlex.split(block.group(1).replace("\\\n", " "))


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    i = argv.index(option)
    return [*argv[:i + 1], value, *argv[i + 2:]]


def signal_handlers() -> dict[str, Any]:
    """signal name -> the payload type its handler takes."""
    handlers = {}
    for name in dir(IncidentWorkflow):
        fn = getattr(IncidentWorkflow, name)
        if callable(fn) and hasattr(fn, "__temporal_signal_definition"):
            hints = typing.get_type_hints(fn)
            handlers[fn.__temporal_signal_definition.name] = next(t for k, t in hints.items() if k != "return")
    return handlers


def test_docs_document_every_signal_with_a_payload_that_decodes() -> None:
    payloads, handlers = documented_payloads(), signal_handlers()
    assert set(handlers) - {"alert_batch"} == set(payloads), \
        "document each signal in the table of docs/where-to-look.md"
    for name, payload in payloads.items():
        TypeAdapter(handlers[name]).validate_json(payload)  # what the pydantic converter does with json/plain
    argv = documented_cli_example()
    assert argv[:3] == ["temporal", "workflow", "signal"]
    assert json.loads(argv[argv.index("--input") + 1]) == json.loads(payloads[argv[argv.index("--name") + 1]])


@pytest_asyncio.fixture(scope="module")
async def ui_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """The embedded dev server as `make up` starts it (UI on), on free ports and a SQLite file of its own."""
    base = tmp_path_factory.mktemp("ui-server")
    server = DevServer(db_path=base / "temporal.db", log_path=base / "temporal.log", port=free_port(),
                       ui_port=free_port())
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def ui_client(ui_server: DevServer) -> Client:
    return await connect(ui_server.address)


def ui_playbook(tmp_path: Path) -> Path:
    # Tests share the server but not a number ledger: a prefix of their own keeps INC numbers apart.
    prefix = "U" + "".join(random.choices(string.ascii_uppercase, k=6))
    return write_playbook(tmp_path, PLAYBOOK_BODY % prefix, roster=DOCUMENTED_ROSTER)


async def temporal(*args: str, attempts: int = 5) -> str:
    """Run the `temporal` binary; like a person, try again when the server says the workflow is busy (a transient
    answer of a loaded SQLite dev server that the SDK clients retry on their own)."""
    for attempt in range(1, attempts + 1):
        proc = await asyncio.create_subprocess_exec(temporal_cli(), *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        if proc.returncode == 0 or b"Workflow is busy" not in out or attempt == attempts:
            break
        await asyncio.sleep(0.5 * attempt)
    assert proc.returncode == 0, f"temporal {' '.join(args)} failed: {out.decode()}"
    return out.decode()


async def test_documented_signals_land_through_the_temporal_cli(ui_server: DevServer, ui_client: Client,
                                                            tmp_path: Path, home: Path) -> None:
    payloads, tq = documented_payloads(), f"ui-{uuid.uuid4()}"
    async with incident_worker(ui_client, tq, ui_playbook(tmp_path), home):
        handle = await raise_detection(ui_client, detection(), task_queue=tq)
        wid = ["--address", ui_server.address, "--workflow-id", handle.id]

        async def send(name: str) -> None:
            await temporal("workflow", "signal", *wid, "--name", name, "--input", payloads[name])

        await send("acknowledge")
        await wait_for(handle, lambda s: s.approval("stabilise-1") is not None)
        # The documented command as written, pointed at this server and this incident.
        argv = with_option(with_option(documented_cli_example(), "--address", ui_server.address), "--workflow-id",
                           handle.id)
        await temporal(*argv[1:])
        state = await wait_for(handle, lambda s: any(m.action == "rollback_prompt" for m in s.mitigations))
        request = state.approval("stabilise-1")
        assert request is not None and request.status == ApprovalStatus.APPROVED and request.decided_by == "carol"
        assert [(m.action, m.outcome) for m in state.mitigations] == [("rollback_prompt", "done")]
        assert state.acknowledged_by == "alice"
        details = await temporal("workflow", "metadata", *wid)
        assert "**Mitigations in place**" in details and "- stabilise: rollback_prompt" in details
        described = await temporal("workflow", "describe", *wid)
        assert 'StaticSummary  "toxicity on support-bot: toxic answers"' in described
        assert "(guardrail breach) on **support-bot**" in described
        assert "IncidentSeverity" in described

        for name in ("reject", "add_note", "set_severity", "assign_role", "alert", "resolve"):
            await send(name)
        state = await wait_for(handle, lambda s: s.status.value == "resolved")
        await send("retrospective_done")
        state = await wait_for(handle, lambda s: s.retrospective is not None)
        said = {(e.actor, e.what) for e in state.timeline}
        assert ("carol", "refused: reject") in said  # decoded, and refused: stabilise-1 was already approved
        assert {("alice", "acknowledged"), ("carol", "stabilise-1 approved"), ("carol", "note"),
                ("alice", "severity SEV1 -> SEV2"), ("alice", "bob assigned domain_sme"), ("alice", "resolved"),
                ("alice", "retrospective held")} <= said
        assert state.alert_count == 2 and state.retrospective is not None
        assert state.retrospective.action_items[0].owner == "carol"


class Browser:
    """Headless Debian Chromium through its chromedriver, as a person uses the Temporal UI. Synchronous: run its
    steps in a thread, because the worker answering the UI's queries runs on the test's event loop."""

    def __init__(self, ui_url: str, user_data: Path) -> None:
        from selenium import webdriver
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={user_data}"]:
            options.add_argument(flag)
        self.ui_url, self.user_data = ui_url, user_data
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        # The UI re-renders as data arrives: an element found a moment ago may be gone, so look again.
        self.wait = WebDriverWait(self.driver, UI_WAIT,
                                  ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

    def close(self, failed: bool) -> None:
        if failed:
            self.driver.save_screenshot(str(self.user_data.parent / "ui-failure.png"))
        self.driver.quit()

    def shown(self, css: str) -> list[Any]:
        """The elements for `css` a person can see (the UI keeps hidden copies of menus and dialogs)."""
        from selenium.webdriver.common.by import By

        return [e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]

    def click(self, css: str) -> None:
        self.wait.until(lambda _: self.shown(css) and self.shown(css)[0].is_enabled())
        self.shown(css)[0].click()

    def find_in_list(self, number: str, workflow_id: str) -> str:
        """The workflow list filtered by the incident's number, its search attributes added as columns; the rows."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        query = urllib.parse.quote(f'IncidentNumber = "{number}"')
        self.driver.get(f"{self.ui_url}/namespaces/default/workflows?query={query}")
        row = "[data-testid=workflows-summary-configurable-table-row]"
        self.wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "tbody"), workflow_id))
        self.click("[data-testid=workflows-summary-table-configuration-button]")  # "Configure Columns"
        for column in ("IncidentNumber", "IncidentSeverity", "IncidentStep"):
            self.click(f"[data-testid=orderable-list-item-{column}-add-button]")
        self.wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, row), number))
        rows: str = self.wait.until(
            lambda d: "\n".join(r.text for r in d.find_elements(By.CSS_SELECTOR, row)))
        self.click("[data-testid=drawer-close-button]")
        self.wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "[data-testid=drawer-close-button]")))
        return rows

    def user_metadata(self, workflow_id: str | None, current_shows: str) -> dict[str, str]:
        """Open the workflow (from the list, or reload its page) and read its User Metadata tab's three frames."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        if workflow_id:
            self.wait.until(ec.element_to_be_clickable((By.LINK_TEXT, workflow_id))).click()
            self.click("[data-testid=user-metadata-tab]")
        else:
            self.driver.refresh()
        seen = {}
        # Each is markdown the UI renders in a frame of its own; the current details come from a query the
        # worker answers.
        for frame, shows in (("user-metadata-summary", "on support-bot"), ("user-metadata-details", "detected:"),
                             ("user-metadata-current-details", current_shows)):
            self.wait.until(ec.frame_to_be_available_and_switch_to_it((By.ID, frame)))
            self.wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), shows))
            seen[frame] = self.driver.find_element(By.TAG_NAME, "body").text
            self.driver.switch_to.default_content()
        return seen

    def send_signal(self, name: str, payload: str) -> None:
        """More Actions -> Send a Signal -> Signal name -> Data -> json/plain -> Submit, as the docs say."""
        from selenium.webdriver.support import expected_conditions as ec

        self.click("button[aria-controls=workflow-actions]")  # "More Actions"
        self.click("[data-testid=signal-button]")  # "Send a Signal"
        self.click("[data-testid=signal-select-button]")
        self.wait.until(lambda _: any(o.text.strip() == name for o in self.shown("li[role=option]")))
        next(o for o in self.shown("li[role=option]") if o.text.strip() == name).click()
        editor = self.shown("[contenteditable=true][aria-label=Data]")[0]
        editor.click()
        editor.send_keys(payload)
        self.click("input[value='json/plain']")  # leaves the editor, which then tidies the JSON
        self.click("[data-testid=confirm-modal-button]")  # "Submit"
        self.wait.until(lambda _: not self.shown("[data-testid=confirm-modal-button]"))
        self.wait.until(ec.url_contains("user-metadata"))


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason="needs Debian's chromium and chromium-driver: `make test` as root installs them")
async def test_ui_finds_the_incident_shows_its_details_and_takes_a_signal(
        ui_server: DevServer, ui_client: Client, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download a browser or driver
    tq = f"ui-{uuid.uuid4()}"
    async with incident_worker(ui_client, tq, ui_playbook(tmp_path), home):
        handle = await raise_detection(ui_client, detection(summary="toxic answers after prompt v13"),
                                       task_queue=tq)
        await handle.signal(IncidentWorkflow.acknowledge, human("alice", Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
        number = state.number
        assert number is not None
        browser = await asyncio.to_thread(Browser, ui_server.ui_url, tmp_path / "chromium")
        failed = True
        try:
            rows = await asyncio.to_thread(browser.find_in_list, number, handle.id)
            seen = await asyncio.to_thread(browser.user_metadata, handle.id, number)
            await asyncio.to_thread(browser.send_signal, "approve", documented_payloads()["approve"])
            state = await wait_for(handle, lambda s: bool(s.mitigations))
            after = await asyncio.to_thread(browser.user_metadata, None, "rollback_prompt (")
            failed = False
        finally:
            await asyncio.to_thread(browser.close, failed)
    assert handle.id in rows and "running" in rows.lower()
    assert f"{number} SEV1 stabilise" in rows, rows
    assert seen["user-metadata-summary"].strip() == "toxicity on support-bot: toxic answers after prompt v13"
    assert "toxicity (guardrail breach) on support-bot" in seen["user-metadata-details"]
    assert "toxicity_p95=0.91" in seen["user-metadata-details"]
    current = seen["user-metadata-current-details"]
    assert f"{number} · SEV1 · acknowledged · step stabilise" in current
    assert "Waiting for approval" in current and "stabilise-1" in current
    assert "ai_ops: bob (paged), carol" in current and "decide by" in current
    assert "acknowledged by alice" in current and "next brief due" in current
    assert "none yet" in current
    # The documented approve payload, sent from the UI's dialog, landed: approved by carol, mitigation in place.
    request = state.approval("stabilise-1")
    assert request is not None and request.status == ApprovalStatus.APPROVED and request.decided_by == "carol"
    current = after["user-metadata-current-details"]
    assert "Waiting for approval" not in current and "stabilise: rollback_prompt (" in current
