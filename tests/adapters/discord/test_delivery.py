"""Streaming, rate limits, gateway resume and slash commands through the fake Discord."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from core.engine import Conversation, DialogueEngine
from tests.adapters.discord.conftest import ALICE, DM, GENERAL, GUILD, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord


class SlowEngine(DialogueEngine):
    """Streams the words of a fixed answer with a pause between them."""

    def __init__(self, words: list[str], pause_s: float) -> None:
        self.words, self.pause_s = words, pause_s

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        for word in self.words:
            await asyncio.sleep(self.pause_s)
            yield word


async def test_streamed_reply_edits_one_message_within_throttle(fake: FakeDiscord) -> None:
    words = [f"w{i} " for i in range(20)]
    bot = await start_bot(fake, engine=SlowEngine(words, 0.06), stream_edit_interval_s=0.3)
    try:
        await fake.message(DM, ALICE, "stream please")
        final = "".join(words).strip()
        await fake.wait_for(lambda: any((s.json or {}).get("content") == final for s in fake.sent if s.method == "PATCH"))
        posts = fake.messages(DM)
        edits = [s for s in fake.sent if s.method == "PATCH"]
        assert len(posts) == 1  # one message, grown by edits
        assert len({s.path for s in edits}) == 1 and len(edits) >= 2
        writes = [posts[0].at] + [s.at for s in edits]
        gaps = [b - a for a, b in itertools.pairwise(writes)]
        assert min(gaps) >= 0.29, gaps  # never faster than the throttle
        contents = [posts[0].json["content"]] + [s.json["content"] for s in edits]
        assert all(final.startswith(c) for c in contents) and contents[-1] == final
    finally:
        await bot.stop()


async def test_429_on_message_route_still_delivers_once(fake: FakeDiscord) -> None:
    fake.fail_next[("POST", f"/channels/{DM}/messages")] = 1
    bot = await start_bot(fake)
    try:
        await fake.message(DM, ALICE, "through the limit")
        await fake.wait_for(lambda: fake.messages(DM))
        await asyncio.sleep(0.5)
        limited = [s for s in fake.sent if s.rate_limited]
        assert len(limited) == 1
        assert [s.json["content"] for s in fake.messages(DM)] == ["through the limit"]
        assert fake.messages(DM)[0].at - limited[0].at >= fake.retry_after * 0.9  # waited retry_after
    finally:
        await bot.stop()


async def test_forced_gateway_close_resumes_without_loss_or_repeat(fake: FakeDiscord) -> None:
    bot = await start_bot(fake)
    try:
        await fake.message(DM, ALICE, "one")
        await fake.wait_for(lambda: len(fake.messages(DM)) == 1)
        await fake.force_close(4000)
        await fake.message(DM, ALICE, "two")  # sent while the socket is down: replayed on RESUME
        await fake.message(DM, ALICE, "three")
        await fake.wait_for(lambda: len(fake.messages(DM)) >= 3, timeout=15)
        await asyncio.sleep(0.5)
        assert fake.resumes == 1 and fake.identifies == 1
        assert [s.json["content"] for s in fake.messages(DM)] == ["one", "two", "three"]
    finally:
        await bot.stop()


async def test_slash_commands_synced_and_ask_is_deferred_then_followed_up(fake: FakeDiscord) -> None:
    bot = await start_bot(fake)
    try:
        (sync,) = [s for s in fake.sent if s.method == "PUT"]
        assert sync.path.endswith(f"/guilds/{GUILD}/commands")
        assert {c["name"] for c in sync.json} == {"ask", "voice", "voices", "reset", "join", "leave", "say", "skip"}
        data = await fake.interaction("ask", {"question": "what is up"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        hook = await fake.wait_for(lambda: [s for s in fake.sent if s.path.startswith("/webhooks/")])
        (callback,) = [s for s in fake.sent if s.path.startswith(f"/interactions/{data['id']}/")]
        assert callback.json["type"] == 5 and callback.at <= hook[0].at  # deferred first
        assert hook[0].json["content"] == "what is up"
        assert not fake.messages(GENERAL)  # answered as a follow-up, not a channel message
    finally:
        await bot.stop()
