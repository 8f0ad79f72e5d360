"""Two Discord bots with different endpoints in one process: each client talks to its own server only."""

from __future__ import annotations

import discord
from discord.http import Route

from tests.adapters.discord.conftest import ALICE, GENERAL, GUILD, start_bot
from tests.adapters.discord.fake_discord import BOT_ID, FakeDiscord, user
from tests.adapters.discord.test_skipped import hook_posts

MENTION = user(BOT_ID, "voicebot", True)


async def test_two_bots_with_their_own_endpoints_answer_through_their_own_server() -> None:
    """Regression: the adapter set discord.py's process-wide REST base and gateway, so the last bot won."""
    base, gateway = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fakes = [FakeDiscord(), FakeDiscord()]
    bots = []
    try:
        for fake in fakes:
            fake.add_guild(GUILD, {GENERAL: "general"}, members=[ALICE])
            await fake.start()
            bots.append(await start_bot(fake))
        assert (Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == (base, gateway), "no global was set"
        for i, fake in enumerate(fakes):
            await fake.message(GENERAL, ALICE, f"<@{BOT_ID}> hello {i}", guild_id=GUILD, mentions=[MENTION])
        for i, fake in enumerate(fakes):
            posts = await fake.wait_for(lambda f=fake: [s for s in f.messages(GENERAL) if s.json and s.json.get("content")])
            assert [p.json["content"] for p in posts] == [f"hello {i}"], f"bot {i} answered through the wrong server"
        # interaction responses and follow-ups use discord.py's webhook adapter: they must follow the client too
        data = await fakes[1].interaction("ask", {"question": "slash"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        (follow_up,) = await fakes[1].wait_for(lambda: hook_posts(fakes[1], data))
        assert follow_up.json["content"] == "slash"
        assert not [s for s in fakes[0].sent if "interactions" in s.path or s.path.startswith("/webhooks/")]
        assert all(f.identifies == 1 for f in fakes), "each bot opened its gateway on its own server"
    finally:
        for bot in bots:
            await bot.stop()
        for fake in fakes:
            await fake.stop()
