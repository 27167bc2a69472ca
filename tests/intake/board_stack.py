"""One real stack for the board's tests: the dev server (dev_env), a worker with the real activities, and the intake
(uvicorn on 127.0.0.1) serving the board, with personal tokens for the test roster; and a headless Chromium.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from intake.app import create_app
from intake.board.routes import Board
from intake.people import People
from intake.tokens import TokenStore
from integrations.artefacts import ArtefactStore
from playbook.config import load_playbook
from tests.intake.support import Running, config, secrets, serving
from tests.support import incident_worker, write_playbook
from tests.test_ui import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".firebreak" / "board-screenshots"  # .firebreak/ is gitignored; docs/board.md shows them
BOARD_PLAYBOOK = """
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
[communicate.audiences.responders]
shape = "tactical"
final = true
"""


@dataclass
class Stack:
    api: Running
    client: Client
    task_queue: str
    store: ArtefactStore
    tokens: dict[str, str] = field(default_factory=dict)  # person -> personal token

    @property
    def board(self) -> Board:
        board: Board = self.api.app.state.board
        return board


@asynccontextmanager
async def board_stack(client: Client, base: Path) -> AsyncIterator[Stack]:
    prefix = "B" + "".join(random.choices(string.ascii_uppercase, k=6))
    playbook = write_playbook(base, BOARD_PLAYBOOK % prefix)
    tokens = TokenStore(base / "tokens.json")
    store = ArtefactStore(base / "home" / "artefacts")
    people = People(tokens=tokens, roster=load_playbook(playbook)[0].roster, store=store)
    tq = f"board-{uuid.uuid4()}"
    cfg = config(people={"outcome_wait_seconds": 5.0}, board={"refresh_seconds": 0.3})
    async with incident_worker(client, tq, playbook, base / "home"), \
            serving(create_app(cfg, secrets(cfg), client=client, task_queue=tq, people=people, store=store)) as api:
        stack = Stack(api, client, tq, store)
        for person in ("ian", "bea", "olu", "sam", "cat"):
            stack.tokens[person] = tokens.issue(person)[0]
        stack.tokens["zed"] = tokens.issue("zed")[0]  # a token for someone off the roster
        yield stack


class Browser:
    """Headless Debian Chromium through its chromedriver (tests/test_ui.py's flags), as a responder uses the board.
    Synchronous: run its steps in a thread, the worker runs on the test's event loop."""

    def __init__(self, base_url: str, user_data: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*CHROMIUM_FLAGS, "--window-size=1280,1000", f"--user-data-dir={user_data}"]:
            options.add_argument(flag)
        self.base = base_url
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.wait = WebDriverWait(self.driver, 20)

    def get(self, path: str) -> None:
        self.driver.get(self.base + path)

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def text(self, selector: str = "main") -> str:
        return self.read(selector, lambda e: str(e.text))

    def read(self, selector: str, what: Any) -> str:
        """What `what` reads from the element, found afresh when a live update replaced it meanwhile."""
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(5):
            try:
                return str(what(self.css(selector)))
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"{selector} kept being replaced")

    def until_text(self, selector: str, wanted: str) -> str:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), wanted))
        return self.text(selector)

    def press(self, selector: str) -> None:
        """Click what `selector` finds, found afresh (a live update may have just replaced it)."""
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(5):
            try:
                self.driver.execute_script("arguments[0].click()", self.css(selector))
                return
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"{selector} kept being replaced")

    def sign_in(self, token: str) -> None:
        self.get("/signin")
        self.css("#token").send_keys(token)
        self.press("form[action='/signin'] button")
        self.until_text("header", "signed in as")

    def sign_out(self) -> None:
        self.press("form[action='/signout'] button")
        self.until_text("h1", "Sign in")

    def screenshot(self, name: str) -> None:
        """The whole page (the window grown to its height for the moment), for docs/board.md."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(1280, min(max(height, 1000), 6000))
        try:
            self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        finally:
            self.driver.set_window_size(1280, 1000)

    def phone(self, name: str) -> int:
        """A phone-sized window's screenshot; how far the page runs past the screen's width (0: it does not)."""
        self.driver.set_window_size(390, 844)
        try:
            self.screenshot(name)
            return int(self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"))
        finally:
            self.driver.set_window_size(1280, 1000)

    def close(self) -> None:
        self.driver.quit()
