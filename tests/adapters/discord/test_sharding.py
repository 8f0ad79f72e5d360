"""A gateway process runs its share of the Discord shards (scale-out)."""

from __future__ import annotations

from tests.adapters.discord.conftest import start_bot
from tests.adapters.discord.fake_discord import FakeDiscord


def command_syncs(fake: FakeDiscord) -> list[object]:
    return [s for s in fake.sent if s.method == "PUT" and s.path.endswith("/commands")]


async def test_gateway_identifies_only_its_shards_and_leaves_command_sync_to_shard_0(fake: FakeDiscord) -> None:
    bot = await start_bot(fake, shard_count=4, shard_ids=[3])
    try:
        assert [p["shard"] for p in fake.identify_payloads] == [[3, 4]]
        assert command_syncs(fake) == []
    finally:
        await bot.stop()


async def test_the_gateway_with_shard_0_syncs_the_slash_commands(fake: FakeDiscord) -> None:
    bot = await start_bot(fake, shard_count=2, shard_ids=[0])
    try:
        assert [p["shard"] for p in fake.identify_payloads] == [[0, 2]]
        assert len(command_syncs(fake)) == 1
    finally:
        await bot.stop()
