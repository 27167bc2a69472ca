"""The board's routes. Actions go through intake/people.py's PeopleRoutes (the same decision, resolution and
answer as the HTTP approvals), reads through reads.py, artefacts through artefacts.py.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from client.workflow_types import IncidentWorkflow
from intake.board import artefacts, pages, reads
from intake.board.charts import charts
from intake.board.incident_page import incident_body
from intake.board.layout import esc, page
from intake.board.session import COOKIE, PRE_COOKIE, Session, Sessions, SignInRefused, set_cookie
from intake.board.sse import stream
from intake.board.static import CSS, JS
from intake.body import read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError
from intake.people import ActionResult, DecisionBody, People, PeopleRoutes
from intake.tokens import TokenStoreError
from integrations.store import Store
from playbook.models import HumanAction, Resolution, Role

FORM = "application/x-www-form-urlencoded"
MAX_FORM = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}
# Pages load only what the intake serves, may not be framed, and post only to the intake.
PAGE_HEADERS = {**NO_STORE, "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin"}


class Board:
    def __init__(self, config: IntakeConfig, people: People, client: Callable[[], Client | None],
                 store: Store) -> None:
        self.config, self.people, self.store, self._client = config, people, store, client
        self.sessions = Sessions(people.tokens, people.roster, config.board.session_minutes)
        self.actions = PeopleRoutes(config, people, client)
        self.flash: dict[str, str] = {}  # session csrf -> what the last action's answer was

    @property
    def client(self) -> Client:
        return self.actions.client

    def roles(self, person: str) -> list[Role]:
        roster = self.people.roster
        return list(roster.people[person].roles) if roster and person in roster.people else []

    def html(self, title: str, body: str, session: Session | None, events: str | None = None,
             status: int = 200, live: bool = False) -> HTMLResponse:
        """A page; `live`: the page fetching itself for its live parts, which leaves the answer to the last action
        for the page the browser goes to next."""
        said = self.flash.pop(session.csrf, "") if session and not live else ""
        return HTMLResponse(page(title, body, session, events, said), status_code=status, headers=PAGE_HEADERS)

    async def form(self, request: Request) -> dict[str, str]:
        body = await read_body(request, MAX_FORM, self.config.body_timeout_seconds, expected=FORM, empty_ok=True)
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def say(self, session: Session, text: str) -> None:
        """What the next page tells this session (the answer to the action it just sent)."""
        if len(self.flash) > 10_000:
            self.flash.clear()
        self.flash[session.csrf] = text

    def refused(self, session: Session | None, why: str, status: int = 403) -> HTMLResponse:
        return self.html("Refused", f'<h1>Refused</h1><p role="alert">{why}</p><p><a href="/">Back to the board</a>'
                         f"</p>", session, status=status)


def live(request: Request) -> bool:
    return request.headers.get("x-board-live") == "1"


def lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def local(path: str) -> str:
    """A path on this board to go back to after sign-in; anything else (another site) is the list."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


async def _short(version: Awaitable[str]) -> str:
    return (await version)[:16]


def board_router(config: IntakeConfig, people: People, client: Callable[[], Client | None],
                 store: Store) -> tuple[APIRouter, Board]:
    board = Board(config, people, client, store)
    router = APIRouter(include_in_schema=False)
    every, wait = config.board.refresh_seconds, config.people.outcome_wait_seconds

    def signin_redirect(request: Request | None = None) -> RedirectResponse:
        """To the sign-in page, which comes back to this page (a link from Slack or a ticket) once signed in."""
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "") if request else "/"
        return RedirectResponse("/signin" + (f"?next={quote(back)}" if back != "/" else ""), status_code=303,
                                headers=NO_STORE)

    async def checked(request: Request) -> tuple[Session | None, dict[str, str] | None]:
        """(session, form) for a POST that passes the CSRF check; (session, None) when it does not."""
        session = board.sessions.current(request)
        form = await board.form(request)
        return session, form if board.sessions.csrf_ok(request, form.get("csrf", ""), session) else None

    @router.get("/board/static/board.css")
    async def css() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @router.get("/board/static/board.js")
    async def js() -> Response:
        return Response(JS, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

    def signin_form(request: Request, pre: str, said: str = "", status: int = 200, back: str = "/") -> Response:
        response = board.html("Sign in", pages.signin_body(board.sessions.pre_csrf(pre), said, back), None,
                              status=status)
        set_cookie(response, request, PRE_COOKIE, pre, None)
        return response

    @router.get("/signin")
    async def signin_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
        return signin_form(request, request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24), back=local(next))

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        _, form = await checked(request)
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        if form is None:
            return signin_form(request, pre, "The form expired or came from another site; sign in again.", 403)
        back = local(form.get("next", "/"))
        try:
            sid, _ = board.sessions.sign_in(form.get("token", ""))
        except SignInRefused as err:
            return signin_form(request, pre, str(err), 403, back)
        except TokenStoreError:
            return signin_form(request, pre, "the token store cannot be read; try again", 503, back)
        done: Response = RedirectResponse(back, status_code=303, headers=NO_STORE)
        set_cookie(done, request, COOKIE, sid, config.board.session_minutes * 60)
        done.delete_cookie(PRE_COOKIE, path="/")
        return done

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        session, form = await checked(request)
        if session is not None and form is None:
            return board.refused(session, "The form expired or came from another site; reload and try again.")
        board.sessions.sign_out(request)
        response = signin_redirect()
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/")
    async def incidents(request: Request, state: str = "open", severity: str = "", service: str = "",
                        kind: str = "", mine: str = "") -> Response:
        session = board.sessions.current(request)
        if session is None:
            return signin_redirect(request)
        f = reads.Filters(state if state in ("open", "closed", "all") else "open", severity, service[:100], kind,
                          bool(mine))
        problem, rows, version = "", [], ""
        try:
            version = await reads.list_version(board.client)  # before the rows: a change after it is sent
            rows = await reads.rows(board.client, f, session.person, set(board.roles(session.person)))
        except (RPCError, IntakeError) as err:
            problem = f"Temporal did not answer ({getattr(err, 'message', err)}); the list will come back"
        return board.html("Incidents", pages.list_body(f, rows, problem), session,
                          events=f"/board/events?v={version[:16]}", live=live(request))

    @router.get("/incidents/{ref}")
    async def incident(request: Request, ref: str) -> Response:
        session = board.sessions.current(request)
        if session is None:
            return signin_redirect(request)
        try:
            found = await reads.incident(board.client, ref)
        except RPCError as err:
            return board.html(ref, f'<h1>{esc(ref)}</h1><p role="alert">Temporal did not answer ({esc(err.message)});'
                              " reload in a moment.</p>", session, status=503)
        if found is None:
            return board.html("Not found", f"<h1>No incident {esc(ref)}</h1>", session, status=404)
        if found.state is None:
            return board.html(ref, f"<h1>{esc(ref)}</h1><p role=\"alert\">{esc(found.problem)}</p>",
                              session, events=f"/board/events?incident={quote(found.workflow_id)}")
        number = found.state.number or found.workflow_id
        body = incident_body(found.state, found.workflow_id, found.running, session.csrf, board.roles(session.person),
                             lambda rid: artefacts.draft_for(store, number, rid), artefacts.briefs(store, number),
                             artefacts.evidence(store, number), config.board.temporal_ui_url,
                             await reads.action_items(board.client, found.state))
        return board.html(number, body, session, events=f"/board/events?incident={quote(found.workflow_id)}"
                          f"&v={reads.state_version(found.state)[:16]}", live=live(request))

    async def act(request: Request, ref: str, label: str, send: Callable[[Session, dict[str, str]], Awaitable[
            ActionResult]]) -> Response:
        """A form that acts on the incident: CSRF-checked, sent as the signed-in person, the incident's answer (or
        why it was not sent) shown on the incident page."""
        session, form = await checked(request)
        if session is None:  # signed out meanwhile: nothing is sent; back to the incident once signed in
            return RedirectResponse(f"/signin?next={quote(f'/incidents/{quote(ref)}')}", status_code=303,
                                    headers=NO_STORE)
        if form is None:
            return board.refused(session, "The form expired or came from another site; reload and try again.")
        try:
            result = await send(session, form)
            said = f"{label}: {result.status}: {result.message}"
        except ValidationError as err:
            said = f"{label}: not sent: {err.errors()[0]['msg']}"
        except IntakeError as err:
            said = f"{label}: not sent: {err.message}"
        board.say(session, said)
        return RedirectResponse(f"/incidents/{quote(ref)}", status_code=303, headers=NO_STORE)

    @router.post("/incidents/{ref}/approvals/{request_id}")
    async def decide(request: Request, ref: str, request_id: str) -> Response:
        async def send(session: Session, form: dict[str, str]) -> ActionResult:
            text = form.get("text")  # browsers send a textarea's lines as CRLF: the brief's are LF
            body = DecisionBody(decision=form.get("decision", ""), role=form.get("role") or None,  # type: ignore
                                comment=form.get("comment", ""), text=None if text is None else lf(text))
            return (await board.actions.decision(session.person, body, ref, request_id))[1]

        return await act(request, ref, request_id, send)

    @router.post("/incidents/{ref}/acknowledge")
    async def acknowledge(request: Request, ref: str) -> Response:
        async def send(session: Session, form: dict[str, str]) -> ActionResult:
            target = await board.actions.target(ref, 2.0)
            role = board.actions.role(session.person, Role(form["role"]) if form.get("role") else None,
                                      Role.INCIDENT_COMMANDER)
            action = HumanAction(by=session.person, role=role, action_id=str(uuid.uuid4()))
            return (await board.actions.outcome(target, IncidentWorkflow.acknowledge, action, wait))[1]

        return await act(request, ref, "acknowledge", send)

    @router.post("/incidents/{ref}/resolve")
    async def resolve(request: Request, ref: str) -> Response:
        async def send(session: Session, form: dict[str, str]) -> ActionResult:
            choices = {k[2:]: v for k, v in form.items() if k.startswith("m:")}
            target = await board.actions.target(ref, 2.0)
            action = Resolution(by=session.person, role=Role.INCIDENT_COMMANDER, action_id=str(uuid.uuid4()),
                                comment=lf(form.get("comment", ""))[:4000],
                                keep=[k for k, v in choices.items() if v == "keep"],
                                undo=[k for k, v in choices.items() if v == "undo"])
            return (await board.actions.outcome(target, IncidentWorkflow.resolve, action, wait))[1]

        return await act(request, ref, "resolve", send)

    @router.get("/incidents/{number}/files/{relpath:path}")
    async def incident_file(request: Request, number: str, relpath: str) -> Response:
        if board.sessions.current(request) is None:
            return Response("sign in first", status_code=401, media_type="text/plain")
        data = artefacts.incident_file(store, number, relpath)
        if data is None:
            return Response("no such file", status_code=404, media_type="text/plain")
        media = "application/json" if relpath.endswith(".json") else "text/plain; charset=utf-8"
        return Response(data, media_type=media, headers={"X-Content-Type-Options": "nosniff",
                                                         "Content-Security-Policy": "sandbox", **NO_STORE})

    @router.get("/reports")
    async def reports(request: Request) -> Response:
        session = board.sessions.current(request)
        if session is None:
            return signin_redirect(request)
        records, problems = artefacts.retrospective_records(store)
        result, svgs = charts(records) if records else (None, [])
        return board.html("Reports", pages.reports_body(result, svgs, problems), session)

    @router.get("/board/events")
    async def events(request: Request, incident: str = "", v: str = "") -> Response:
        if board.sessions.current(request) is None:
            return Response("sign in first", status_code=401, media_type="text/plain")

        async def version() -> str:
            if incident:
                found = await reads.incident(board.client, incident)
                return reads.state_version(found.state if found else None)
            return await reads.list_version(board.client)

        return stream(request, lambda: _short(version()), every, v[:16])

    return router, board

