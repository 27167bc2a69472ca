"""A small Langfuse-compatible HTTP server on 127.0.0.1 for tests: the shapes langfuse 5.0.4 really calls.

- Basic auth on every /api/public call (401 otherwise).
- Prompts: GET/POST /api/public/v2/prompts, GET /api/public/v2/prompts/{percent-encoded name}[?version|?label]
  (no query means label "production"), PATCH .../versions/{v} with {"newLabels": [...]}, which adds the labels
  to that version and removes them from every other version, like the real handler. "latest" stays on the
  newest version.
- Observations v2 (GET /api/public/v2/observations): the JSON `filter` (startTime, isRootObservation,
  traceName, tags, environment) takes precedence over query parameters; field groups; base64 cursors.
- Scores v3 (GET /api/public/v3/scores): name list, timestamps, limit <= 100, cursors, `meta.limit` always.
- Metrics v2 (GET /api/public/v2/metrics?query=<json>): view observations; measures count, latency (ms),
  totalCost / inputCost / outputCost, totalTokens / inputTokens / outputTokens; aggregations sum, avg, count, min,
  max, pNN; filters like observations'; `timeDimension` buckets rows (key `time_dimension`) by minute, hour or day.
  Rows are named `<measure>_<aggregation>`; an empty selection gives no rows.
- Datasets: GET /api/public/v2/datasets/{percent-encoded name}, GET /api/public/dataset-items?datasetName=&page=
  &limit=[&version=<iso>]. Every item keeps its history: with `version`, an item created after it is left out and
  the others come as they were then (status ACTIVE/ARCHIVED, input...); without, as they are now. Page meta
  {page, limit, totalItems, totalPages}; `mediaReferences` always present (the SDK requires it).
- Health and projects. Every request is recorded in `requests`.

Set `ignore_label_moves = True` to have PATCH answer 200 without moving anything (a server that lies).
`lose_create_answers = N` stores the next N prompt creations but answers them 500 (an answer lost on the
way). `fail_cursor_pages = n` answers 503 to the next n requests that carry a cursor (a page failing
mid-pagination); `fail_paths[path] = n` answers 503 to the next n requests to that path; `fail_item_pages` holds
dataset-item page numbers answered 503 (a dataset failing after its first page).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.support import serving

PROJECT = "proj-1"
_GROUPS = {
    "basic": {"name", "level", "statusMessage", "version", "environment", "bookmarked", "public", "userId",
              "sessionId", "isRootObservation"},
    "time": {"completionStartTime", "createdAt", "updatedAt"},
    "io": {"input", "output"},
    "metadata": {"metadata"},
    "trace_context": {"tags", "release", "traceName"},
    "usage": {"usageDetails", "costDetails", "totalCost"},
    "model": {"providedModelName"},
    "metrics": {"latency"},
}
_MEASURES = {"latency", "totalCost", "inputCost", "outputCost", "totalTokens", "inputTokens", "outputTokens",
             "count"}
_GRANULARITY = {"minute": 60, "hour": 3600, "day": 86400}
_CORE = {"id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"}


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeLangfuse:
    def __init__(self) -> None:
        # Unique keys per server: the SDK keeps one client per public key per process.
        self.public_key = f"pk-lf-{uuid.uuid4().hex}"
        self.secret_key = f"sk-lf-{uuid.uuid4().hex}"
        self.prompts: dict[str, list[dict[str, Any]]] = {}
        self.observations: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_items: dict[str, list[list[dict[str, Any]]]] = {}  # dataset -> items -> versions, oldest first
        self.requests: list[dict[str, Any]] = []
        self.ignore_label_moves = False
        self.lose_create_answers = 0
        self.fail_cursor_pages = 0
        self.fail_paths: dict[str, int] = {}
        self.fail_item_pages: set[int] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {"LANGFUSE_PUBLIC_KEY": self.public_key, "LANGFUSE_SECRET_KEY": self.secret_key}

    # ------------------------------------------------------------------ seeding and reading state

    def add_prompt(self, name: str, text: str, labels: list[str] | None = None, commit_message: str | None = None,
                   config: dict[str, Any] | None = None) -> int:
        with self.lock:
            versions = self.prompts.setdefault(name, [])
            new: dict[str, Any] = {"type": "text", "name": name, "version": len(versions) + 1, "prompt": text,
                                   "config": config or {}, "labels": [], "tags": [], "commitMessage": commit_message}
            versions.append(new)
            self._set_labels(name, new["version"], [*(labels or []), "latest"])
            return int(new["version"])

    def label_versions(self, name: str, label: str) -> list[int]:
        """Every version of `name` carrying `label` (the label-uniqueness rule says at most one)."""
        return [int(p["version"]) for p in self.prompts.get(name, []) if label in p["labels"]]

    def add_observation(self, *, trace_id: str, start: datetime, name: str = "support-answer",
                        user_id: str | None = None, session_id: str | None = None, tags: list[str] | None = None,
                        input: str | None = None, output: str | None = None, root: bool = True,
                        environment: str = "production") -> dict[str, Any]:
        obs = {"id": uuid.uuid4().hex[:16], "traceId": trace_id, "startTime": iso(start), "endTime": iso(start),
               "projectId": PROJECT, "parentObservationId": None if root else "parent", "type": "GENERATION",
               "name": name, "level": "DEFAULT", "environment": environment, "userId": user_id,
               "sessionId": session_id, "isRootObservation": root, "input": input, "output": output,
               "tags": tags or [], "traceName": name, "release": None}
        self.observations.append(obs)
        return obs

    def add_span(self, *, trace_id: str, start: datetime, type: str = "GENERATION", name: str = "llm",
                 trace_name: str = "support-answer", latency_ms: float = 0.0, cost: float = 0.0, tokens: int = 0,
                 model: str | None = None, root: bool = False, environment: str = "production",
                 tags: list[str] | None = None) -> dict[str, Any]:
        """An observation with the fields metrics and loop scans read: type, latency (seconds, as v2 sends it),
        cost and tokens (inputCost/outputCost and inputTokens/outputTokens split the totals in half)."""
        end = start + timedelta(milliseconds=latency_ms)
        obs = {"id": uuid.uuid4().hex[:16], "traceId": trace_id, "startTime": iso(start), "endTime": iso(end),
               "projectId": PROJECT, "parentObservationId": None if root else "parent", "type": type,
               "name": name, "level": "DEFAULT", "environment": environment, "userId": None, "sessionId": None,
               "isRootObservation": root, "input": None, "output": None, "tags": tags or [],
               "traceName": trace_name, "release": None, "latency": latency_ms / 1000, "totalCost": cost,
               "providedModelName": model, "usageDetails": {"input": tokens // 2, "output": tokens - tokens // 2,
                                                            "total": tokens},
               "costDetails": {"input": cost / 2, "output": cost / 2, "total": cost}}
        self.observations.append(obs)
        return obs

    def add_score(self, *, name: str, value: float, when: datetime, trace_id: str,
                  comment: str | None = None) -> dict[str, Any]:
        score = {"id": uuid.uuid4().hex[:16], "projectId": PROJECT, "name": name, "value": value,
                 "dataType": "NUMERIC", "source": "EVAL", "timestamp": iso(when), "environment": "production",
                 "createdAt": iso(when), "updatedAt": iso(when), "comment": comment,
                 "subject": {"kind": "trace", "id": trace_id}}
        self.scores.append(score)
        return score

    def add_dataset(self, name: str, created: datetime) -> None:
        self.datasets[name] = {"id": uuid.uuid4().hex[:16], "name": name, "description": None, "metadata": None,
                               "projectId": PROJECT, "createdAt": iso(created), "updatedAt": iso(created)}
        self.dataset_items.setdefault(name, [])

    def add_dataset_item(self, dataset: str, *, at: datetime, input: Any, expected_output: Any = None,
                         metadata: Any = None, item_id: str | None = None) -> str:
        item = {"id": item_id or uuid.uuid4().hex[:16], "status": "ACTIVE", "input": input,
                "expectedOutput": expected_output, "metadata": metadata, "datasetId": self.datasets[dataset]["id"],
                "datasetName": dataset, "createdAt": iso(at), "updatedAt": iso(at), "version": iso(at),
                "mediaReferences": []}
        self.dataset_items[dataset].append([item])
        return str(item["id"])

    def update_dataset_item(self, dataset: str, item_id: str, *, at: datetime, **changes: Any) -> None:
        """A new version of the item from `at` (e.g. status="ARCHIVED", input=...)."""
        history = next(h for h in self.dataset_items[dataset] if h[0]["id"] == item_id)
        history.append({**history[-1], **changes, "updatedAt": iso(at), "version": iso(at)})

    # ------------------------------------------------------------------ semantics

    def _set_labels(self, name: str, version: int, new_labels: list[str]) -> None:
        for p in self.prompts[name]:
            if p["version"] == version:
                p["labels"] = sorted(set(p["labels"]) | set(new_labels))
            else:
                p["labels"] = [lb for lb in p["labels"] if lb not in new_labels]

    def _find_prompt(self, name: str, version: int | None, label: str | None) -> dict[str, Any] | None:
        for p in self.prompts.get(name, []):
            if (version is not None and p["version"] == version) or (
                    version is None and (label or "production") in p["labels"]):
                return p
        return None

    @staticmethod
    def _matches(obs: dict[str, Any], cond: dict[str, Any]) -> bool:
        column, op, value = cond["column"], cond["operator"], cond.get("value")
        column = "tags" if column == "traceTags" else column
        have = obs.get(column)
        if cond["type"] == "datetime":
            left, right = _parse_time(str(have)), _parse_time(str(value))
            return {">=": left >= right, ">": left > right, "<": left < right, "<=": left <= right}[op]
        if cond["type"] == "boolean":
            return bool(have) == bool(value) if op == "=" else bool(have) != bool(value)
        if cond["type"] in ("stringOptions", "categoryOptions"):
            return (have in (value or [])) == (op == "any of")
        if cond["type"] == "arrayOptions":
            overlap = set(have or []) & set(value or [])
            return {"any of": bool(overlap), "none of": not overlap,
                    "all of": set(value or []) <= set(have or [])}[op]
        if op == "=":
            return bool(have == value)
        raise ValueError(f"the fake does not support {cond}")

    # ------------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests.append({"method": self.command, "path": parts.path, "query": query,
                                      "body": json.loads(raw) if raw else None})
                expected = "Basic " + base64.b64encode(f"{fake.public_key}:{fake.secret_key}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._reply(401, {"message": "Invalid credentials"})
                # Split the raw path before decoding: a prompt name may hold an encoded "/".
                segments = [unquote(s) for s in parts.path.split("/")[1:]]
                failing = fake.fail_paths.get(parts.path, 0)
                if failing:
                    fake.fail_paths[parts.path] = failing - 1
                    return self._reply(503, {"message": "the fake is failing this path on purpose"})
                if parts.path == "/api/public/dataset-items" and int(query.get("page", 1)) in fake.fail_item_pages:
                    return self._reply(503, {"message": "the fake is failing a dataset page on purpose"})
                if fake.fail_cursor_pages and query.get("cursor"):
                    fake.fail_cursor_pages -= 1
                    return self._reply(503, {"message": "the fake is failing a page on purpose"})
                try:
                    with fake.lock:
                        status, payload = fake._route(self.command, segments, query, raw)
                except (KeyError, ValueError) as err:
                    status, payload = 400, {"message": f"bad request: {err}"}
                self._reply(status, payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _route(self, method: str, seg: list[str], query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if seg[:2] != ["api", "public"]:
            return 404, {"message": "not found"}
        rest = seg[2:]
        if method == "GET" and rest == ["health"]:
            return 200, {"status": "OK", "version": "4.59.0"}
        if method == "GET" and rest == ["projects"]:
            return 200, {"data": [{"id": PROJECT, "name": "demo", "organization": {"id": "org-1", "name": "org"},
                                   "metadata": {}}]}
        if rest[:2] == ["v2", "prompts"]:
            return self._prompts(method, rest[2:], query, raw)
        if method == "GET" and rest == ["v2", "observations"]:
            return self._observations(query)
        if method == "GET" and rest == ["v3", "scores"]:
            return self._scores(query)
        if method == "GET" and rest[:2] == ["v2", "datasets"] and len(rest) == 3:
            found = self.datasets.get(rest[2])
            return (200, found) if found else (404, {"message": f"Dataset not found: {rest[2]}"})
        if method == "GET" and rest == ["dataset-items"]:
            return self._dataset_items(query)
        if method == "GET" and rest == ["v2", "metrics"]:
            return self._metrics(json.loads(query["query"]))
        return 404, {"message": f"the fake has no {method} /{'/'.join(seg)}"}

    def _prompts(self, method: str, rest: list[str], query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if method == "GET" and not rest:
            data = [{"name": n, "type": "text", "versions": [p["version"] for p in vs],
                     "labels": sorted({lb for p in vs for lb in p["labels"]}), "tags": [],
                     "lastUpdatedAt": iso(datetime.now(UTC)), "lastConfig": {}} for n, vs in self.prompts.items()]
            return 200, {"data": data, "meta": {"page": 1, "limit": 50, "totalItems": len(data), "totalPages": 1}}
        if method == "POST" and not rest:
            body = json.loads(raw)
            versions = self.prompts.setdefault(body["name"], [])
            new = {"type": body.get("type", "text"), "name": body["name"], "version": len(versions) + 1,
                   "prompt": body["prompt"], "config": body.get("config") or {}, "labels": [],
                   "tags": body.get("tags") or [], "commitMessage": body.get("commitMessage")}
            versions.append(new)
            self._set_labels(body["name"], new["version"], [*body.get("labels", []), "latest"])
            if self.lose_create_answers > 0:
                self.lose_create_answers -= 1
                return 500, {"message": "internal error (the version was stored)"}
            return 200, new
        if method == "GET" and len(rest) == 1:
            if "version" in query and "label" in query:
                return 400, {"message": "give version or label, not both"}
            version = int(query["version"]) if "version" in query else None
            found = self._find_prompt(rest[0], version, query.get("label"))
            if found is None:
                return 404, {"message": f"Prompt not found: {rest[0]}"}
            return 200, found
        if method == "PATCH" and len(rest) == 3 and rest[1] == "versions":
            name, version = rest[0], int(rest[2])
            found = self._find_prompt(name, version, None)
            if found is None:
                return 404, {"message": f"Prompt version not found: {name} v{version}"}
            labels = json.loads(raw)["newLabels"]
            if "latest" in labels:
                return 400, {"message": "the 'latest' label is reserved"}
            if not self.ignore_label_moves:
                self._set_labels(name, version, labels)
            return 200, found
        return 404, {"message": "not found"}

    def _observations(self, query: dict[str, str]) -> tuple[int, Any]:
        limit = int(query.get("limit", 50))
        if limit > 1000:
            return 400, {"message": "limit must be at most 1000"}
        if query.get("parseIoAsJson") == "true":
            return 400, {"message": "parseIoAsJson is deprecated"}
        if "filter" in query:
            conditions = json.loads(query["filter"])
            rows = [o for o in self.observations if all(self._matches(o, c) for c in conditions)]
        else:
            since, until = query.get("fromStartTime"), query.get("toStartTime")
            rows = [o for o in self.observations
                    if (since is None or _parse_time(o["startTime"]) >= _parse_time(since))
                    and (until is None or _parse_time(o["startTime"]) < _parse_time(until))
                    and ("isRootObservation" not in query
                         or o["isRootObservation"] == (query["isRootObservation"] == "true"))]
        groups = set((query.get("fields") or "core,basic").split(","))
        keep = set(_CORE)
        for group in groups:
            keep |= _GROUPS.get(group, set())
        start = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        page = [{k: v for k, v in o.items() if k in keep} for o in rows[start:start + limit]]
        meta: dict[str, Any] = {}
        if start + limit < len(rows):
            meta["cursor"] = base64.b64encode(str(start + limit).encode()).decode()
        return 200, {"data": page, "meta": meta}

    def _scores(self, query: dict[str, str]) -> tuple[int, Any]:
        limit = int(query.get("limit", 50))
        if limit > 100:
            return 400, {"message": "limit must be at most 100"}
        names = set(query["name"].split(",")) if query.get("name") else None
        rows = [s for s in self.scores
                if (names is None or s["name"] in names)
                and ("fromTimestamp" not in query or _parse_time(s["timestamp"]) >= _parse_time(query["fromTimestamp"]))
                and ("toTimestamp" not in query or _parse_time(s["timestamp"]) < _parse_time(query["toTimestamp"]))
                and ("dataType" not in query or s["dataType"] == query["dataType"])
                and ("valueMin" not in query or s["value"] >= float(query["valueMin"]))]
        if "valueMin" in query and query.get("dataType") != "NUMERIC":
            return 400, {"message": "valueMin needs dataType=NUMERIC"}
        fields = set((query.get("fields") or "").split(","))
        start = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        page = []
        for s in rows[start:start + limit]:
            row = {k: v for k, v in s.items() if k not in ("comment", "subject")}
            if "details" in fields:
                row["comment"] = s["comment"]
            if "subject" in fields:
                row["subject"] = s["subject"]
            page.append(row)
        meta: dict[str, Any] = {"limit": limit}
        if start + limit < len(rows):
            meta["cursor"] = base64.b64encode(str(start + limit).encode()).decode()
        return 200, {"data": page, "meta": meta}

    def _dataset_items(self, query: dict[str, str]) -> tuple[int, Any]:
        name = query.get("datasetName")
        if "version" in query and not name:
            return 400, {"message": "version needs datasetName"}
        if name not in self.datasets:
            return 404, {"message": f"Dataset not found: {name}"}
        as_of = _parse_time(query["version"]) if "version" in query else None
        rows = []
        for history in self.dataset_items[str(name)]:
            current = [v for v in history if as_of is None or _parse_time(v["version"]) <= as_of]
            if current:
                rows.append(current[-1])
        page, limit = int(query.get("page", 1)), int(query.get("limit", 50))
        start = (page - 1) * limit
        return 200, {"data": rows[start:start + limit],
                     "meta": {"page": page, "limit": limit, "totalItems": len(rows),
                              "totalPages": max(1, math.ceil(len(rows) / limit))}}

    @staticmethod
    def _measure(obs: dict[str, Any], measure: str) -> float | None:
        usage, costs = obs.get("usageDetails") or {}, obs.get("costDetails") or {}
        return {"latency": None if obs.get("latency") is None else float(obs["latency"]) * 1000,
                "totalCost": obs.get("totalCost"), "inputCost": costs.get("input"), "outputCost": costs.get("output"),
                "totalTokens": usage.get("total"), "inputTokens": usage.get("input"),
                "outputTokens": usage.get("output"), "count": 1}[measure]

    @staticmethod
    def _aggregate(values: list[float], aggregation: str) -> float:
        if aggregation == "count":
            return len(values)
        if aggregation == "sum":
            return sum(values)
        if aggregation == "avg":
            return sum(values) / len(values)
        if aggregation in ("min", "max"):
            return min(values) if aggregation == "min" else max(values)
        ranked = sorted(values)  # pNN, nearest rank
        return ranked[max(0, math.ceil(int(aggregation[1:]) / 100 * len(ranked)) - 1)]

    def _metrics(self, query: dict[str, Any]) -> tuple[int, Any]:
        missing = [k for k in ("view", "metrics", "fromTimestamp", "toTimestamp") if k not in query]
        if missing:
            return 400, {"message": f"missing {missing}"}
        if query["view"] != "observations":
            return 400, {"message": "the fake has only the observations view"}
        since, until = _parse_time(query["fromTimestamp"]), _parse_time(query["toTimestamp"])
        rows = [o for o in self.observations if since <= _parse_time(o["startTime"]) < until
                and all(self._matches(o, c) for c in query.get("filters", []))]
        buckets: dict[str, list[dict[str, Any]]] = {}
        step = _GRANULARITY.get((query.get("timeDimension") or {}).get("granularity", ""), 0)
        if query.get("timeDimension") and not step:
            return 400, {"message": "the fake buckets by minute, hour or day"}
        for o in rows:
            at = _parse_time(o["startTime"])
            key = iso(datetime.fromtimestamp(int(at.timestamp()) // step * step, UTC)) if step else ""
            buckets.setdefault(key, []).append(o)
        out = []
        for key, group in sorted(buckets.items()):
            row: dict[str, Any] = {"time_dimension": key} if step else {}
            for metric in query["metrics"]:
                measure, aggregation = metric["measure"], metric["aggregation"]
                if measure not in _MEASURES:
                    return 400, {"message": f"unknown measure {measure}"}
                values = [v for v in (self._measure(o, measure) for o in group) if v is not None]
                row[f"{measure}_{aggregation}"] = self._aggregate(values, aggregation) if values else None
            out.append(row)
        return 200, {"data": out}


@contextmanager
def fake_langfuse(monkeypatch: pytest.MonkeyPatch | None = None) -> Iterator[FakeLangfuse]:
    """A fake Langfuse on 127.0.0.1; with `monkeypatch`, its URL and keys are also put in the environment, where
    the worker's Langfuse clients read them."""
    with serving(FakeLangfuse(), poll_interval=0.05) as fake:
        if monkeypatch is not None:
            for name, value in fake.env().items():
                monkeypatch.setenv(name, value)
        yield fake
