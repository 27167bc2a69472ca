"""Board sessions: a personal token (`firebreak token issue PERSON`) exchanged once for a session cookie.

The cookie holds a random session id only (HttpOnly, SameSite=Lax, Path=/; Secure when the page came over
https); the server keeps who it is, its CSRF token and when it ends. Every form carries the CSRF token and every
POST is checked against it (before sign-in, against a per-browser pre-session cookie: no login CSRF), and a POST
whose Origin names another site is refused. A session ends at sign-out or `session_minutes` after sign-in; a revoked
token or a person taken off the roster loses the board at the next request.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from intake.tokens import Tokens
from playbook.config import Roster

COOKIE = "firebreak_board"
PRE_COOKIE = "firebreak_board_pre"
MAX_SESSIONS = 10_000


class SignInRefused(Exception):
    """The token is unknown or revoked, or its person is not on the roster."""


@dataclass
class Session:
    person: str
    token: str  # kept in this process's memory only, so a revoked token ends the session
    csrf: str
    ends_at: float


class Sessions:
    """Sessions in the intake's memory (a restart signs everyone out, which is the safe direction)."""

    def __init__(self, tokens: Tokens, roster: Roster | None, minutes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.tokens, self.roster, self.seconds, self.clock = tokens, roster, minutes * 60, clock
        self._by_id: dict[str, Session] = {}
        self._pre_key = secrets.token_bytes(32)

    def on_roster(self, person: str) -> bool:
        return self.roster is not None and person in self.roster.people

    def sign_in(self, token: str) -> tuple[str, Session]:
        """A new session for the token's person (token store errors propagate: the caller says 503)."""
        person = self.tokens.person_for(token.strip()) if token.strip() else None
        if person is None:
            raise SignInRefused("this token is unknown or revoked; `firebreak token issue PERSON` makes one")
        if not self.on_roster(person):
            raise SignInRefused(f"{person} is not on this playbook's roster")
        self._expire()
        if len(self._by_id) >= MAX_SESSIONS:
            oldest = min(self._by_id, key=lambda k: self._by_id[k].ends_at)
            del self._by_id[oldest]
        sid = secrets.token_urlsafe(32)
        session = Session(person, token.strip(), secrets.token_urlsafe(24), self.clock() + self.seconds)
        self._by_id[sid] = session
        return sid, session

    def _expire(self) -> None:
        now = self.clock()
        for sid in [k for k, s in self._by_id.items() if s.ends_at <= now]:
            del self._by_id[sid]

    def current(self, request: Request) -> Session | None:
        """The request's live session: not ended, its token not revoked, its person still on the roster."""
        sid = request.cookies.get(COOKIE)
        session = self._by_id.get(sid) if sid else None
        if session is None or sid is None:
            return None
        if session.ends_at <= self.clock() or not self.on_roster(session.person) \
                or self.tokens.person_for(session.token) != session.person:
            del self._by_id[sid]
            return None
        return session

    def sign_out(self, request: Request) -> None:
        sid = request.cookies.get(COOKIE)
        if sid:
            self._by_id.pop(sid, None)

    # ---------------------------------------------------------------- CSRF

    def pre_csrf(self, pre_id: str) -> str:
        """The sign-in form's CSRF token, bound to the browser's pre-session cookie."""
        return hmac.new(self._pre_key, pre_id.encode(), "sha256").hexdigest()

    def csrf_ok(self, request: Request, given: str, session: Session | None) -> bool:
        if not same_origin(request):
            return False
        if session is not None:
            expected = session.csrf
        else:
            pre = request.cookies.get(PRE_COOKIE)
            if not pre:
                return False
            expected = self.pre_csrf(pre)
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def same_origin(request: Request) -> bool:
    """No Origin (old browsers, curl) or one naming this host; a POST from another site is refused."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    # Lax, not Strict: a link to an incident from Slack, a ticket or a page opens signed in. Cross-site POSTs still
    # carry no cookie, and every form needs its CSRF token anyway.
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
