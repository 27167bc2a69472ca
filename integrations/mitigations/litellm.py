"""Model routing in a LiteLLM proxy (docs.litellm.ai/docs/proxy/model_management): GET /model/info lists each
deployment (model_name, litellm_params without secrets, model_info.id); POST /model/update with model_info.id and
the litellm_params to change points one deployment at another model, in place, keeping its credentials. Only
deployments kept in the proxy's database (STORE_MODEL_IN_DB) can be changed by the API; config.yaml ones cannot.
"""

from __future__ import annotations

from typing import Any

from integrations.mitigations.base import (
    Applied,
    MitigationRejected,
    MitigationUnavailable,
    MitigationVerificationError,
    secret,
)
from integrations.mitigations.http import call
from playbook.config import LiteLLMRouteAction, render_template


def _target(action: LiteLLMRouteAction, variables: dict[str, Any]) -> tuple[str, str]:
    name = render_template(action.model_name, variables).strip()
    model = render_template(action.model, variables).strip()
    if not name or not model:
        raise MitigationRejected("the litellm_route action needs a model_name and a model (set known_good.model for "
                                 "the service, or model on the action)")
    return name, model


def _headers(action: LiteLLMRouteAction) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret(action.key_env, 'the LiteLLM proxy master key')}"}


def deployments(action: LiteLLMRouteAction, name: str) -> list[dict[str, Any]]:
    """Each deployment of the public model `name`: its id and underlying model."""
    info = call("GET", f"{action.base_url.rstrip('/')}/model/info", _headers(action), action.timeout_seconds,
                "listing the proxy's models")
    found = [{"id": str((d.get("model_info") or {}).get("id")), "model": (d.get("litellm_params") or {}).get("model")}
             for d in (info or {}).get("data") or [] if d.get("model_name") == name]
    if not found:
        raise MitigationRejected(f"the LiteLLM proxy has no deployment named {name}")
    return found


def _update(action: LiteLLMRouteAction, name: str, deployment_id: str, model: str) -> None:
    try:
        call("POST", f"{action.base_url.rstrip('/')}/model/update", _headers(action), action.timeout_seconds,
             f"pointing deployment {deployment_id} of {name} at {model}",
             {"model_name": name, "litellm_params": {"model": model}, "model_info": {"id": deployment_id}})
    except MitigationUnavailable as err:  # the proxy answers 500 "No DB Connected": no retry will change that
        if "No DB Connected" in str(err):
            raise MitigationRejected(f"the LiteLLM proxy keeps no models in a database (STORE_MODEL_IN_DB, "
                                     f"DATABASE_URL), so {name} cannot be re-routed through its API: {err}") from err
        raise


def _verify(action: LiteLLMRouteAction, name: str, wanted: dict[str, str]) -> None:
    now = {d["id"]: d["model"] for d in deployments(action, name)}
    wrong = {i: now.get(i) for i, m in wanted.items() if now.get(i) != m}
    if wrong:
        raise MitigationVerificationError(f"the proxy accepted the routing change of {name}, but reading it back "
                                          f"shows {wrong}; check /model/info before trusting it")


class LiteLLMRoute:
    kind = "litellm_route"

    def snapshot(self, action: LiteLLMRouteAction, variables: dict[str, Any]) -> dict[str, Any]:
        name, model = _target(action, variables)
        return {"kind": self.kind, "model_name": name, "target_model": model,
                "deployments": deployments(action, name)}

    def apply(self, action: LiteLLMRouteAction, variables: dict[str, Any], key: str) -> Applied:
        name, model = _target(action, variables)
        before = deployments(action, name)
        moved = [d for d in before if d["model"] != model]
        for d in moved:
            _update(action, name, d["id"], model)
        _verify(action, name, {d["id"]: model for d in before})
        record = {"model_name": name, "model": model, "before": before}
        if not moved:
            return Applied(False, f"{name} already routes to {model} on all {len(before)} deployment(s) (verified)",
                           None, record)
        was = ", ".join(sorted({str(d["model"]) for d in moved}))
        return Applied(True, f"routed {name} to {model} on {len(moved)} deployment(s) (was {was}; verified)",
                       {"deployments": moved, "model": model}, record)

    def undo(self, action: LiteLLMRouteAction, variables: dict[str, Any], restore: dict[str, Any], key: str) -> str:
        name, _ = _target(action, variables)
        now = {d["id"]: d["model"] for d in deployments(action, name)}
        back = []
        for d in restore["deployments"]:
            if now.get(d["id"]) == d["model"]:
                continue
            if now.get(d["id"]) != restore["model"]:
                raise MitigationRejected(f"deployment {d['id']} of {name} routes to {now.get(d['id'])}, not to "
                                         f"{restore['model']} where the mitigation left it; not changing it")
            back.append(d)
        for d in back:
            _update(action, name, d["id"], d["model"])
        _verify(action, name, {d["id"]: d["model"] for d in restore["deployments"]})
        return f"routed {len(back)} deployment(s) of {name} back (verified)"
