"""Feature flags in Unleash through its Admin API (docs.getunleash.io/api: "Get a feature", "Enable/Disable a
feature flag"): GET /api/admin/projects/{project}/features/{feature} for the state per environment, POST
.../environments/{environment}/on|off to change it. The token goes in the Authorization header as Unleash's admin
API expects (an admin API token or a personal access token with update-feature-environment in the project).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from integrations.mitigations.base import Applied, MitigationRejected, MitigationVerificationError, secret
from integrations.mitigations.http import call
from playbook.config import UnleashFlagAction, render_template


def _target(action: UnleashFlagAction, variables: dict[str, Any]) -> tuple[str, str, str]:
    feature = render_template(action.feature, variables).strip()
    project = render_template(action.project, variables).strip()
    env = render_template(action.environment, variables).strip()
    if not feature or not project or not env:
        raise MitigationRejected("the unleash_flag action needs a feature, a project and an environment")
    return project, feature, env


def _url(action: UnleashFlagAction, project: str, feature: str) -> str:
    return (f"{action.base_url.rstrip('/')}/api/admin/projects/{quote(project, safe='')}/features/"
            f"{quote(feature, safe='')}")


def _headers(action: UnleashFlagAction) -> dict[str, str]:
    return {"Authorization": secret(action.token_env, "an Unleash admin API token"), "Accept": "application/json"}


def read_feature(action: UnleashFlagAction, project: str, feature: str) -> dict[str, Any]:
    found = call("GET", _url(action, project, feature), _headers(action), action.timeout_seconds,
                 f"reading feature {feature}")
    if not isinstance(found, dict):
        raise MitigationVerificationError(f"Unleash answered no feature object for {feature}")
    return found


def enabled_in(feature: dict[str, Any], env: str) -> bool:
    for e in feature.get("environments") or []:
        if e.get("name") == env:
            return bool(e.get("enabled"))
    raise MitigationRejected(f"feature {feature.get('name')} has no environment {env} "
                             f"(it has: {', '.join(str(e.get('name')) for e in feature.get('environments') or [])})")


def _set(action: UnleashFlagAction, project: str, feature: str, env: str, on: bool) -> None:
    state = "on" if on else "off"
    call("POST", f"{_url(action, project, feature)}/environments/{quote(env, safe='')}/{state}", _headers(action),
         action.timeout_seconds, f"turning {feature} {state} in {env}")
    if enabled_in(read_feature(action, project, feature), env) != on:
        raise MitigationVerificationError(f"Unleash accepted turning {feature} {state} in {env}, but reading it "
                                          "back shows otherwise; check the flag before trusting it")


def _word(on: bool) -> str:
    return "on" if on else "off"


class UnleashFlag:
    kind = "unleash_flag"

    def snapshot(self, action: UnleashFlagAction, variables: dict[str, Any]) -> dict[str, Any]:
        project, feature, env = _target(action, variables)
        found = read_feature(action, project, feature)
        return {"kind": self.kind, "project": project, "feature": feature, "environment": env,
                "enabled": enabled_in(found, env), "stale": found.get("stale"), "type": found.get("type"),
                "environments": [{"name": e.get("name"), "enabled": e.get("enabled"),
                                  "strategies": len(e.get("strategies") or [])}
                                 for e in found.get("environments") or []]}

    def apply(self, action: UnleashFlagAction, variables: dict[str, Any], key: str) -> Applied:
        project, feature, env = _target(action, variables)
        before = enabled_in(read_feature(action, project, feature), env)
        record = {"project": project, "feature": feature, "environment": env, "was": before, "now": action.enabled}
        if before == action.enabled:
            return Applied(False, f"{feature} was already {_word(before)} in {env} (verified)", None, record)
        _set(action, project, feature, env, action.enabled)
        return Applied(True, f"turned {feature} {_word(action.enabled)} in {env} (was {_word(before)}; verified)",
                       {"enabled": before}, record)

    def undo(self, action: UnleashFlagAction, variables: dict[str, Any], restore: dict[str, Any], key: str) -> str:
        project, feature, env = _target(action, variables)
        prior = bool(restore["enabled"])
        now = enabled_in(read_feature(action, project, feature), env)
        if now == prior:
            return f"{feature} is already {_word(prior)} in {env} (verified)"
        _set(action, project, feature, env, prior)
        return f"turned {feature} back {_word(prior)} in {env} (verified)"
