"""Messages the pipeline deliberately leaves unanswered (``ReplySkipped``) through the fake Discord."""

from __future__ import annotations

import logging
import time

import pytest

from adapters.discord.adapter import SKIP_NOTES
from core.model import Addressed, Chat, ChatKind, MessageRef, ReplyDelta, ReplySkipped, ReplyTarget
from core.pipeline.settings import AccessRules, FloodLimits, PipelineSettings
from tests.adapters.discord.conftest import ALICE, DM, GENERAL, GUILD, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord, Sent

EPHEMERAL = 64


def hook_posts(fake: FakeDiscord, data: dict) -> list[Sent]:
    """Follow-ups posted with the interaction's token."""
    return [s for s in fake.sent if s.method == "POST" and s.path.startswith("/webhooks/") and data["token"] in s.path]


def original_deleted(fake: FakeDiscord, data: dict) -> list[Sent]:
    return [s for s in fake.sent if s.method == "DELETE" and s.path.endswith(f"{data['token']}/messages/@original")]


async def test_flood_dropped_slash_command_gets_ephemeral_note_not_endless_thinking(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    window_s = 3600.0  # fixed windows: a boundary inside this test is practically impossible
    bot = await start_bot(fake, pipeline=PipelineSettings(flood=FloodLimits(per_user=1, per_chat=0, window_s=window_s)))
    try:
        window = int(time.time() // window_s)  # the flood notice window is wall-clock (shared by workers)
        for w in (window, window + 1):  # the one flood notice was already given: the next excess is dropped silently
            await bot.pipeline.services.dedupe.claim(f"t:flood:user:discord:{ALICE['id']}:notice:{w}", 2 * window_s)
        caplog.set_level(logging.WARNING)
        first = await fake.interaction("ask", {"question": "first question"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        await fake.wait_for(lambda: hook_posts(fake, first))
        assert hook_posts(fake, first)[0].json["content"] == "first question"
        second = await fake.interaction("ask", {"question": "too fast"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        (note,) = await fake.wait_for(lambda: hook_posts(fake, second))
        assert note.json["content"] == SKIP_NOTES["flood"]
        assert note.json["flags"] & EPHEMERAL
        # the public "thinking…" message is removed first: a first follow-up after a public defer cannot be ephemeral
        (deleted,) = original_deleted(fake, second)
        assert deleted.at <= note.at
        assert str(second["id"]) not in bot.adapter._interactions  # bookkeeping cleaned up
        assert bot.adapter.skipped == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("adapters", "core"))]
        assert not fake.messages(GENERAL)
    finally:
        await bot.stop()


async def test_denied_user_gets_polite_note_on_slash_command_and_silence_on_messages(fake: FakeDiscord) -> None:
    deny = AccessRules(deny_users=frozenset({f"discord:{ALICE['id']}"}))
    bot = await start_bot(fake, pipeline=PipelineSettings(access=deny))
    try:
        await fake.message(DM, ALICE, "hello?")
        await fake.wait_for(lambda: bot.adapter.skipped >= 1)
        data = await fake.interaction("ask", {"question": "let me in"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        (note,) = await fake.wait_for(lambda: hook_posts(fake, data))
        assert note.json["content"] == "I can't answer you here." == SKIP_NOTES["denied"]
        assert note.json["flags"] & EPHEMERAL
        await bot.adapter.idle()
        assert bot.adapter.skipped == 2
        assert not [s for s in fake.sent if s.path.startswith(f"/channels/{DM}/")]  # no reply, no typing
    finally:
        await bot.stop()


async def test_skipped_message_closes_its_stream_state(fake: FakeDiscord) -> None:
    bot = await start_bot(fake, stream_edit_interval_s=0.2)
    try:
        ref = MessageRef("discord", str(DM), "4242")
        target = ReplyTarget("dc", Chat(str(DM), ChatKind.PRIVATE, ""), ref, Addressed.PRIVATE)
        await bot.adapter.deliver(ReplyDelta("r1", target, 0, "partial answer"))
        await bot.adapter.deliver(ReplySkipped(target, "unanswered"))
        await bot.adapter.idle()
        assert not bot.adapter._streams  # nothing left waiting for a ReplyDone that never comes
        assert [s.json["content"] for s in fake.messages(DM)] == ["partial answer"]  # shown once, not re-posted
    finally:
        await bot.stop()
