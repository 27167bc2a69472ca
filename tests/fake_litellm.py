"""A small LiteLLM proxy model-management API on 127.0.0.1, written from LiteLLM's documentation
(docs.litellm.ai/docs/proxy/model_management): GET /model/info lists {"data": [{model_name, litellm_params (no
api_key), model_info: {id, db_model, ...}}]}; POST /model/new adds a deployment; POST /model/update with
model_info.id merges the given litellm_params into that deployment (only models kept in the database, not
config.yaml ones); POST /model/delete {"id"} removes one. Every call needs `Authorization: Bearer <master key>`.
`litellm[proxy]` (1.108.7) runs here from a config file and answers /model/info in this shape, but these routes need
its database, which needs Prisma's engines downloaded at run time; see docs/mitigations.md.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support import FakeServer

MASTER_KEY = "sk-litellm-master-test"


class FakeLiteLLM(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.models: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.database = True  # False: like a proxy started without DATABASE_URL

    def add_model(self, name: str, model: str, db_model: bool = True) -> str:
        ident = str(uuid.uuid4())
        self.models.append({"model_name": name, "litellm_params": {"model": model, "api_key": "sk-provider"},
                            "model_info": {"id": ident, "db_model": db_model}})
        return ident

    def routes(self, name: str) -> list[str]:
        return [m["litellm_params"]["model"] for m in self.models if m["model_name"] == name]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            payload: Any = json.loads(body) if body else {}
            self.requests.append((method, path, payload))
            if headers.get("Authorization") != f"Bearer {MASTER_KEY}":
                return 401, "application/json", {"error": {"message": "Authentication Error, invalid proxy key",
                                                           "type": "auth_error", "code": "401"}}
            route = path.split("?")[0]
            if method == "GET" and route in ("/model/info", "/v1/model/info"):
                data = [{**m, "litellm_params": {k: v for k, v in m["litellm_params"].items() if k != "api_key"}}
                        for m in self.models]
                return 200, "application/json", {"data": data}
            if method == "POST" and route == "/model/new":
                ident = (payload.get("model_info") or {}).get("id") or str(uuid.uuid4())
                self.models.append({"model_name": payload["model_name"], "litellm_params": payload["litellm_params"],
                                    "model_info": {**(payload.get("model_info") or {}), "id": ident,
                                                   "db_model": True}})
                return 200, "application/json", {"model_id": ident, "model_name": payload["model_name"]}
            if method == "POST" and not self.database and route in ("/model/new", "/model/update", "/model/delete"):
                # what litellm 1.108.7 answers (seen running it with a config file and no database)
                return 500, "application/json", {"error": {
                    "message": "{'error': \"No DB Connected. Here's how to do it - "
                               "https://docs.litellm.ai/docs/proxy/virtual_keys\"}",
                    "type": "auth_error", "param": "None", "code": "500"}}
            if method == "POST" and route in ("/model/update", "/model/delete"):
                ident = (payload.get("model_info") or {}).get("id") if route == "/model/update" else payload.get("id")
                found = next((m for m in self.models if m["model_info"]["id"] == ident), None)
                if found is None:
                    return 400, "application/json", {"error": {"message": f"Model with id={ident} not found in db"}}
                if not found["model_info"].get("db_model"):
                    return 400, "application/json", {"error": {"message": "Can't edit model. Model in config. "
                                                                          "Store model in db via `/model/new`."}}
                if route == "/model/delete":
                    self.models.remove(found)
                    return 200, "application/json", {"message": f"Model: {ident} deleted successfully"}
                found["litellm_params"].update(payload.get("litellm_params") or {})
                if payload.get("model_name"):
                    found["model_name"] = payload["model_name"]
                return 200, "application/json", found
            return 404, "application/json", {"detail": "Not Found"}
