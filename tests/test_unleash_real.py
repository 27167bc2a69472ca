"""The feature-flag mitigation against the real Unleash server on its own PostgreSQL (tests/servers/unleash.py), and
the fake the workflow tests use (tests/fake_unleash.py) held to what the real one answers."""

from __future__ import annotations

import httpx
import pytest

from integrations.mitigations import MitigationNotFound, MitigationRejected, backend_for
from playbook.config import UnleashFlagAction
from tests.fake_unleash import TOKEN as FAKE_TOKEN
from tests.fake_unleash import FakeUnleash
from tests.servers.unleash import UnleashServer, unleash_server  # noqa: F401
from tests.support import serving

VARS: dict[str, object] = {"service": "support-bot"}


def _admin(server: UnleashServer, method: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
    response = httpx.request(method, f"{server.url}/api/admin/projects/default{path}", json=body, timeout=10,
                             headers={"Authorization": server.token})
    response.raise_for_status()
    return response


def test_the_real_unleash_turns_the_flag_off_reads_it_back_and_the_undo_turns_it_on(
        unleash_server: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", unleash_server.token)
    _admin(unleash_server, "POST", "/features", {"name": "support-bot.tools", "type": "kill-switch"})
    _admin(unleash_server, "POST", "/features/support-bot.tools/environments/production/on")
    action = UnleashFlagAction(base_url=unleash_server.url, feature="${service}.tools")
    flag = backend_for("unleash_flag")

    before = flag.snapshot(action, VARS)
    assert (before["enabled"], before["type"]) == (True, "kill-switch")
    applied = flag.apply(action, VARS, "k")
    assert applied.detail == "turned support-bot.tools off in production (was on; verified)"
    real = _admin(unleash_server, "GET", "/features/support-bot.tools").json()
    assert {e["name"]: e["enabled"] for e in real["environments"]}["production"] is False
    assert not flag.apply(action, VARS, "k").changed
    assert flag.undo(action, VARS, applied.restore or {}, "u") == \
        "turned support-bot.tools back on in production (verified)"
    with pytest.raises(MitigationNotFound, match="no feature named"):
        flag.apply(action.model_copy(update={"feature": "nope"}), VARS, "k")
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", "*:*.wrong")
    with pytest.raises(MitigationRejected, match="401"):
        flag.snapshot(action, VARS)

    # The fake answers a feature with the fields the real one has, of the same types, where the backend reads them.
    with serving(FakeUnleash(), 0.05) as fake:
        fake.add_feature("support-bot.tools", {"development": False, "production": True})
        fake_answer = httpx.get(f"{fake.url}/api/admin/projects/default/features/support-bot.tools",
                                headers={"Authorization": FAKE_TOKEN}).json()
    for key in ("name", "type", "project", "stale", "environments"):
        assert type(fake_answer[key]) is type(real[key]), key
    real_env, fake_env = real["environments"][0], fake_answer["environments"][0]
    assert set(fake_env) <= set(real_env) and {"name", "enabled", "strategies"} <= set(fake_env)
