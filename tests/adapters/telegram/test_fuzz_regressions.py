"""Regressions found by fuzzing the Telegram adapter (issue 19): bad ids, other bots, lone surrogates."""

from __future__ import annotations

import json
import logging

import pytest

from tests.adapters.telegram.fake_bot_api import message_json


@pytest.mark.parametrize("bad_id", ["", "x", 1.5, None, [1, 2], True, {"id": 1}], ids=repr)
async def test_bad_chat_id_is_skipped_at_translation_with_one_warning(bot_factory, api, caplog, bad_id):
    caplog.set_level(logging.DEBUG)
    async with bot_factory() as h:
        msg = message_json(501, "bad id")
        msg["chat"]["id"] = bad_id
        api.inject({"message": msg})
        api.inject_message(502, "after the bad one")
        await api.wait_for(lambda: api.texts(502) == ["after the bad one"])
        await h.pipeline.idle()
    assert h.adapter.skipped_updates == 1
    assert h.pipeline.handled == 1  # the bad update never reached the pipeline
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "chat.id" in problems[0].getMessage(), [r.getMessage() for r in problems]
    assert not [r for r in caplog.records if r.exc_info]


async def test_string_message_id_is_skipped_too(bot_factory, api):
    async with bot_factory() as h:
        api.inject({"message": message_json(503, "x", message_id="12")})  # type: ignore[arg-type]
        api.inject_message(504, "next")
        await api.wait_for(lambda: api.texts(504) == ["next"])
    assert h.adapter.skipped_updates == 1


def _from_bot(chat_id: int, text: str) -> dict:
    msg = message_json(chat_id, text, user_id=9001)
    msg["from"] = {"id": 9001, "is_bot": True, "first_name": "OtherBot", "username": "other_bot"}
    return {"message": msg}


async def test_messages_from_other_bots_are_ignored_by_default(bot_factory, api):
    async with bot_factory() as h:
        for i in range(5):
            api.inject(_from_bot(601, f"ping {i}"))
        api.inject_message(602, "human")
        await api.wait_for(lambda: api.texts(602) == ["human"])
        await h.pipeline.idle()
    assert api.texts(601) == []
    assert h.pipeline.handled == 1


async def test_messages_from_other_bots_are_answered_when_configured(bot_factory, api):
    async with bot_factory(ignore_bots=False):
        api.inject(_from_bot(603, "ping"))
        await api.wait_for(lambda: api.texts(603) == ["ping"])


async def test_lone_surrogate_in_a_telegram_message_is_answered_replaced(bot_factory, api):
    async with bot_factory():
        body = json.dumps({"message": message_json(604, "PLACEHOLDER")}).replace("PLACEHOLDER", "hi \\ud800 you")
        api.inject(body.encode())
        await api.wait_for(lambda: api.texts(604) == ["hi \ufffd you"])
