"""The people's HTTP API does what the CLI does, with personal tokens: one incident worked end to end over HTTP
(list, show, severity, assign, note, approve, retest, patch, resolve, retrospective, its action item done, the risk
register and the figures) and one declared, each refusal answered with the workflow's own reason and a 4xx that
says which kind (403 role, 404 unknown, 409 state, 422 invalid). Real intake (uvicorn), real dev server, real
worker, real tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.behaviour import (
    started,
    terminate_leftovers,  # noqa: F401  (autouse)
)
from tests.intake.support import bearer
from tests.intake.test_people import decided, open_incident, people_api
from tests.support import incident_worker, wait_for


async def test_an_incident_worked_end_to_end_over_http(dev_env: WorkflowEnvironment, task_queue: str,
                                                        tmp_path: Path, home: Path) -> None:
    async with people_api(dev_env, task_queue, tmp_path) as (api, tokens, playbook):
        ian, olu, sam = (bearer(tokens.issue(p)[0]) for p in ("ian", "olu", "sam"))

        async def post(path: str, who: dict[str, str], body: Any = None, code: int = 200) -> dict[str, Any]:
            r = await api.http.post(path, headers=who, json=body)
            assert r.status_code == code, (path, r.status_code, r.text)
            return r.json()  # type: ignore[no-any-return]

        async def get(path: str, code: int = 200, **params: Any) -> Any:
            r = await api.http.get(path, headers=sam, params=params)
            assert r.status_code == code, (path, r.status_code, r.text)
            return r.json()

        async with incident_worker(dev_env.client, task_queue, playbook, home):
            handle, number = await open_incident(dev_env, task_queue)
            inc = f"/v1/incidents/{number}"

            assert (await api.http.get("/v1/incidents")).status_code == 401
            rows = await get("/v1/incidents", service="support-bot", status="open")
            assert [r["workflow_id"] for r in rows if r["number"] == number] == [handle.id]
            assert number not in {r["number"] for r in await get("/v1/incidents", status="resolved")}
            assert "quote" in (await get("/v1/incidents", 422, service="x' OR 1=1"))["message"]

            shown = await get(inc, timeline=1)
            assert (shown["number"], shown["status"], shown["workflow_id"]) == (number, "open", handle.id)
            assert len(shown["state"]["timeline"]) == 1 and f"**{number}**" in shown["summary"]
            assert (await get("/v1/incidents/PZZZ-2026-9999", 404))["field"] == "incident"

            await post(f"{inc}/acknowledge", ian)
            refused = await post(f"{inc}/severity", sam, {"severity": "SEV1", "role": "domain_sme"}, 403)
            assert refused["status"] == "refused" and "only incident_commander" in refused["message"]
            await post(f"{inc}/severity", ian, {"severity": "SEV1", "comment": "customers see it"})
            assert "already SEV1" in (await post(f"{inc}/severity", ian, {"severity": "SEV1"}, 409))["message"]
            assert "not on the roster" in (await post(f"{inc}/assign", ian, {"person": "zed",
                                                                           "assign_role": "ai_ops"}, 422))["message"]
            await post(f"{inc}/assign", ian, {"person": "sam", "assign_role": "ai_ops"})
            await post(f"{inc}/notes", sam, {"comment": "canary looks clean", "role": "domain_sme"})
            assert (await post(f"{inc}/notes", sam, {"comment": ""}, 422))["field"] == "comment"

            await wait_for(handle, lambda s: bool(s.pending_approvals()))
            shown = await get(inc)
            assert shown["severity"] == "SEV1" and "stabilise-1" in {p["request_id"] for p in shown["pending"]}
            assert any(e["what"] == "note" and e["actor"] == "sam" for e in shown["state"]["timeline"])
            await post(f"{inc}/approvals/stabilise-1", olu, {"decision": "approve"})
            await wait_for(handle, decided)

            assert "no regression suite" in (await post(f"{inc}/retest", olu, None, 409))["message"]
            assert "no langfuse_prompt_patch" in (await post(f"{inc}/patch", olu, {"text": "be kind"}, 409))["message"]
            assert "'nope' is not" in (await post(f"{inc}/patch", olu, {"text": "be kind", "action": "nope"},
                                                  422))["message"]
            await post(f"{inc}/resolve", ian, {"comment": "rolled back"})
            assert "already resolved" in (await post(f"{inc}/resolve", ian, None, 409))["message"]
            await post(f"{inc}/retrospective", ian, {"root_cause": "prompt v12 dropped the refusal rule",
                                                     "action_items": [{"what": "add refusal evals", "owner": "olu"}]})
            await wait_for(handle, lambda s: s.status.value == "closed")

            items = await get("/v1/action-items", incident=number)
            assert [(i["item"]["owner"], i["status"]) for i in items] == [("olu", "open")]
            done = f"/v1/action-items/{items[0]['id']}/done"
            assert (await post(done, sam, {"role": "domain_sme"}, 409))["status"] == "refused"
            await post(done, olu, {"comment": "evals merged"})
            assert (await post("/v1/action-items/incident-nope/done", olu, None, 404))["field"] == "item"

            shown = await get(inc)
            assert shown["status"] == "closed"
            risks = await get("/v1/risks", service="support-bot")
            assert [e["incident"] for e in risks["entries"]] == [number] and risks["skipped"] == []
            assert (await get("/v1/report"))["figures"]["incidents"] == 1

            # Declare: a worker opens it and the answer carries its number, as `firebreak declare` prints it.
            declared = await post("/v1/incidents", ian, {"kind": "hallucination", "services": ["api-svc"],
                                                        "summary": "made-up refund policy"})
            started(dev_env.client.get_workflow_handle(declared["workflow_id"]))
            assert declared["number"].startswith("P") and declared["status"] == "open", declared
            assert (await post("/v1/incidents", ian, {"kind": "hallucination", "services": []}, 422))
