"""A bus that refuses a message (Redis down, the gateway's outbox full): Discord users are told, nothing vanishes."""

from __future__ import annotations

from adapters.discord.adapter import UNAVAILABLE
from tests.adapters.discord.conftest import ALICE, GENERAL, GUILD, start_bot
from tests.adapters.discord.fake_discord import BOT_ID, FakeDiscord, user
from tests.adapters.discord.test_skipped import EPHEMERAL, hook_posts, original_deleted
from tests.harness import RefusingBus

MENTION = user(BOT_ID, "voicebot", True)


def contents(fake: FakeDiscord) -> list[str]:
    return [s.json["content"] for s in fake.messages(GENERAL) if s.json and s.json.get("content")]


async def test_refused_mention_gets_a_notice_and_the_next_one_is_answered(fake: FakeDiscord) -> None:
    bot = await start_bot(fake, bus=RefusingBus(1))
    try:
        await fake.message(GENERAL, ALICE, f"<@{BOT_ID}> first", guild_id=GUILD, mentions=[MENTION])
        await fake.wait_for(lambda: contents(fake) == [UNAVAILABLE])
        await fake.message(GENERAL, ALICE, f"<@{BOT_ID}> second", guild_id=GUILD, mentions=[MENTION])
        await fake.wait_for(lambda: len(contents(fake)) == 2)
        assert contents(fake)[1].endswith("second")
        assert bot.adapter.published == 1
    finally:
        await bot.stop()


async def test_refused_slash_command_ends_with_an_ephemeral_notice(fake: FakeDiscord) -> None:
    bot = await start_bot(fake, bus=RefusingBus(1))
    try:
        data = await fake.interaction("ask", {"question": "hi"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        (note,) = await fake.wait_for(lambda: hook_posts(fake, data))
        assert note.json["content"] == UNAVAILABLE and note.json["flags"] & EPHEMERAL
        assert original_deleted(fake, data)
        assert str(data["id"]) not in bot.adapter._interactions
    finally:
        await bot.stop()
