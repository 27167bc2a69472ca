"""The board over plain HTTP (httpx) on the same real stack as the browser test: who may see it, CSRF, session
expiry and revocation, and the pages' accessibility basics (labels, headings, names, contrast of both themes).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser

import httpx

from intake.board.session import COOKIE
from intake.board.static import CSS, TEXT_PAIRS, THEMES
from tests.intake.board_stack import Stack
from tests.intake.support import API_TOKEN, bearer
from tests.support import wait_for

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def csrf_of(html: str, action: str | None = None) -> str:
    scope = html[html.index(f'action="{action}"'):] if action else html
    found = re.search(r'name="csrf" value="([^"]+)"', scope)
    assert found, "a form without its CSRF token"
    return found.group(1)


@asynccontextmanager
async def signed_in(board: Stack, person: str, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A new browser-like client (its own cookie jar), signed in as `person`."""
    async with httpx.AsyncClient(base_url=board.api.url, timeout=30) as http:
        page = await http.get("/signin")
        r = await http.post("/signin", data={"csrf": csrf_of(page.text), "token": token or board.tokens[person]})
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        yield http


async def test_nobody_unsigned_or_off_the_roster_sees_anything(board: Stack) -> None:
    async with httpx.AsyncClient(base_url=board.api.url, timeout=30) as http:
        for path, back in (("/", ""), ("/reports", "?next=/reports"), ("/incidents/INC-2026-0001?x=1",
                                                                         "?next=/incidents/INC-2026-0001%3Fx%3D1")):
            r = await http.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/signin" + back, path
        for path in ("/board/events", "/incidents/INC-2026-0001/files/evidence/manifest.json"):
            assert (await http.get(path)).status_code == 401, path
        r = await http.post("/incidents/INC-2026-0001/approvals/stabilise-1", data={"decision": "approve"})
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/incidents/INC-2026-0001"
        page = await http.get("/signin")
        for token, why in ((board.tokens["zed"], "zed is not on this playbook"),
                           ("fbp_not-a-token", "unknown or revoked")):
            r = await http.post("/signin", data={"csrf": csrf_of(page.text), "token": token})
            assert r.status_code == 403 and why in r.text and COOKIE not in r.cookies
        assert (await http.get("/")).status_code == 303


async def test_sign_in_returns_to_the_page_asked_for_and_only_on_this_board(board: Stack) -> None:
    for asked, lands in (("/reports", "/reports"), ("//evil.example/x", "/"), ("https://evil.example/", "/")):
        async with httpx.AsyncClient(base_url=board.api.url, timeout=30) as http:
            page = await http.get("/signin", params={"next": asked})
            r = await http.post("/signin", data={"csrf": csrf_of(page.text), "token": board.tokens["cat"],
                                                 "next": asked})
            assert r.status_code == 303 and r.headers["location"] == lands, asked


async def test_session_cookie_and_csrf(board: Stack) -> None:
    async with httpx.AsyncClient(base_url=board.api.url, timeout=30) as http:
        page = await http.get("/signin")
        # Sign-in itself is CSRF-protected: a token from another browser's form (or none) is refused.
        r = await http.post("/signin", data={"csrf": "x" * 64, "token": board.tokens["olu"]})
        assert r.status_code == 403 and "another site" in r.text
        r = await http.post("/signin", data={"csrf": csrf_of(page.text), "token": board.tokens["olu"]})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie \
            and "Path=/" in cookie and "Max-Age=43200" in cookie
        home = await http.get("/")
        assert home.status_code == 200 and "signed in as <strong>olu</strong>" in home.text
        assert "default-src 'self'" in home.headers["content-security-policy"]
        csrf = csrf_of(home.text, "/signout")
        refused = [await http.post("/signout", data={}),
                   await http.post("/signout", data={"csrf": "wrong"}),
                   await http.post("/signout", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}),
                   await http.post("/incidents/INC-2026-0001/approvals/stabilise-1",
                                   data={"decision": "approve", "csrf": "wrong"}),
                   await http.post("/incidents/INC-2026-0001/resolve", data={"comment": "done"})]
        assert [r.status_code for r in refused] == [403] * 5
        assert all("another site" in r.text for r in refused)
        assert (await http.get("/")).status_code == 200  # still signed in: none of those did anything
        r = await http.post("/signout", data={"csrf": csrf}, headers={"Origin": board.api.url})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert (await http.get("/")).status_code == 303


async def test_a_session_ends_when_it_expires_or_its_token_is_revoked(board: Stack) -> None:
    sessions = board.board.sessions
    async with signed_in(board, "olu") as http:
        assert (await http.get("/")).status_code == 200
        real = sessions.clock
        sessions.clock = lambda: real() + 12 * 3600 + 1  # [intake.board] session_minutes = 720 later
        try:
            r = await http.get("/")
        finally:
            sessions.clock = real
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert (await http.get("/")).status_code == 303  # ended, not just hidden for a moment
    token, record = sessions.tokens.issue("olu")
    async with signed_in(board, "olu", token) as http:
        assert (await http.get("/reports")).status_code == 200
        sessions.tokens.revoke("olu", record.id)
        assert (await http.get("/reports")).status_code == 303


class Page(HTMLParser):
    """What the accessibility checks need from a page: headings, controls and their names, labels, links."""

    def __init__(self) -> None:
        super().__init__()
        self.lang, self.headings, self.controls, self.label_for = "", list[int](), list[dict[str, str]](), set[str]()
        self.open_labels, self.open_buttons, self.problems = 0, list[str](), list[str]()
        self.assets: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({**a, "_tag": tag, "_labelled": "1" if self.open_labels else ""})
        elif tag == "button":
            self._text = []
        elif tag == "svg" and (a.get("role") != "img" or not a.get("aria-labelledby")):
            self.problems.append("an svg without role=img and a name")
        elif tag in ("script", "link", "img"):
            self.assets.append(a.get("src") or a.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1
        elif tag == "button" and not "".join(self._text).strip():
            self.problems.append("a button without text")

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def check(self, name: str) -> list[str]:
        problems = [f"{name}: {p}" for p in self.problems]
        if self.lang != "en":
            problems.append(f"{name}: no lang")
        if self.headings.count(1) != 1:
            problems.append(f"{name}: {self.headings.count(1)} h1")
        for before, after in zip(self.headings, self.headings[1:], strict=False):
            if after > before + 1:
                problems.append(f"{name}: heading h{before} then h{after}")
        for c in self.controls:
            if not (c["_labelled"] or c.get("id") in self.label_for or c.get("aria-label")):
                problems.append(f"{name}: {c['_tag']} {c.get('name')} has no label")
        problems += [f"{name}: {a} is not served by the intake" for a in self.assets if not a.startswith("/")]
        return problems


async def test_pages_have_labels_headings_and_names(board: Stack) -> None:
    service = f"a11y-{uuid.uuid4().hex[:6]}"
    r = await board.api.http.post("/v1/alerts", headers=bearer(API_TOKEN), json={
        "kind": "toxicity", "services": [service], "summary": "toxic answers", "fingerprint": f"fp-{service}"})
    handle = board.client.get_workflow_handle(r.json()["incidents"][0]["workflow_id"])
    number = (await wait_for(handle, lambda s: s.number is not None)).number
    assert number is not None
    # By workflow id: the number reaches the visibility listing (which finds incidents by number) a moment later.
    ack = await board.api.http.post(f"/v1/incidents/{handle.id}/acknowledge", headers=bearer(board.tokens["ian"]))
    assert ack.status_code == 200, ack.text
    await wait_for(handle, lambda s: bool(s.pending_approvals()))
    problems = []
    async with httpx.AsyncClient(base_url=board.api.url) as anonymous:
        page = Page()
        page.feed((await anonymous.get("/signin")).text)
        problems += page.check("/signin")
    seen = {}
    mine = "/?state=all&severity=SEV1&mine=1"
    async with signed_in(board, "bea") as http:
        for _ in range(100):  # the listing has the incident's number and pending requests a moment after it does
            if number in (await http.get(mine)).text:
                break
            await asyncio.sleep(0.1)
        for path in ("/", mine, f"/incidents/{handle.id}", "/reports"):
            r = await http.get(path)
            assert r.status_code == 200, path
            page, seen[path] = Page(), r.text
            page.feed(r.text)
            problems += page.check(path)
    assert problems == []
    incident = seen[f"/incidents/{handle.id}"]  # with its forms: approve / reject, resolve
    assert "stabilise-1" in incident and "Resolve the incident" in incident
    assert number in seen[mine]  # bea holds ai_ops: stabilise-1 waits for her


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def test_both_themes_reach_wcag_aa_contrast(board: Stack) -> None:
    served = (await board.api.http.get("/board/static/board.css")).text
    assert served == CSS and "@media (prefers-color-scheme: dark)" in served
    low = [(theme, fg, bg, round(contrast(c[fg], c[bg]), 2)) for theme, c in THEMES.items() for fg, bg in TEXT_PAIRS
           if contrast(c[fg], c[bg]) < 4.5]
    assert low == []
    for theme, colours in THEMES.items():  # the stylesheet uses exactly these colours
        assert all(f"--{k}:{v};" in served for k, v in colours.items()), theme
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the formula, against WCAG's known example
