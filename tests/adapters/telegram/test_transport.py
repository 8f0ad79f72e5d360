"""AiohttpRequest: python-telegram-bot's Bot over aiohttp against the fake Bot API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Bot, InputFile, ReplyParameters
from telegram.error import NetworkError, TimedOut

from adapters.telegram.transport import AiohttpRequest
from tests.adapters.telegram.fake_bot_api import TOKEN, FakeBotApi


def _bot(api: FakeBotApi, **kw: Any) -> Bot:
    return Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url, request=AiohttpRequest(**kw))


async def test_json_fields_and_files_arrive_as_the_bot_api_expects(api: FakeBotApi) -> None:
    async with _bot(api) as bot:
        sent = await bot.send_message(-1001, "hi <b>there</b>", parse_mode="HTML", reply_parameters=ReplyParameters(message_id=5))
        await bot.send_voice(7, InputFile(b"OggS-data", filename="reply.ogg"), duration=3)
    assert sent.text == "hi there" and sent.chat.id == -1001
    message, voice = api.answered("sendMessage")[0], api.answered("sendVoice")[0]
    assert message.params["reply_parameters"] == {"message_id": 5} and message.params["parse_mode"] == "HTML"
    assert voice.params["duration"] == 3 and voice.files["voice"].data == b"OggS-data"
    assert voice.files["voice"].filename == "reply.ogg"


async def test_slow_answer_is_a_timeout_and_a_dropped_connection_a_network_error(api: FakeBotApi) -> None:
    api.fail_next("slow", 1, {"sendMessage"}, delay_s=1.0)
    api.fail_next("drop", 1, {"sendChatAction"})
    async with _bot(api, read_timeout=0.2) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(1, "late")
        with pytest.raises(NetworkError):
            await bot.send_chat_action(1, "typing")
        assert (await bot.send_message(1, "again")).text == "again", "the session works on after both"


async def test_connections_bounded_by_pool_size(api: FakeBotApi) -> None:
    api.fail_share("slow", 1.0, {"sendMessage"}, delay_s=0.2)
    async with _bot(api, connection_pool_size=3, pool_timeout=5.0) as bot:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(9)))
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 0.55, f"9 slow requests over 3 connections take 3 rounds, not {elapsed:.2f}s"
