"""A small Langfuse-compatible HTTP server on 127.0.0.1 for tests: the shapes langfuse 5.0.4 really calls, answered
as the server answers (read from langfuse/langfuse v4.16.0-30-g6275144614, commit 62751446149b; see
docs/langfuse-fidelity.md for what was checked and what was not).

- Basic auth on every /api/public call (401 otherwise).
- Prompts: GET/POST /api/public/v2/prompts, GET /api/public/v2/prompts/{percent-encoded name}[?version|?label]
  (no query means label "production"), PATCH .../versions/{v} with {"newLabels": [...]}, which adds the labels
  to that version and removes them from every other version, like the real handler
  (web/src/features/prompts/server/handlers/promptVersionHandler.ts). "latest" stays on the newest version.
- Observations v2 and Scores v3: tests/fake_langfuse_reads.py (field groups, filters, environment, order).
- Metrics v2 (GET /api/public/v2/metrics?query=<json>): tests/fake_langfuse_metrics.py (`<aggregation>_<measure>`
  columns, `time_dimension`, filled buckets, row limits, 64-bit integers quoted or not by ClickHouse version).
- Datasets: GET /api/public/v2/datasets/{percent-encoded name}, GET /api/public/dataset-items?datasetName=&page=
  &limit=[&version=<iso>]. Every item keeps its history: with `version`, an item created after it is left out and
  the others come as they were then (status ACTIVE/ARCHIVED, input...); without, as they are now. Page meta
  {page, limit, totalItems, totalPages}; `mediaReferences` always present (the SDK requires it).
- Health and projects. Every request is recorded in `requests`, every answer in `responses`.

Set `ignore_label_moves = True` to have PATCH answer 200 without moving anything (a server that lies).
`lose_create_answers = N` stores the next N prompt creations but answers them 500 (an answer lost on the
way). `fail_cursor_pages = n` answers 503 to the next n requests that carry a cursor (a page failing
mid-pagination); `fail_paths[path] = n` answers 503 to the next n requests to that path; `fail_item_pages` holds
dataset-item page numbers answered 503 (a dataset failing after its first page). `rename_metric_columns` renames
Metrics v2 columns in answers (a server naming them otherwise); `metric_row_cap` answers at most that many metric
rows whatever `row_limit` asks (a deployment or proxy cutting answers shorter); `quote_64bit_integers = True`
answers counts and token sums as JSON strings, as Langfuse on ClickHouse before 25.8 does.
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

from tests import fake_langfuse_metrics as metrics
from tests import fake_langfuse_reads as reads
from tests.fake_langfuse_metrics import parse_time as _parse_time
from tests.support import serving

PROJECT = "proj-1"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _observation(*, trace_id: str, start: datetime, end: datetime | None, type: str, name: str, root: bool,
                 environment: str, trace_name: str, tags: list[str] | None, **fields: Any) -> dict[str, Any]:
    """An observation as the events table holds it, under the v2 API's wire names (tests/fake_langfuse_reads.py
    picks the field groups asked for)."""
    return {"id": uuid.uuid4().hex[:16], "traceId": trace_id, "startTime": iso(start),
            "endTime": iso(end) if end else None, "projectId": PROJECT,
            "parentObservationId": None if root else "parent", "type": type, "name": name, "level": "DEFAULT",
            "statusMessage": None, "version": None, "environment": environment, "bookmarked": False,
            "public": False, "userId": None, "sessionId": None, "isRootObservation": root,
            "completionStartTime": None, "createdAt": iso(start), "updatedAt": iso(end or start), "input": None,
            "output": None, "metadata": {}, "model": None, "internalModelId": None, "modelParameters": None,
            "usageDetails": {}, "costDetails": {}, "usagePricingTierId": None, "usagePricingTierName": None,
            "promptId": None, "promptName": None, "promptVersion": None, "tags": tags or [], "release": None,
            "traceName": trace_name, **fields}


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
        self.responses: list[dict[str, Any]] = []  # {"method", "path", "query", "status", "body"}
        self.rename_metric_columns: dict[str, str] = {}
        self.metric_row_cap: int | None = None
        self.quote_64bit_integers = False
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
        obs = _observation(trace_id=trace_id, start=start, end=start, type="GENERATION", name=name, root=root,
                           environment=environment, trace_name=name, tags=tags, userId=user_id,
                           sessionId=session_id, input=input, output=output)
        self.observations.append(obs)
        return obs

    def add_span(self, *, trace_id: str, start: datetime, type: str = "GENERATION", name: str = "llm",
                 trace_name: str = "support-answer", latency_ms: float = 0.0, cost: float = 0.0, tokens: int = 0,
                 model: str | None = None, root: bool = False, environment: str = "production",
                 tags: list[str] | None = None, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """An observation with the fields metrics and loop scans read: type, end time (start + latency), model
        (provided_model_name), cost and token details split half input, half output, with their totals, and
        metadata (string values, as the events table keeps them)."""
        obs = _observation(trace_id=trace_id, start=start, end=start + timedelta(milliseconds=latency_ms),
                           type=type, name=name, root=root, environment=environment, trace_name=trace_name,
                           tags=tags, model=model, metadata=metadata or {},
                           usageDetails={"input": tokens // 2, "output": tokens - tokens // 2, "total": tokens},
                           costDetails={"input": cost / 2, "output": cost / 2, "total": cost})
        self.observations.append(obs)
        return obs

    def add_score(self, *, name: str, value: float, when: datetime, trace_id: str, comment: str | None = None,
                  environment: str = "production") -> dict[str, Any]:
        score = {"id": uuid.uuid4().hex[:16], "projectId": PROJECT, "name": name, "value": value,
                 "dataType": "NUMERIC", "source": "EVAL", "timestamp": iso(when), "environment": environment,
                 "createdAt": iso(when), "updatedAt": iso(when), "comment": comment, "configId": None,
                 "metadata": {}, "authorUserId": None, "queueId": None,
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

    # ------------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: Any) -> None:
                parts = urlsplit(self.path)
                fake.responses.append({"method": self.command, "path": parts.path,
                                       "query": {k: v[-1] for k, v in parse_qs(parts.query).items()},
                                       "status": status, "body": payload})
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
                repeated = parse_qs(parts.query)
                query = {k: v[-1] for k, v in repeated.items()}
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
                        status, payload = fake._route(self.command, segments, query, raw, repeated)
                except (KeyError, ValueError) as err:
                    status, payload = 400, {"message": f"bad request: {err}"}
                self._reply(status, payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _route(self, method: str, seg: list[str], query: dict[str, str], raw: bytes,
               repeated: dict[str, list[str]]) -> tuple[int, Any]:
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
            return reads.observations(self.observations, query, repeated)
        if method == "GET" and rest == ["v3", "scores"]:
            return reads.scores(self.scores, query)
        if method == "GET" and rest[:2] == ["v2", "datasets"] and len(rest) == 3:
            found = self.datasets.get(rest[2])
            return (200, found) if found else (404, {"message": f"Dataset not found: {rest[2]}"})
        if method == "GET" and rest == ["dataset-items"]:
            return self._dataset_items(query)
        if method == "GET" and rest == ["v2", "metrics"]:
            return self._metrics(query)
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

    def _metrics(self, query: dict[str, str]) -> tuple[int, Any]:
        try:
            parsed = json.loads(query["query"])
        except (KeyError, ValueError):
            return 400, {"message": "Invalid JSON in query parameter"}
        try:
            rows = metrics.answer(self.observations, parsed, self.rename_metric_columns, self.quote_64bit_integers)
        except metrics.BadQuery as err:
            return 400, {"message": str(err)}
        return 200, {"data": rows if self.metric_row_cap is None else rows[:self.metric_row_cap]}


@contextmanager
def fake_langfuse(monkeypatch: pytest.MonkeyPatch | None = None) -> Iterator[FakeLangfuse]:
    """A fake Langfuse on 127.0.0.1; with `monkeypatch`, its URL and keys are also put in the environment, where
    the worker's Langfuse clients read them."""
    with serving(FakeLangfuse(), poll_interval=0.05) as fake:
        if monkeypatch is not None:
            for name, value in fake.env().items():
                monkeypatch.setenv(name, value)
        yield fake
