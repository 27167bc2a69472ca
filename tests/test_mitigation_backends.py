"""Each mitigation backend against its server: Redis for real (redis-server, tests/servers/redis.py), Unleash and
the LiteLLM proxy as servers written from their API docs (tests/fake_unleash.py, tests/fake_litellm.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.mitigations import (
    MitigationRejected,
    MitigationUnavailable,
    MitigationVerificationError,
    backend_for,
)
from playbook.config import KeyRotationAction, LiteLLMRouteAction, RedisPurgeAction, UnleashFlagAction
from tests.fake_keys import ADMIN_KEY, VAULT_TOKEN, FakeOpenAIAdmin, FakeVault
from tests.fake_litellm import MASTER_KEY, FakeLiteLLM
from tests.fake_unleash import TOKEN, FakeUnleash
from tests.servers.redis import RedisServer, redis_server  # noqa: F401 - the session's real redis-server
from tests.support import serving

VARS: dict[str, object] = {"service": "support-bot", "known_good_model": "gpt-4o-2024-08-06"}


@pytest.fixture
def cache(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:  # noqa: F811
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = redis_server.client()
    client.flushdb()
    yield redis_server
    client.flushdb()


def test_a_purge_unlinks_only_the_matching_keys_counts_them_and_is_idempotent(cache: RedisServer) -> None:
    client = cache.client()
    client.mset({f"semcache:support-bot:{i}": "answer" for i in range(1234)})
    client.mset({f"semcache:other-bot:{i}": "answer" for i in range(7)})
    client.set("session:42", "keep me")
    action = RedisPurgeAction(patterns=["semcache:${service}:*"])
    purge = backend_for("redis_purge")

    before = purge.snapshot(action, VARS)
    assert before["patterns"] == {"semcache:support-bot:*": {"keys": 1234, "capped": False}}
    applied = purge.apply(action, VARS, "k1")
    assert applied.changed and applied.restore is None
    assert applied.record["deleted"] == {"semcache:support-bot:*": 1234}
    assert "purged 1234 cache key(s)" in applied.detail and "(verified)" in applied.detail
    assert client.dbsize() == 8 and client.get("session:42") == b"keep me"
    again = purge.apply(action, VARS, "k1")
    assert not again.changed and again.record["deleted"] == {"semcache:support-bot:*": 0}
    with pytest.raises(MitigationRejected, match="cannot be undone"):
        purge.undo(action, VARS, {}, "k1")


def test_a_purge_refuses_a_pattern_that_would_empty_the_cache_and_says_where_the_url_goes(
        cache: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.client().set("anything", "1")
    with pytest.raises(MitigationRejected, match="would purge every key"):
        backend_for("redis_purge").apply(RedisPurgeAction(patterns=["*"]), VARS, "k")
    assert cache.client().dbsize() == 1
    monkeypatch.delenv("REDIS_URL")
    with pytest.raises(MitigationRejected, match="set REDIS_URL on the worker"):
        backend_for("redis_purge").snapshot(RedisPurgeAction(patterns=["x:*"]), VARS)


def test_a_purge_past_max_keys_fails_verification_naming_what_is_left(cache: RedisServer) -> None:
    cache.client().mset({f"c:{i}": "1" for i in range(30)})
    with pytest.raises(MitigationVerificationError, match=r"purged 10 key\(s\).*still finds c:\*: 10\+ \(max_keys"):
        backend_for("redis_purge").apply(RedisPurgeAction(patterns=["c:*"], max_keys=10), VARS, "k")


def test_an_unreachable_redis_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import free_port
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(MitigationUnavailable):
        backend_for("redis_purge").snapshot(RedisPurgeAction(patterns=["x:*"], timeout_seconds=2), VARS)


def test_a_flag_is_turned_off_read_back_and_the_undo_restores_what_it_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    with serving(FakeUnleash(), 0.05) as fake:
        fake.add_feature("support-bot.tools", {"development": True, "production": True})
        action = UnleashFlagAction(base_url=fake.url, feature="${service}.tools")
        flag = backend_for("unleash_flag")
        assert flag.snapshot(action, VARS)["enabled"] is True
        applied = flag.apply(action, VARS, "k")
        assert applied.changed and applied.restore == {"enabled": True}
        assert not fake.enabled("support-bot.tools", "production") and fake.enabled("support-bot.tools", "development")
        assert ("POST", "/api/admin/projects/default/features/support-bot.tools/environments/production/off") \
            in fake.requests
        assert not flag.apply(action, VARS, "k").changed  # a retry finds it off and leaves it
        assert flag.undo(action, VARS, applied.restore or {}, "u") == \
            "turned support-bot.tools back on in production (verified)"
        assert fake.enabled("support-bot.tools", "production")
        assert "already on" in flag.undo(action, VARS, applied.restore or {}, "u")
        with pytest.raises(MitigationRejected, match="has no environment staging"):
            flag.apply(action.model_copy(update={"environment": "staging"}), VARS, "k")
        monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", "wrong")
        with pytest.raises(MitigationRejected, match="401"):
            flag.apply(action, VARS, "k")


def test_a_model_route_moves_to_the_known_good_model_and_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    with serving(FakeLiteLLM(), 0.05) as fake:
        fake.add_model("support-bot", "openai/gpt-4o-2024-11-20")
        fake.add_model("support-bot", "azure/gpt-4o-2024-11-20")
        fake.add_model("other", "openai/gpt-4o-mini")
        action = LiteLLMRouteAction(base_url=fake.url)
        route = backend_for("litellm_route")
        assert [d["model"] for d in route.snapshot(action, VARS)["deployments"]] == [
            "openai/gpt-4o-2024-11-20", "azure/gpt-4o-2024-11-20"]
        applied = route.apply(action, VARS, "k")
        assert applied.changed and fake.routes("support-bot") == ["gpt-4o-2024-08-06"] * 2
        assert fake.routes("other") == ["openai/gpt-4o-mini"]
        assert all(m["litellm_params"]["api_key"] == "sk-provider" for m in fake.models)  # credentials kept
        assert not route.apply(action, VARS, "k").changed
        assert "2 deployment(s)" in route.undo(action, VARS, applied.restore or {}, "u")
        assert fake.routes("support-bot") == ["openai/gpt-4o-2024-11-20", "azure/gpt-4o-2024-11-20"]
        with pytest.raises(MitigationRejected, match="no deployment named nobody"):
            route.apply(action.model_copy(update={"model_name": "nobody"}), VARS, "k")


def test_a_model_route_undo_leaves_a_deployment_someone_changed_since(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    with serving(FakeLiteLLM(), 0.05) as fake:
        fake.add_model("support-bot", "openai/bad")
        action = LiteLLMRouteAction(base_url=fake.url)
        applied = backend_for("litellm_route").apply(action, VARS, "k")
        fake.models[0]["litellm_params"]["model"] = "openai/someone-elses-choice"
        with pytest.raises(MitigationRejected, match="not to gpt-4o-2024-08-06 where the mitigation left it"):
            backend_for("litellm_route").undo(action, VARS, applied.restore or {}, "u")
        assert fake.routes("support-bot") == ["openai/someone-elses-choice"]
        fake.database = False
        with pytest.raises(MitigationRejected, match="keeps no models in a database"):
            backend_for("litellm_route").apply(action.model_copy(update={"model": "openai/y"}), VARS, "k")
        fake.database = True
        fake.add_model("config-bot", "openai/x", db_model=False)
        with pytest.raises(MitigationRejected, match="Model in config"):
            backend_for("litellm_route").apply(action.model_copy(update={"model_name": "config-bot"}), VARS, "k")


def test_a_key_rotation_stores_the_new_key_reads_it_back_and_revokes_the_others(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    with serving(FakeOpenAIAdmin(), 0.05) as provider, serving(FakeVault(), 0.05) as vault:
        exposed = provider.add_key("svc_acct_bot")
        other = provider.add_key("svc_acct_other_app")
        provider.accounts.add("svc_acct_other_app")
        action = KeyRotationAction(base_url=f"{provider.url}/v1", project_id="proj_support",
                                   service_account_id="svc_acct_bot", store_url=vault.url,
                                   store_path="${service}/openai")
        rotate = backend_for("key_rotation")
        before = rotate.snapshot(action, VARS)
        assert [k["id"] for k in before["keys"]] == [exposed] and before["store"]["version"] is None
        assert "sk-" not in str(before)

        applied = rotate.apply(action, VARS, "incident-1/INC-1/contain/rotate_keys")
        (new_id,) = provider.key_ids("svc_acct_bot")
        assert new_id != exposed and provider.key_ids("svc_acct_other_app") == [other]
        stored = vault.current("secret/support-bot/openai")
        assert stored["api_key"] == provider.values[new_id] and stored["api_key_id"] == new_id
        assert applied.detail == (f"new key {new_id} for svc_acct_bot stored at secret/support-bot/openai version 1 "
                                  f"(read back); revoked {exposed} (verified)")
        assert provider.values[new_id] not in str(applied)  # the id on the record, never the secret
        assert applied.restore is None

        again = rotate.apply(action, VARS, "incident-1/INC-1/contain/rotate_keys")  # a retried step
        assert not again.changed and again.detail.startswith("already rotated by this incident: new key " + new_id)
        assert provider.key_ids("svc_acct_bot") == [new_id] and len(vault.secrets["secret/support-bot/openai"]) == 1
        monkeypatch.setenv("VAULT_TOKEN", "wrong")
        with pytest.raises(MitigationRejected, match="403"):
            rotate.apply(action, VARS, "another-incident")
        assert provider.key_ids("svc_acct_bot") == [new_id]  # refused before any key was made
