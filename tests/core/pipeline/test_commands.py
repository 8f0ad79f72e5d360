"""Built-in commands and command parsing."""

from __future__ import annotations

from core.pipeline.commands import CommandRouter, parse_command
from core.pipeline.middlewares import AddressedOnly, Dedupe, Validate
from core.pipeline.pipeline import Pipeline
from tests.harness import Harness, ScriptedEngine, message


def test_parse_command_variants() -> None:
    assert parse_command("/help") is not None and parse_command("/help").name == "help"
    parsed = parse_command("/Voice@MyBot on")
    assert parsed is not None and (parsed.name, parsed.args, parsed.bot) == ("voice", "on", "MyBot")
    assert parse_command("hello /help") is None
    assert parse_command("/") is None
    assert parse_command("//etc/passwd") is None


async def test_start_and_help() -> None:
    async with Harness([ScriptedEngine(["x"])]) as h:
        await h.send(message("/start"), message("/help"))
    assert h.texts()[0] == "Hello from Tess."
    assert "/reset" in h.texts()[1] and "/voice" in h.texts()[1]


async def test_reset_forgets_this_chat_only() -> None:
    engine = ScriptedEngine(["ack"])
    async with Harness([engine]) as h:
        await h.send(message("remember me", chat="a"), message("other", chat="b"))
        await h.send(message("/reset", chat="a"))
        await h.send(message("again", chat="a"), message("again", chat="b"))
    by_chat = {c.message.chat.id: c for c in engine.seen[-2:]}
    assert by_chat["a"].turns == ()
    assert [t.text for t in by_chat["b"].turns] == ["other", "ack"]


async def test_voice_on_off_is_stored_per_chat() -> None:
    async with Harness([ScriptedEngine(["x"])]) as h:
        await h.send(message("/voice on", chat="a"))
        stored_a = await h.services.settings.get("testbot:test:a")
        await h.send(message("/voice off", chat="a"), message("/voice", chat="b"))
        stored_a2 = await h.services.settings.get("testbot:test:a")
    assert stored_a["voice"] is True
    assert stored_a2["voice"] is False
    assert "off" in h.texts()[-1]


async def test_voice_rate_validated() -> None:
    async with Harness([ScriptedEngine(["x"])]) as h:
        await h.send(message("/voice rate 9"), message("/voice rate 1.25"))
        stored = await h.services.settings.get("testbot:user:test:u1")
    assert "between" in h.texts()[0]
    assert stored["voice_rate"] == 1.25


async def test_voice_on_off_is_per_chat_but_voice_and_rate_follow_the_user() -> None:
    from core.pipeline.context import Context
    from core.pipeline.voiceprefs import resolve

    async with Harness([ScriptedEngine(["x"])]) as h:
        await h.send(message("/voice on", chat="group", user="ann"), message("/voice rate 1.5", chat="group", user="ann"))
        await h.send(message("/voice somevoice", chat="dm-ann", user="ann"))
        ann_in_group = await resolve(Context(message("x", chat="group", user="ann"), h.services, h.bus), "en")
        bob_in_group = await resolve(Context(message("x", chat="group", user="bob"), h.services, h.bus), "en")
        ann_elsewhere = await resolve(Context(message("x", chat="other", user="ann"), h.services, h.bus), "en")
    assert (ann_in_group.enabled, ann_in_group.voice, ann_in_group.rate) == (True, "somevoice", 1.5)
    assert (bob_in_group.enabled, bob_in_group.voice, bob_in_group.rate) == (True, "", 1.0)
    assert (ann_elsewhere.enabled, ann_elsewhere.voice) == (False, "somevoice")


async def test_unknown_command_gets_hint_and_no_dialogue() -> None:
    engine = ScriptedEngine(["x"])
    async with Harness([engine]) as h:
        await h.send(message("/frobnicate"))
    assert "Try /help" in h.texts()[0]
    assert engine.seen == []


async def test_command_for_another_bot_is_ignored() -> None:
    async with Harness([ScriptedEngine(["x"])]) as h:
        h.pipeline.handler = Pipeline(
            h.services, h.bus, [AddressedOnly(), Dedupe(), Validate(), CommandRouter(bot_username="tessbot")]
        ).handler
        await h.send(message("/help@otherbot"), message("/help@TessBot"))
    assert len(h.texts()) == 1 and "Commands" in h.texts()[0]
