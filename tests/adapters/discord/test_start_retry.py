"""A failed start leaves nothing open, and the same adapter object can be started again."""

from __future__ import annotations

import asyncio
import gc
import socket
import traceback
import warnings

import aiohttp
import discord
import pytest

from adapters.discord.errors import DiscordUnreachable, LoginRefused
from tests.adapters.discord.conftest import ALICE, DM, Bot, build_bot
from tests.adapters.discord.fake_discord import FakeDiscord

TOKEN = "test-token"


def open_sessions() -> list[aiohttp.ClientSession]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]


def assert_nothing_left(before: set[asyncio.Task], caplog: pytest.LogCaptureFixture) -> None:
    """No HTTP session still open, no task of the adapter still alive, no 'Unclosed' complaint."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert not open_sessions()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
    assert not leaked, leaked


def assert_no_token(exc: BaseException) -> None:
    assert TOKEN not in "".join(traceback.format_exception(exc))


async def answered_after_retry(bot: Bot) -> None:
    await bot.adapter.start()
    await bot.fake.message(DM, ALICE, "after the retry")
    await bot.fake.wait_for(lambda: [s for s in bot.fake.messages(DM) if s.json["content"] == "after the retry"])


async def test_login_401_raises_clear_error_cleans_up_and_second_start_works(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse_token = True
    bot = await build_bot(fake, token=TOKEN)
    before = asyncio.all_tasks()
    try:
        with pytest.raises(LoginRefused) as failed:
            await bot.adapter.start()
        assert isinstance(failed.value, discord.LoginFailure)
        assert "refused the bot token" in str(failed.value)
        assert_no_token(failed.value)
        await bot.adapter.stop()
        assert_nothing_left(before, caplog)
        fake.refuse_token = False
        await answered_after_retry(bot)
    finally:
        await bot.stop()
    assert fake.identifies == 1


async def test_unreachable_rest_api_raises_clear_error_cleans_up_and_second_start_works(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    bot = await build_bot(fake, token=TOKEN, api_base_url=f"http://127.0.0.1:{dead}/api/v10")
    before = asyncio.all_tasks()
    try:
        with pytest.raises(DiscordUnreachable) as failed:
            await bot.adapter.start()
        assert f"127.0.0.1:{dead}" in str(failed.value)
        assert_no_token(failed.value)
        await bot.adapter.stop()
        assert_nothing_left(before, caplog)
        bot.adapter.config = bot.adapter.config.model_copy(update={"api_base_url": fake.api_base})
        await answered_after_retry(bot)
    finally:
        await bot.stop()
