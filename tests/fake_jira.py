"""A fake Jira Cloud site on 127.0.0.1 speaking the shapes of the Jira Cloud platform REST API v3, as Atlassian's
OpenAPI description (developer.atlassian.com/cloud/jira/platform/swagger-v3.v3.json) and its reference pages
give them:

- basic auth `email:api_token`; a wrong or expired token is 401 with an ErrorCollection
  (`{"errorMessages": [...], "errors": {}}`), a missing project permission 403;
- `POST /rest/api/3/search/jql` (SearchAndReconsileRequestBean: jql, fields, maxResults, nextPageToken) answering
  SearchAndReconcileResults (`issues`, `nextPageToken` only when another page follows, `isLast`);
- `POST /rest/api/3/issue` (IssueUpdateDetails `fields`) answering 201 CreatedIssue (`id`, `key`, `self`), 400
  with `errors` {field: message} for an unknown priority, issue type or a label with a space;
- `GET /rest/api/3/issue/{key}` (fields status, issuelinks), `GET/POST .../comment` (PageOfComments: startAt,
  maxResults, total, comments; its `expand` takes only renderedBody), `POST /rest/api/3/comment/list` (ids; a
  PageBeanComment of `values`, where `expand=properties` adds each comment's properties), `GET/POST
  .../transitions` (204 on POST), `POST /rest/api/3/issueLink` (201, no body);
- rate limiting as Atlassian's "Rate limiting" guide has it: 429 with `Retry-After` (seconds).
The workflow is Jira's simplified one: To Do, In Progress, Done, every transition offered from every status.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import FakeServer

EMAIL, TOKEN = "oncall@example.com", "jira-test-token"
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
TRANSITIONS = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}
ISSUE_TYPES = {"Task", "Bug", "Incident"}


class FakeJira(FakeServer):
    def __init__(self, project: str = "OPS") -> None:
        super().__init__()
        self.project, self.token = project, TOKEN
        self.issues: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.rate_limit_next = 0  # answer this many more requests 429
        self.retry_after = 1
        self.stall_after_create = 0.0  # seconds to hold the answer after creating an issue (a lost attempt)

    def error(self, status: int, *messages: str, **errors: str) -> tuple[Any, ...]:
        return status, "application/json", {"errorMessages": list(messages), "errors": errors}

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.calls.append((method, url.path))
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return (*self.error(429, "Rate limit exceeded."), {"Retry-After": str(self.retry_after)})
            expected = "Basic " + base64.b64encode(f"{EMAIL}:{self.token}".encode()).decode()
            if headers.get("Authorization") != expected:
                return self.error(401, "Client must be authenticated to access this resource.")
            data = json.loads(body) if body else {}
            answer = self._route(method, url.path, query, data)
        if answer[0] == 201 and url.path == "/rest/api/3/issue" and self.stall_after_create:
            stall, self.stall_after_create = self.stall_after_create, 0.0
            time.sleep(stall)
        return answer

    def _route(self, method: str, path: str, query: dict[str, str], data: dict[str, Any]) -> tuple[Any, ...]:
        if (method, path) == ("POST", "/rest/api/3/search/jql"):
            return self._search(data)
        if (method, path) == ("POST", "/rest/api/3/issue"):
            return self._create(data.get("fields") or {})
        if (method, path) == ("POST", "/rest/api/3/comment/list"):
            wanted = {str(i) for i in data.get("ids", [])}
            if len(wanted) > 1000:
                return self.error(400, "A maximum of 1000 IDs can be specified.")
            found = [c if "properties" in query.get("expand", "") else
                     {k: v for k, v in c.items() if k != "properties"}
                     for i in self.issues.values() for c in i["comments"] if c["id"] in wanted]
            return 200, "application/json", {"startAt": 0, "maxResults": 1000, "total": len(found),
                                             "isLast": True, "values": found}
        if (method, path) == ("POST", "/rest/api/3/issueLink"):
            for side in ("inwardIssue", "outwardIssue"):
                if data[side]["key"] not in self.issues:
                    return self.error(404, f"Issue {data[side]['key']} does not exist.")
            self.links.append(data)
            return 201, "application/json", b""
        m = re.fullmatch(r"/rest/api/3/issue/([A-Z0-9_]+-\d+)(/comment|/transitions)?", path)
        if not m or m.group(1) not in self.issues:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        issue = self.issues[m.group(1)]
        if m.group(2) == "/comment":
            return self._comments(method, issue, query, data)
        if m.group(2) == "/transitions":
            return self._transitions(method, issue, data)
        if method == "GET":
            return 200, "application/json", self._issue_json(issue)
        return self.error(405, "Method not allowed")

    def _search(self, data: dict[str, Any]) -> tuple[Any, ...]:
        m = re.fullmatch(r'project = "(\w+)" AND labels = "([^"]+)" ORDER BY created ASC', data.get("jql", ""))
        if not m:
            return self.error(400, f"Unsupported JQL in this fake: {data.get('jql')}")
        found = [i for i in self.issues.values() if i["project"] == m.group(1) and m.group(2) in i["labels"]]
        limit = int(data.get("maxResults", 50))
        page = [{"id": i["id"], "key": i["key"], "self": i["self"], "fields": {"summary": i["summary"]}}
                for i in found[:limit]]
        more = len(found) > limit
        return 200, "application/json", {"issues": page, "isLast": not more,
                                         **({"nextPageToken": f"page-{limit}"} if more else {})}

    def _create(self, fields: dict[str, Any]) -> tuple[Any, ...]:
        if (fields.get("project") or {}).get("key") != self.project:
            return self.error(400, project="valid project is required")
        errors = {}
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "Specify a valid issue type"
        if "priority" in fields and fields["priority"].get("name") not in PRIORITIES:
            errors["priority"] = "Specify the Priority (name) in the string format"
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "The label can't contain spaces."
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            return self.error(400, **errors)
        n = len(self.issues) + 1
        key = f"{self.project}-{n}"
        self.issues[key] = {"id": str(10000 + n), "key": key, "self": f"{self.url}/rest/api/3/issue/{10000 + n}",
                            "project": self.project, "summary": fields["summary"], "labels": fields.get("labels", []),
                            "fields": fields, "status": "To Do", "comments": []}
        return 201, "application/json", {"id": str(10000 + n), "key": key, "self": self.issues[key]["self"]}

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        links = [{"id": str(i), "type": {"name": link["type"]["name"]},
                  **({"outwardIssue": {"key": link["outwardIssue"]["key"]}} if link["inwardIssue"]["key"] ==
                     issue["key"] else {"inwardIssue": {"key": link["inwardIssue"]["key"]}})}
                 for i, link in enumerate(self.links)
                 if issue["key"] in (link["inwardIssue"]["key"], link["outwardIssue"]["key"])]
        status = issue["status"]
        return {"id": issue["id"], "key": issue["key"], "self": issue["self"],
                "fields": {"summary": issue["summary"], "labels": issue["labels"], "issuelinks": links,
                           "status": {"name": status, "statusCategory": {"key": STATUSES[status]}}}}

    def _comments(self, method: str, issue: dict[str, Any], query: dict[str, str],
                  data: dict[str, Any]) -> tuple[Any, ...]:
        if method == "POST":
            comment = {"id": str(20000 + sum(len(i["comments"]) for i in self.issues.values())),
                       "body": data["body"], "properties": data.get("properties", [])}
            issue["comments"].append(comment)
            return 201, "application/json", {k: v for k, v in comment.items() if k != "properties"}
        start, size = int(query.get("startAt", 0)), min(int(query.get("maxResults", 50)), 100)
        page = [{k: v for k, v in c.items() if k != "properties"} for c in issue["comments"][start:start + size]]
        return 200, "application/json", {"startAt": start, "maxResults": size, "total": len(issue["comments"]),
                                         "comments": page}

    def _transitions(self, method: str, issue: dict[str, Any], data: dict[str, Any]) -> tuple[Any, ...]:
        if method == "GET":
            return 200, "application/json", {"transitions": [
                {"id": tid, "name": name, "to": {"name": name, "statusCategory": {"key": STATUSES[name]}}}
                for tid, name in TRANSITIONS]}
        wanted = (data.get("transition") or {}).get("id")
        target = next((name for tid, name in TRANSITIONS if tid == wanted), None)
        if target is None:
            return self.error(400, "Transition id is not valid for this issue.")
        issue["status"] = target
        return 204, "application/json", b""

    # ------------------------------------------------------------------ what tests read

    def texts(self, key: str) -> list[str]:
        """The comments' text, read back out of their Atlassian Document Format."""
        return ["\n".join(n["text"] for p in c["body"]["content"] for n in p["content"])
                for c in self.issues[key]["comments"]]
