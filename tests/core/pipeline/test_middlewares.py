"""Each middleware's behaviour, through a real pipeline."""

from __future__ import annotations

from core.pipeline.settings import AccessRules, FloodLimits
from tests.harness import Harness, ScriptedEngine, message, with_settings


async def test_dedupe_answers_a_repeated_message_id_once() -> None:
    async with Harness([ScriptedEngine(["once"])]) as h:
        await h.send(message("hi", message_id="42"), message("hi", message_id="42"))
    assert h.texts() == ["once"]


async def test_oversized_message_gets_clear_notice_not_engine() -> None:
    engine = ScriptedEngine(["should not run"])
    async with Harness([engine], settings=with_settings(max_input_chars=1000)) as h:
        await h.send(message("x" * 100_000))
    assert len(h.texts()) == 1
    assert "too long" in h.texts()[0] and "100,000" in h.texts()[0]
    assert h.done()[0].notice
    assert engine.seen == []


async def test_empty_and_whitespace_messages_get_a_prompt() -> None:
    engine = ScriptedEngine(["x"])
    async with Harness([engine]) as h:
        await h.send(message(""), message("   \n\t "))
    assert len(h.texts()) == 2
    assert all(d.notice for d in h.done())
    assert engine.seen == []


async def test_flood_control_sends_one_notice_then_drops_excess() -> None:
    settings = with_settings(flood=FloodLimits(per_user=3, per_chat=100, window_s=60))
    async with Harness([ScriptedEngine(["ok"])], settings=settings) as h:
        await h.send(*[message(f"m{i}") for i in range(8)])
    texts = h.texts()
    assert texts[:3] == ["ok", "ok", "ok"]
    notices = [t for t in texts if "faster than I can keep up" in t]
    assert len(notices) == 1
    assert len(texts) == 4


async def test_flood_control_per_chat_limits_many_users() -> None:
    settings = with_settings(flood=FloodLimits(per_user=100, per_chat=2, window_s=60))
    async with Harness([ScriptedEngine(["ok"])], settings=settings) as h:
        await h.send(*[message("m", user=f"u{i}") for i in range(5)])
    assert h.texts().count("ok") == 2


async def test_deny_list_blocks_user_silently() -> None:
    rules = AccessRules(deny_users=frozenset({"test:bad"}))
    async with Harness([ScriptedEngine(["ok"])], settings=with_settings(access=rules)) as h:
        await h.send(message("hi", user="bad"), message("hi", user="good"))
    assert h.texts() == ["ok"]


async def test_allow_list_of_chats() -> None:
    rules = AccessRules(allow_chats=frozenset({"test:vip"}))
    async with Harness([ScriptedEngine(["ok"])], settings=with_settings(access=rules)) as h:
        await h.send(message("hi", chat="vip"), message("hi", chat="other"))
    assert [d.target.chat.id for d in h.done()] == ["vip"]


async def test_admin_only_command_refused_for_others_allowed_for_admin() -> None:
    rules = AccessRules(admins=frozenset({"test:boss"}), admin_commands=frozenset({"reset"}))
    async with Harness([ScriptedEngine(["ok"])], settings=with_settings(access=rules)) as h:
        await h.send(message("/reset", user="pleb"))
        await h.send(message("/reset", user="boss"))
    assert "admins only" in h.texts()[0]
    assert "forgotten" in h.texts()[1]
