"""A fake GitHub REST API on 127.0.0.1 for one repository's issues, in the shapes of GitHub's OpenAPI description
(github/rest-api-description, descriptions/api.github.com: operations issues/list-for-repo, issues/create,
issues/get, issues/update, issues/list-comments, issues/create-comment; schemas issue, issue-comment, label,
simple-user). tests/test_tickets_github.py parses its answers with githubkit's models generated from that file.

- `Authorization: Bearer <token>` (or `token <token>`); a bad one is 401 `{"message": "Bad credentials", ...}`;
- list endpoints page with `per_page`/`page` and a `Link` header (rel="next"/"last"), as "Using pagination in the
  REST API" describes;
- rate limits as "Rate limits for the REST API" describes: a secondary limit answers 403 with `retry-after`
  (seconds) and a message saying so; a primary one 403/429 with `x-ratelimit-remaining: 0` and
  `x-ratelimit-reset`;
- labels named on an issue that the repository lacks are created (the documented behaviour for users with push).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import FakeServer

TOKEN = "github_pat_test"
NOW = "2026-11-30T04:00:00Z"


def _user(login: str = "firebreak-bot", uid: int = 1) -> dict[str, Any]:
    base = f"https://api.github.com/users/{login}"
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": "https://avatars.example/u",
            "gravatar_id": "", "url": base, "html_url": f"https://github.com/{login}",
            "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events", "type": "User", "site_admin": False}


class FakeGitHub(FakeServer):
    def __init__(self, repository: str = "acme/incidents") -> None:
        super().__init__()
        self.repository, self.token = repository, TOKEN
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.secondary_limit_next = 0
        self.retry_after = 1
        self.stall_after_create = 0.0

    @property
    def api(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.calls.append((method, url.path))
            if self.secondary_limit_next > 0:
                self.secondary_limit_next -= 1
                return (403, "application/json", {
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                               "again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for"
                               "-the-rest-api#about-secondary-rate-limits", "status": "403"},
                        {"retry-after": str(self.retry_after)})
            auth = headers.get("Authorization", "")
            if auth not in (f"Bearer {self.token}", f"token {self.token}"):
                return 401, "application/json", {"message": "Bad credentials",
                                                 "documentation_url": "https://docs.github.com/rest", "status": "401"}
            answer = self._route(method, url.path, query, json.loads(body) if body else {})
        if method == "POST" and answer[0] == 201 and url.path.endswith("/issues") and self.stall_after_create:
            stall, self.stall_after_create = self.stall_after_create, 0.0
            time.sleep(stall)
        return answer

    def _route(self, method: str, path: str, query: dict[str, str], data: dict[str, Any]) -> tuple[Any, ...]:
        prefix = f"/repos/{self.repository}/issues"
        if not path.startswith(prefix):
            return 404, "application/json", {"message": "Not Found", "status": "404"}
        rest = path[len(prefix):]
        if rest == "" and method == "GET":
            wanted = [x for x in query.get("labels", "").split(",") if x]
            state = query.get("state", "open")
            found = [i for i in self.issues.values() if all(w in i["label_names"] for w in wanted)
                     and (state == "all" or i["state"] == state)]
            if query.get("direction", "desc") == "desc":
                found.reverse()
            return self._page(path, query, [self._json(i) for i in found])
        if rest == "" and method == "POST":
            if not data.get("title"):
                return 422, "application/json", {"message": "Validation Failed", "status": "422",
                                                 "errors": [{"resource": "Issue", "code": "missing_field",
                                                             "field": "title"}]}
            n = len(self.issues) + 1
            self.issues[n] = {"number": n, "title": data["title"], "body": data.get("body"), "state": "open",
                              "state_reason": None, "label_names": list(dict.fromkeys(data.get("labels", [])))}
            self.comments[n] = []
            return 201, "application/json", self._json(self.issues[n])
        m = re.fullmatch(r"/(\d+)(/comments)?", rest)
        if not m or int(m.group(1)) not in self.issues:
            return 404, "application/json", {"message": "Not Found", "status": "404"}
        issue = self.issues[int(m.group(1))]
        if m.group(2):
            return self._comments(method, path, query, issue, data)
        if method == "PATCH":
            if "labels" in data:
                issue["label_names"] = list(dict.fromkeys(data["labels"]))
            if data.get("state") in ("open", "closed"):
                issue["state"], issue["state_reason"] = data["state"], data.get("state_reason")
        return 200, "application/json", self._json(issue)

    def _comments(self, method: str, path: str, query: dict[str, str], issue: dict[str, Any],
                  data: dict[str, Any]) -> tuple[Any, ...]:
        n = issue["number"]
        if method == "POST":
            cid = 900 + sum(len(c) for c in self.comments.values())
            comment = {"id": cid, "node_id": f"IC_{cid}", "url": f"{self.api}/issues/comments/{cid}",
                       "html_url": f"https://github.com/{self.repository}/issues/{n}#issuecomment-{cid}",
                       "body": data.get("body", ""), "user": _user(), "created_at": NOW, "updated_at": NOW,
                       "issue_url": f"{self.api}/issues/{n}", "author_association": "MEMBER"}
            self.comments[n].append(comment)
            return 201, "application/json", comment
        return self._page(path, query, self.comments[n])

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[Any, ...]:
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = [f'<{self.url}{path}?per_page={per_page}&page={p}>; rel="{rel}"'
                 for rel, p in (("next", page + 1), ("last", last)) if page < last]
        return (200, "application/json", items[(page - 1) * per_page: page * per_page],
                {"Link": ", ".join(links)} if links else {})

    def _json(self, issue: dict[str, Any]) -> dict[str, Any]:
        n, api = issue["number"], f"{self.api}/issues/{issue['number']}"
        labels = [{"id": 100 + i, "node_id": f"LA_{i}", "url": f"{self.api}/labels/{name}", "name": name,
                   "description": None, "color": "ededed", "default": False}
                  for i, name in enumerate(issue["label_names"])]
        closed = issue["state"] == "closed"
        return {"id": 5000 + n, "node_id": f"I_{n}", "url": api, "repository_url": self.api,
                "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments",
                "events_url": f"{api}/events", "html_url": f"https://github.com/{self.repository}/issues/{n}",
                "number": n, "state": issue["state"], "state_reason": issue["state_reason"], "title": issue["title"],
                "body": issue["body"], "user": _user(), "labels": labels, "assignee": None, "assignees": [],
                "milestone": None, "locked": False, "active_lock_reason": None,
                "comments": len(self.comments.get(n, [])), "closed_at": NOW if closed else None,
                "closed_by": _user(issue.get("closer", "firebreak-bot")) if closed else None,
                "created_at": NOW, "updated_at": NOW, "author_association": "MEMBER"}

    def close(self, number: int) -> dict[str, Any]:
        """Someone closes the issue on github.com; the `issues` webhook payload GitHub would send."""
        with self.lock:
            self.issues[number]["state"], self.issues[number]["state_reason"] = "closed", "completed"
            self.issues[number]["closer"] = "dana"
            return {"action": "closed", "issue": self._json(self.issues[number]),
                    "repository": {"full_name": self.repository}, "sender": _user("dana", 7)}
