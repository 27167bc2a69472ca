"""The rest of a langfuse evidence source's pack, over the real langfuse 5 SDK against the fake on 127.0.0.1: the
cost/latency series (Metrics v2), the prompt versions involved and a dataset as it was at detection, each hashed,
summarised in one line, redacted, and failing on its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from integrations.artefacts import ArtefactStore
from integrations.langfuse.client import client_for
from integrations.langfuse.snapshots import collect_dataset
from playbook.config import EvidenceSource, PlaybookError
from playbook.messages import EvidenceInput, EvidencePack
from tests.fake_langfuse import FakeLangfuse, fake_langfuse, iso
from tests.support import ROSTER, detection

PROMPT = "support/answer"       # a folder prompt: the name must be percent-encoded in the path
DATASET = "evals/support-golden"
PII = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "sk-proj-AbCdEf0123456789xyzXYZ"]
VARIABLES: dict[str, str | int | None] = {
    "service": "support-bot", "prompt_name": PROMPT, "prompt_version": 3, "known_good_prompt_name": PROMPT,
    "known_good_prompt_version": 2}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def _seed(fake: FakeLangfuse, detected: datetime) -> dict[str, str]:
    minute = detected.replace(second=0, microsecond=0)
    for i, latency in enumerate((800, 900, 4200, 1000)):   # the third minute is the slow one
        at = minute - timedelta(minutes=10 - i, seconds=-5)
        fake.add_span(trace_id=f"{i:032x}", start=at, root=True, latency_ms=latency, cost=0.01, tokens=100,
                      trace_name="support-answer", tags=["prod"])
        fake.add_span(trace_id=f"{i:032x}", start=at, latency_ms=10, cost=0.5 if i == 1 else 0.02, tokens=900,
                      trace_name="support-answer", tags=["prod"])
    fake.add_span(trace_id="e" * 32, start=minute - timedelta(minutes=7), root=True, latency_ms=99_000, cost=9.0,
                  trace_name="support-answer", tags=["staging"])                                  # other tag
    fake.add_prompt(PROMPT, "v1", commit_message="first")
    fake.add_prompt(PROMPT, "Answer politely.", commit_message=f"known good, reviewed by {PII[0]}",
                    config={"model": "gpt-4o", "temperature": 0.2})
    fake.add_prompt(PROMPT, f"Answer. Escalations: {PII[1]}. " + "x" * 300 + " SECRET-TAIL", ["production"],
                    commit_message="faster answers", config={"api_key": PII[3]})
    day_before, hour_before = detected - timedelta(days=1), detected - timedelta(hours=1)
    fake.add_dataset(DATASET, day_before)
    ids = {"kept": fake.add_dataset_item(DATASET, at=day_before, input={"q": f"mail {PII[0]}"},
                                         expected_output="ok", metadata={"card": PII[2]}),
           "archived": fake.add_dataset_item(DATASET, at=day_before, input="old question"),
           "edited": fake.add_dataset_item(DATASET, at=day_before, input="as it was at detection")}
    fake.update_dataset_item(DATASET, ids["archived"], at=hour_before, status="ARCHIVED")
    fake.update_dataset_item(DATASET, ids["edited"], at=detected + timedelta(seconds=30), input="edited later")
    ids["later"] = fake.add_dataset_item(DATASET, at=detected + timedelta(seconds=30), input="added after detection")
    return ids


def _collect(fake: FakeLangfuse, tmp_path: Path, detected: datetime, **fields: object) -> EvidencePack:
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    source = EvidenceSource.model_validate({"kind": "langfuse", "base_url": fake.url, "trace_name": "support-answer",
                                            "tags": ["prod"], "datasets": [DATASET], **fields})
    source = EvidenceSource.model_validate_json(source.model_dump_json())  # as the workflow hands it over
    return ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-9", workflow_id="incident-y", detection=detection(detected_at=detected),
        sources={"lf": source}, variables=VARIABLES))


def test_the_pack_has_series_prompts_and_the_dataset_as_of_detection(fake: FakeLangfuse, tmp_path: Path) -> None:
    detected = datetime.now(UTC) - timedelta(minutes=2)
    ids = _seed(fake, detected)
    pack = _collect(fake, tmp_path, detected)
    items = {i.name: i for i in pack.items}
    folder = tmp_path / "artefacts" / "INC-9" / "evidence"
    for name in ("lf.series.json", "lf.prompts.json", f"lf.dataset.{DATASET}.json"):
        item = items[name]
        assert item.error is None and item.sha256 and len(item.sha256) == 64 and item.summary
        assert "\n" not in item.summary and len(item.summary) <= 300
    # The series: per minute, p95 latency of whole traces, cost of every observation of the matching traces.
    series = json.loads((folder / "lf.series.json").read_text())
    assert series["granularity"] == "minute" and series["truncated"] is False
    # Every minute of the hour's window is there (the server fills the empty ones with zeros); the empty ones
    # carry no latency and no cost, and only the minutes with traces make the peaks.
    rows, seen = series["series"], [r for r in series["series"] if r["traces"]]
    assert len(rows) >= 62 and all(r["latency_p95_ms"] is None and r["cost_usd"] is None
                                   for r in rows if not r["traces"] and not r["observations"])
    assert [round(r["latency_p95_ms"]) for r in seen] == [800, 900, 4200, 1000]
    assert [round(r["cost_usd"], 2) for r in seen] == [0.03, 0.51, 0.03, 0.03]
    assert [r["observations"] for r in seen] == [2, 2, 2, 2] and seen[0]["tokens"] == 1000
    slow, costly = seen[2]["bucket"], seen[1]["bucket"]
    assert items["lf.series.json"].summary == (
        f"cost/latency per minute: peak p95 latency 4200 ms at {slow}; peak cost $0.51/min at {costly}")
    metric_calls = [json.loads(r["query"]["query"]) for r in fake.requests if r["path"] == "/api/public/v2/metrics"]
    assert all(q["timeDimension"] == {"granularity": "minute"} for q in metric_calls) and len(metric_calls) == 2
    assert all(len(rows) < q["config"]["row_limit"] <= len(rows) + 2 for q in metric_calls)  # what it needs
    assert {"column": "tags", "operator": "any of", "value": ["prod"], "type": "arrayOptions"} in metric_calls[0][
        "filters"]
    # The prompts: the detected version (also production now) and the known-good one, text only as digest + excerpt.
    prompts = json.loads((folder / "lf.prompts.json").read_text())["prompts"][PROMPT]
    assert [(p["version"], p["roles"], p["labels"]) for p in prompts] == [
        (3, ["detected", "production now"], ["latest", "production"]), (2, ["known good"], [])]
    assert prompts[1]["commitMessage"] == "known good, reviewed by [REDACTED:EMAIL]"
    assert prompts[1]["config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert len(prompts[0]["text"]["sha256"]) == 64 and prompts[0]["text"]["chars"] > 300
    assert prompts[0]["text"]["excerpt"].startswith("Answer. Escalations: [REDACTED:PHONE]. xxx")
    assert items["lf.prompts.json"].summary == (
        f"prompt versions: {PROMPT}: v3 (detected, production now); v2 (known good)")
    assert {r["path"] for r in fake.requests if "/prompts/" in r["path"]} == {"/api/public/v2/prompts/support%2Fanswer"}
    # The dataset as it was at detection: no item created later, the later edit not seen, the archive seen.
    dataset = json.loads((folder / f"lf.dataset.{DATASET.replace('/', '_')}.json").read_text())
    by_id = {i["id"]: i for i in dataset["items"]}
    assert set(by_id) == {ids["kept"], ids["archived"], ids["edited"]} and dataset["truncated"] is False
    assert by_id[ids["edited"]]["input"] == "as it was at detection"
    assert by_id[ids["archived"]]["status"] == "ARCHIVED"
    assert by_id[ids["kept"]]["input"] == {"q": "mail [REDACTED:EMAIL]"}
    assert dataset["redactions"] == {"CARD": 1, "EMAIL": 1}
    assert items[f"lf.dataset.{DATASET}.json"].summary == (
        f"dataset {DATASET} as of {iso(detected)}: 3 item(s), 1 archived")
    listing = next(r for r in fake.requests if r["path"] == "/api/public/dataset-items")
    assert listing["query"]["datasetName"] == DATASET and listing["query"]["version"].startswith(
        iso(detected)[:19])
    assert any(r["path"] == "/api/public/v2/datasets/evals%2Fsupport-golden" for r in fake.requests)
    # Nothing raw anywhere, the manifest included; the prompt text past the excerpt is not stored.
    for path in (tmp_path / "artefacts").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for raw in [*PII, "SECRET-TAIL"]:
                assert raw not in text, f"{raw} reached {path}"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {i["name"] for i in manifest["items"]} >= {"lf.series.json", "lf.prompts.json"}


def test_one_failing_endpoint_leaves_the_other_items(fake: FakeLangfuse, tmp_path: Path) -> None:
    detected = datetime.now(UTC) - timedelta(minutes=2)
    _seed(fake, detected)
    fake.fail_paths["/api/public/v2/metrics"] = 99
    fake.fail_item_pages = {2}  # the dataset fails after its first page
    pack = _collect(fake, tmp_path, detected, max_dataset_items=500)
    fake.fail_paths.clear()
    items = {i.name: i for i in pack.items}
    assert items["lf.series.json"].error and "503" in items["lf.series.json"].error
    assert items["lf.series.json"].path is None and items["lf.series.json"].sha256 is None
    assert items["lf.prompts.json"].error is None and items["lf.prompts.json"].sha256
    assert items["lf.observations.json"].sha256 and items["lf.blast_radius.json"].summary
    folder = tmp_path / "artefacts" / "INC-9" / "evidence"
    assert not (folder / "lf.series.json").exists()

    # One page is all the dataset has: page 2 is never asked for and the dataset is whole.
    assert items[f"lf.dataset.{DATASET}.json"].error is None
    # A dataset of two pages whose second page fails is an error, never stored as if whole.
    for i in range(120):
        fake.add_dataset_item(DATASET, at=detected - timedelta(hours=2), input=f"question {i}")
    pack = _collect(fake, tmp_path / "again", detected, max_dataset_items=500)
    failed = next(i for i in pack.items if i.name == f"lf.dataset.{DATASET}.json")
    assert failed.error and "page 2, after 100 item(s)" in failed.error and failed.path is None
    assert not list((tmp_path / "again").rglob("lf.dataset.*"))


def test_a_dataset_over_the_cap_says_truncated(fake: FakeLangfuse) -> None:
    detected = datetime.now(UTC)
    fake.add_dataset("big", detected - timedelta(days=1))
    for i in range(130):
        fake.add_dataset_item("big", at=detected - timedelta(hours=1), input=f"q{i}")
    client = client_for(EvidenceSource(kind="langfuse", base_url=fake.url))
    content, summary = collect_dataset(client, "big", detected, max_items=120)
    data = json.loads(content)
    assert (data["item_count"], data["total_items"], data["truncated"]) == (120, 130, True)
    assert summary.endswith("120 item(s) (truncated at 120 of 130)")
    content, summary = collect_dataset(client, "big", detected, max_items=130)
    assert json.loads(content)["truncated"] is False and summary.endswith(": 130 item(s)")


def test_no_prompt_named_means_no_prompts_item_and_options_stay_on_their_kind(fake: FakeLangfuse,
                                                                             tmp_path: Path) -> None:
    from playbook.config import parse_playbook
    detected = datetime.now(UTC) - timedelta(minutes=2)
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-3", workflow_id="incident-z", detection=detection(detected_at=detected),
        sources={"lf": EvidenceSource(kind="langfuse", base_url=fake.url, series_granularity="hour")},
        variables={"service": "support-bot"}))
    names = {i.name: i for i in pack.items}
    assert "lf.prompts.json" not in names
    assert names["lf.series.json"].summary == "cost/latency per hour: no data in the window"

    parse_playbook(ROSTER + '\n[evidence.lf]\nkind = "langfuse"\ndatasets = ["${service}-golden"]\n'
                   'series_granularity = "hour"\nprompt_versions = false\n')
    with pytest.raises(PlaybookError, match=r"\['datasets'\] only apply to kind"):
        parse_playbook(ROSTER + '\n[evidence.log]\nkind = "file"\npath = "/tmp/x"\ndatasets = ["d"]\n')
    with pytest.raises(PlaybookError, match="unknown template variable"):
        parse_playbook(ROSTER + '\n[evidence.lf]\nkind = "langfuse"\ndatasets = ["${nope}"]\n')
    with pytest.raises(PlaybookError, match="series_granularity"):
        parse_playbook(ROSTER + '\n[evidence.lf]\nkind = "langfuse"\nseries_granularity = "5m"\n')
    # A deploys source round-tripped through JSON carries the langfuse defaults and is still accepted.
    deploys = EvidenceSource(kind="deploys")
    assert EvidenceSource.model_validate_json(deploys.model_dump_json()) == deploys
