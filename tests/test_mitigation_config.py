"""The playbook side of the mitigations: which actions alter the AI system, and what a bad action is refused with
when the playbook loads; and the prompt-model backend on a chat prompt."""

from __future__ import annotations

import pytest

from integrations.mitigations import backend_for
from playbook.config import (
    HttpAction,
    LangfusePromptModelAction,
    ManualAction,
    PlaybookError,
    PromptfooRegressionAction,
    RedisPurgeAction,
    alters_ai_system,
    parse_playbook,
)
from tests.fake_langfuse import fake_langfuse
from tests.support import ROSTER


def test_one_predicate_says_which_actions_alter_the_ai_system() -> None:
    assert alters_ai_system(RedisPurgeAction(patterns=["c:*"]))
    assert alters_ai_system(LangfusePromptModelAction())
    assert alters_ai_system(HttpAction(url="https://x.example", alters_system=True))
    assert not alters_ai_system(HttpAction(url="https://x.example"))
    assert not alters_ai_system(ManualAction(instructions="do it"))
    assert not alters_ai_system(PromptfooRegressionAction(evidence="traces", provider="echo"))


@pytest.mark.parametrize(("body", "reason"), [
    ('[actions.m]\nkind = "langfuse_prompt_model"\n[services.bot]\nknown_good = { prompt_name = "p" }\n'
     'stabilise = ["m"]', "needs ${known_good_model}"),
    ('[actions.p]\nkind = "redis_purge"\npatterns = ["c:${nope}:*"]', "nope"),
    ('[actions.p]\nkind = "redis_purge"\npatterns = ["c:*"]\nfreeze = "sometimes"', "freeze"),
    ('[actions.f]\nkind = "unleash_flag"\nfeature = "x"', "base_url"),
])
def test_a_bad_mitigation_is_refused_when_the_playbook_loads(body: str, reason: str) -> None:
    with pytest.raises(PlaybookError, match=reason.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        parse_playbook(ROSTER + "\n" + body)


def test_a_chat_prompt_gets_a_new_version_with_the_known_good_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_langfuse(monkeypatch) as fake:
        fake.add_prompt("chat", "unused", ["production"], config={"model": "bad-model"})
        messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "{{question}}"}]
        fake.prompts["chat"][0].update(type="chat", prompt=messages)
        action = LangfusePromptModelAction(prompt_name="chat", model="good-model", base_url=fake.url)
        applied = backend_for("langfuse_prompt_model").apply(action, {}, "inc/INC-1/stabilise/m")
        assert applied.changed and applied.restore == {"restore_version": 1, "expect_version": 2}
        new = fake.prompts["chat"][1]
        assert (new["type"], new["config"], fake.label_versions("chat", "production")) == (
            "chat", {"model": "good-model"}, [2])
        assert [{k: m[k] for k in ("role", "content")} for m in new["prompt"]] == messages
        again = backend_for("langfuse_prompt_model").apply(action, {}, "inc/INC-1/stabilise/m")
        assert not again.changed and len(fake.prompts["chat"]) == 2
