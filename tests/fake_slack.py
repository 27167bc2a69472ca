"""A fake Slack on 127.0.0.1 for slack_sdk's own clients (WebClient, WebhookClient) to talk to, written from Slack's
documentation, not from what Firebreak sends:

- `POST /api/chat.postMessage` (docs.slack.dev/reference/methods/chat.postMessage): bot token checked; `channel`
  may be an id or a name (`#incidents` or `incidents`); the answer's `channel` is always the id (C...), with `ts`
  and the `message`. Unknown channel: `channel_not_found`.
- `POST /api/chat.update` (docs.slack.dev/reference/methods/chat.update): only a channel *id* is accepted (newer
  methods take no names: slackapi/python-slack-sdk issue #1495, a maintainer's answer); an unknown ts is
  `message_not_found`.
- Block Kit: blocks are parsed with slack_sdk's own models (`Block.parse`, `validate_json`: its length limits), and
  a section's text must be 1 to 3000 characters (docs.slack.dev/reference/block-kit/blocks/section-block); a
  refusal is `invalid_blocks`, as chat.postMessage documents. At most 50 blocks a message.
- Incoming webhooks (`POST /services/...`): `ok` as text/plain on success (api.slack.com changelog 2016-05-17).
- Rate limits (docs.slack.dev/apis/web-api/rate-limits; slackhq/slack-api-docs page_rate_limits.md: "including
  Incoming Webhooks"): `rate_limit(n, retry_after)` makes the next n posts answer HTTP 429 with `Retry-After` (seconds)
  and `{"ok": false, "error": "ratelimited"}`.
- Channels (docs.slack.dev/reference/methods/conversations.create, .list, .invite, .archive; auth.test): `create`
  takes `name` (lower-case letters, digits, `-`, `_`, at most 80: else `invalid_name_specials` /
  `invalid_name_maxlength`) and answers `name_taken` while any channel, archived ones included, has it; the answer
  is a conversation object (id, name, created, creator, is_archived, is_member ...). `list` pages by `limit` and
  `cursor` (`response_metadata.next_cursor`, empty on the last page), archived channels only without
  `exclude_archived`. `invite` takes a comma-separated `users`: `user_not_found` for an id not in the workspace,
  `already_in_channel`, `cant_invite_self` (the bot), `is_archived`. `archive`: `already_archived`. `auth.test`
  answers the bot's `user_id`. Posting to an archived channel is `is_archived` (chat.postMessage).
- `response_url`s (docs.slack.dev/interactivity/handling-user-interaction): `response_url()` hands out one; it may be
  used 5 times within 30 minutes of the click (`clock` is the fake's time, to age it). What Slack answers past either
  limit is not documented: this fake answers 404 with a plain-text reason (an assumption, see docs/fidelity.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from tests.support import FakeServer

SLACK_TOKEN = "xoxb-test-token"
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60
MAX_BLOCKS = 50
BOT_USER = "U0FIREBREAK"
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")


def block_problem(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks (invalid_blocks), or None."""
    if blocks is None:
        return None
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return f"blocks must be an array of at most {MAX_BLOCKS}"
    for i, block in enumerate(blocks):
        if block.get("type") == "section" and "fields" not in block:
            text = (block.get("text") or {}).get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= 3000:
                return f"blocks[{i}]: a section's text must be 1 to 3000 characters"
        try:
            parsed = Block.parse(block)
            if parsed is None:
                return f"blocks[{i}]: unknown block type {block.get('type')!r}"
            parsed.validate_json()
        except SlackObjectFormationError as err:
            return f"blocks[{i}]: {err}"
    return None


def _refusal(error: str, detail: str | None = None) -> tuple[int, str, Any]:
    body: dict[str, Any] = {"ok": False, "error": error}
    if detail:
        body["response_metadata"] = {"messages": [f"[ERROR] {detail}"]}
    return 200, "application/json", body


class FakeSlack(FakeServer):
    def __init__(self, channels: dict[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.channels = channels or {"incidents": "C0INCIDENT"}  # name -> id
        self.clock = clock
        self.messages: list[dict[str, Any]] = []  # chat.postMessage calls that were accepted (channel as sent)
        self.updates: list[dict[str, Any]] = []  # chat.update calls that were accepted
        self.webhook_messages: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # accepted response_url posts, with their "path"
        self.refused: list[tuple[str, str]] = []  # (path, error) of every refusal, rate limits included
        self.webhook_status = 200
        self.limited, self.retry_after = 0, 1
        self._issued: dict[str, tuple[float, int]] = {}  # response_url path -> (issued at, uses)
        self._ts = 1764240000
        self.users = {"U0IAN", "U0BEA", "U0OLU", "U0SAM", "U0CAT", BOT_USER}  # the workspace's members
        self.rooms: dict[str, dict[str, Any]] = {  # every channel as a conversation object, by id
            cid: _conversation(cid, name, "U0SOMEONE", 1764200000) for name, cid in self.channels.items()}
        self.members: dict[str, set[str]] = {cid: {BOT_USER} for cid in self.rooms}
        self.calls: list[str] = []  # every Web API method called, in order (rate-limited answers included)

    # ------------------------------------------------------------------ controls and views

    def rate_limit(self, calls: int, retry_after: int) -> None:
        """The next `calls` posts (Web API or webhook) answer 429 with Retry-After: retry_after."""
        with self.lock:
            self.limited, self.retry_after = calls, retry_after

    def response_url(self, name: str = "1") -> str:
        """A response_url as a click carries it, issued now."""
        path = f"/actions/T0001/{name}/{len(self._issued) + 1}"
        self._issued[path] = (self.clock(), 0)
        return self.url + path

    def channel_id(self, channel: str) -> str | None:
        name = channel.removeprefix("#")
        return channel if channel in self.channels.values() else self.channels.get(name)

    def brief_messages(self) -> list[dict[str, Any]]:
        """chat.postMessage calls carrying a brief (a header block), not an approval request."""
        return [m for m in self.messages if m.get("blocks") and m["blocks"][0]["type"] == "header"]

    def approval_requests(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if any(b["type"] == "actions" for b in m.get("blocks") or [])]

    # ------------------------------------------------------------------ the HTTP side

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            answer = self._answer(method, path, headers, body)
            if answer[0] != 200 or (isinstance(answer[2], dict) and answer[2].get("ok") is False):
                self.refused.append((path, str(answer[2].get("error") if isinstance(answer[2], dict)
                                               else answer[2].decode())))
            return answer

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        if path.startswith("/actions/"):
            return self._respond(path, body)
        if path.startswith("/api/"):
            self.calls.append(path.removeprefix("/api/"))
        posting = path.startswith("/services/") or path == "/api/chat.postMessage"
        if posting and self.limited > 0:
            self.limited -= 1
            return 429, "application/json", {"ok": False, "error": "ratelimited"}, {
                "Retry-After": str(self.retry_after)}
        if path.startswith("/services/"):
            if self.webhook_status != 200:
                return self.webhook_status, "text/plain", b"internal_error"
            payload = json.loads(body)
            if block_problem(payload.get("blocks")) is not None:
                return 400, "text/plain", b"invalid_blocks"
            self.webhook_messages.append(payload)
            return 200, "text/plain", b"ok"
        if not path.startswith("/api/") or method != "POST":
            return 404, "application/json", {"ok": False, "error": "unknown_method"}
        if headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return _refusal("invalid_auth")
        args = _args(headers, body)
        conversations = {"/api/conversations.create": self._create, "/api/conversations.list": self._list,
                         "/api/conversations.invite": self._invite, "/api/conversations.archive": self._archive,
                         "/api/auth.test": lambda _: (200, "application/json", {
                             "ok": True, "user_id": BOT_USER, "user": "firebreak", "team_id": "T0001",
                             "bot_id": "B0FIREBREAK", "url": "https://example.slack.com/"})}
        if path in conversations:
            return conversations[path](args)
        if path == "/api/chat.postMessage":
            return self._post(args)
        if path == "/api/chat.update":
            return self._update(args)
        return 404, "application/json", {"ok": False, "error": "unknown_method"}

    def _post(self, args: dict[str, Any]) -> tuple[Any, ...]:
        channel = self.channel_id(str(args.get("channel") or ""))
        if channel is None:
            return _refusal("channel_not_found")
        if self.rooms.get(channel, {}).get("is_archived"):
            return _refusal("is_archived")
        if (problem := block_problem(args.get("blocks"))) is not None:
            return _refusal("invalid_blocks", problem)
        if not args.get("text") and not args.get("blocks"):
            return _refusal("no_text")
        self._ts += 1
        ts = f"{self._ts}.000100"
        self.messages.append({**args, "ts": ts, "channel_id": channel})
        return 200, "application/json", {"ok": True, "channel": channel, "ts": ts, "message": {
            "type": "message", "text": args.get("text"), "ts": ts, "blocks": args.get("blocks") or []}}

    def _update(self, args: dict[str, Any]) -> tuple[Any, ...]:
        channel = str(args.get("channel") or "")
        if channel not in self.channels.values():
            return _refusal("channel_not_found")
        if not any(m["ts"] == args.get("ts") and m["channel_id"] == channel for m in self.messages):
            return _refusal("message_not_found")
        if (problem := block_problem(args.get("blocks"))) is not None:
            return _refusal("invalid_blocks", problem)
        self.updates.append(args)
        return 200, "application/json", {"ok": True, "channel": channel, "ts": args["ts"], "text": args.get("text"),
                                         "message": {"text": args.get("text"), "blocks": args.get("blocks") or []}}

    # ------------------------------------------------------------------ conversations

    def _create(self, args: dict[str, Any]) -> tuple[Any, ...]:
        name = str(args.get("name") or "")
        if not name:
            return _refusal("invalid_name_required")
        if len(name) > 80:
            return _refusal("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            return _refusal("invalid_name_specials")
        if any(room["name"] == name for room in self.rooms.values()):
            return _refusal("name_taken")
        cid = f"C{len(self.rooms) + 1:08d}"
        self._ts += 1
        self.rooms[cid] = _conversation(cid, name, BOT_USER, self._ts, _true(args.get("is_private")))
        self.channels[name] = cid
        self.members[cid] = {BOT_USER}
        return 200, "application/json", {"ok": True, "channel": self.rooms[cid]}

    def _list(self, args: dict[str, Any]) -> tuple[Any, ...]:
        rooms = [r for r in self.rooms.values() if not (_true(args.get("exclude_archived")) and r["is_archived"])]
        start, limit = int(args.get("cursor") or 0), max(1, min(int(args.get("limit") or 100), 1000))
        page = rooms[start:start + limit]
        more = str(start + limit) if start + limit < len(rooms) else ""
        return 200, "application/json", {"ok": True, "channels": page, "response_metadata": {"next_cursor": more}}

    def _invite(self, args: dict[str, Any]) -> tuple[Any, ...]:
        cid = str(args.get("channel") or "")
        if cid not in self.rooms:
            return _refusal("channel_not_found")
        if self.rooms[cid]["is_archived"]:
            return _refusal("is_archived")
        users = [u for u in str(args.get("users") or "").split(",") if u]
        for user in users:
            if user not in self.users:
                return _refusal("user_not_found")
            if user == BOT_USER:
                return _refusal("cant_invite_self")
            if user in self.members[cid]:
                return _refusal("already_in_channel")
        self.members[cid].update(users)
        return 200, "application/json", {"ok": True, "channel": self.rooms[cid]}

    def _archive(self, args: dict[str, Any]) -> tuple[Any, ...]:
        cid = str(args.get("channel") or "")
        if cid not in self.rooms:
            return _refusal("channel_not_found")
        if self.rooms[cid]["is_archived"]:
            return _refusal("already_archived")
        self.rooms[cid]["is_archived"] = True
        return 200, "application/json", {"ok": True}

    def _respond(self, path: str, body: bytes) -> tuple[Any, ...]:
        issued = self._issued.get(path)
        if issued is None:
            return 404, "text/plain", b"no_such_url"
        at, uses = issued
        if uses >= RESPONSE_URL_USES or self.clock() - at > RESPONSE_URL_SECONDS:
            return 404, "text/plain", b"expired_url"
        payload = json.loads(body)
        if block_problem(payload.get("blocks")) is not None:
            return 400, "text/plain", b"invalid_blocks"
        self._issued[path] = (at, uses + 1)
        self.responses.append({**payload, "path": path})
        return 200, "application/json", {"ok": True}


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _conversation(cid: str, name: str, creator: str, created: int, private: bool = False) -> dict[str, Any]:
    """A conversation object as conversations.create and .list answer it (the fields Firebreak may read)."""
    return {"id": cid, "name": name, "name_normalized": name, "is_channel": not private, "is_group": private,
            "is_im": False, "is_mpim": False, "is_private": private, "created": created, "creator": creator,
            "is_archived": False, "is_general": False, "is_member": True, "previous_names": [],
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}}


def _args(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A Web API call's arguments: JSON, or form-encoded (blocks then a JSON string)."""
    if headers.get("Content-Type", "").startswith("application/json"):
        return dict(json.loads(body))
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    if isinstance(form.get("blocks"), str):
        form["blocks"] = json.loads(form["blocks"])
    return form
