"""Contract: every answer the fake Langfuse gives parses with the langfuse 5 SDK's own response models (what the
SDK itself does with an answer: langfuse.api.core.pydantic_utilities.parse_obj_as), and no answer carries a name
the SDK's model does not know, except the few the server adds beyond the SDK (cited below). Where the SDK types
rows loosely (Metrics v2 rows are Dict[str, Any]) tests/test_langfuse_fidelity.py pins the server's names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langfuse import Langfuse
from langfuse.api import (
    Dataset,
    GetScoresV3Response,
    HealthResponse,
    MetricsV2Response,
    ObservationsV2Response,
    PaginatedDatasetItems,
    Projects,
    Prompt,
    PromptMetaListResponse,
)
from langfuse.api.commons.types.dataset_item import DatasetItem
from langfuse.api.commons.types.observation_v2 import ObservationV2
from langfuse.api.core.pydantic_utilities import parse_obj_as
from langfuse.api.core.serialization import FieldMetadata
from langfuse.api.prompts.types.prompt import Prompt_Text
from langfuse.api.prompts.types.prompt_meta import PromptMeta
from langfuse.api.scores.types.score_v3 import ScoreV3_Numeric

from integrations.langfuse.client import client_for
from playbook.config import LangfuseConnection
from tests.fake_langfuse import FakeLangfuse, fake_langfuse, iso

NOW = datetime.now(UTC).replace(microsecond=0)
# route pattern -> the SDK model its answers parse with (the model the SDK's raw client names for that call)
ROUTES: dict[tuple[str, str], Any] = {
    ("GET", r"/api/public/health"): HealthResponse,
    ("GET", r"/api/public/projects"): Projects,
    ("GET", r"/api/public/v2/prompts"): PromptMetaListResponse,
    ("POST", r"/api/public/v2/prompts"): Prompt,
    ("GET", r"/api/public/v2/prompts/[^/]+"): Prompt,
    ("PATCH", r"/api/public/v2/prompts/[^/]+/versions/\d+"): Prompt,
    ("GET", r"/api/public/v2/observations"): ObservationsV2Response,
    ("GET", r"/api/public/v3/scores"): GetScoresV3Response,
    ("GET", r"/api/public/v2/datasets/[^/]+"): Dataset,
    ("GET", r"/api/public/dataset-items"): PaginatedDatasetItems,
    ("GET", r"/api/public/v2/metrics"): MetricsV2Response,
}
# Observations v2 rows carry names the SDK's ObservationV2 does not declare: convertObservationPartial
# (packages/shared/src/server/repositories/observations_converters.ts) adds the reduced usage and cost of the
# `usage` group, and FIELD_SETS.usage selects usagePricingTierId.
SERVER_EXTRAS = {"inputUsage", "outputUsage", "totalUsage", "inputCost", "outputCost", "usagePricingTierId"}


def names_of(model: Any) -> set[str]:
    """The wire names a Fern model declares (its FieldMetadata aliases, else the field names)."""
    found = set()
    for name, field in model.model_fields.items():
        aliases = [m.alias for m in field.metadata if isinstance(m, FieldMetadata)]
        found.add(aliases[0] if aliases else name)
    return found


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def _tour(fake: FakeLangfuse, client: Langfuse) -> None:
    """Every call the fake answers, with the options Firebreak uses and the ones that change an answer's shape."""
    client.api.health.health()
    client.api.projects.get()
    fake.add_prompt("support/answer", "v1", ["production"], commit_message="first")
    client.create_prompt(name="support/answer", prompt="v2 {{x}}", labels=[], commit_message="second")
    client.create_prompt(name="chat", prompt=[{"role": "system", "content": "hi"}], type="chat", labels=["production"])
    client.get_prompt("support/answer", cache_ttl_seconds=0)
    client.get_prompt("chat", type="chat", cache_ttl_seconds=0)
    client.update_prompt(name="support/answer", version=2, new_labels=["production"])
    client.api.prompts.get("support%2Fanswer", version=1)
    client.api.prompts.list()
    for i in range(3):
        fake.add_span(trace_id=f"{i:032x}", start=NOW - timedelta(minutes=3, seconds=i), root=i == 0, model="gpt-4o",
                      latency_ms=1200, cost=0.01, tokens=30, tags=["prod"])
        fake.add_observation(trace_id=f"{i:032x}", start=NOW - timedelta(minutes=2), input="q", output="a",
                             user_id="u1", session_id="s1")
        fake.add_score(name="toxicity", value=0.5 + i / 10, when=NOW - timedelta(minutes=1), trace_id=f"{i:032x}")
    groups = ["basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context"]
    for fields in [None, "core", *(f"core,{g}" for g in groups), ",".join(groups), "core,unknown"]:
        client.api.observations.get_many(fields=fields, limit=2)
    page = client.api.observations.get_many(limit=4)
    client.api.observations.get_many(limit=4, cursor=page.meta.cursor)
    for fields in [None, "core", "details", "subject", "annotation", "details,subject,annotation"]:
        client.api.scores.get_many(fields=fields, limit=2)
    client.api.scores.get_many(name="toxicity", data_type="NUMERIC", value_min=0.55, environment="production")
    fake.add_dataset("evals/golden", NOW - timedelta(days=1))
    fake.add_dataset_item("evals/golden", at=NOW - timedelta(hours=1), input={"q": "x"}, expected_output="y")
    client.api.datasets.get("evals%2Fgolden")
    client.api.dataset_items.list(dataset_name="evals/golden", version=NOW, page=1, limit=50)
    client.api.dataset_items.list(dataset_name="evals/golden")
    window = {"view": "observations", "fromTimestamp": iso(NOW - timedelta(minutes=30)), "toTimestamp": iso(NOW)}
    metrics = [{"measure": "latency", "aggregation": "p95"}, {"measure": "totalCost", "aggregation": "sum"},
               {"measure": "totalTokens", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}]
    for extra in ({}, {"timeDimension": {"granularity": "minute"}}, {"timeDimension": {"granularity": "hour"}},
                  {"timeDimension": {"granularity": "minute"}, "orderBy": [{"field": "count_count",
                                                                             "direction": "desc"}]}):
        client.api.metrics.metrics(query=json.dumps({**window, "metrics": metrics, **extra}))


def _model_for(method: str, path: str) -> Any:
    found = [model for (m, pattern), model in ROUTES.items() if m == method and re.fullmatch(pattern, path)]
    assert found, f"no SDK model named for {method} {path}: add the route to ROUTES"
    return found[0]


def test_every_answer_parses_with_the_sdks_models_and_names_nothing_the_sdk_does_not(fake: FakeLangfuse) -> None:
    _tour(fake, client_for(LangfuseConnection(base_url=fake.url)))
    answered = [r for r in fake.responses if 200 <= r["status"] < 300]
    assert len(answered) == len(fake.responses)  # the tour asks nothing the server would refuse
    used = set()
    for response in answered:
        model = _model_for(response["method"], response["path"])
        used.add(id(model))
        parse_obj_as(model, response["body"])  # raises on a missing or mistyped field
        body = response["body"]
        rows = body.get("data", [body]) if isinstance(body, dict) else [body]
        allowed = {ObservationsV2Response: names_of(ObservationV2) | SERVER_EXTRAS,
                   GetScoresV3Response: names_of(ScoreV3_Numeric), PaginatedDatasetItems: names_of(DatasetItem),
                   PromptMetaListResponse: names_of(PromptMeta), Prompt: names_of(Prompt_Text),
                   Dataset: names_of(Dataset), HealthResponse: names_of(HealthResponse)}.get(model)
        if allowed is None:
            continue
        for row in rows:
            assert set(row) <= allowed, f"{response['path']} invents {sorted(set(row) - allowed)}"
    assert used == {id(m) for m in ROUTES.values()}  # every route the fake has was answered and checked
    assert len(answered) >= 35
