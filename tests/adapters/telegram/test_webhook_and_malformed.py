"""Webhook mode with a secret token; malformed updates are logged and skipped while the bot keeps running."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from pydantic import ValidationError

from adapters.telegram.config import WEBHOOK_SECRET, TelegramConfig
from adapters.telegram.connection import SECRET_HEADER
from tests.adapters.telegram.fake_bot_api import message_json
from tests.redis_server import free_port


async def test_webhook_accepts_secret_and_refuses_without(bot_factory, api):
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    webhook = {"listen": "127.0.0.1", "port": port, "path": "/tg-hook", "url": url, "secret": "s3cret-token"}
    async with bot_factory(mode="webhook", webhook=webhook):
        assert api.webhook_url == url and api.webhook_secret == "s3cret-token"
        assert not [c for c in api.calls if c.method == "getUpdates"]
        api.inject_message(901, "through the webhook")
        await api.wait_for(lambda: api.texts(901) == ["through the webhook"])
        forged = json.dumps({"update_id": 5000, "message": message_json(902, "forged")})
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=forged, headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 403
            async with session.post(url, data=forged, headers={SECRET_HEADER: "wrong"}) as resp:
                assert resp.status == 403
            async with session.post(url, data=forged, headers={SECRET_HEADER: "s3cret-token"}) as resp:
                assert resp.status == 200
        await api.wait_for(lambda: api.texts(902) == ["forged"])
        await asyncio.sleep(0.2)
        assert api.texts(902) == ["forged"], "the refused requests were not processed"


async def post_forged(url: str, chat_id: int, headers: dict[str, str]) -> int:
    """POST a made-up update to our endpoint; returns the HTTP status."""
    forged = json.dumps({"update_id": 6000 + chat_id, "message": message_json(chat_id, "forged")})
    headers = {"Content-Type": "application/json", **headers}
    async with aiohttp.ClientSession() as session, session.post(url, data=forged, headers=headers) as resp:
        return resp.status


@pytest.mark.parametrize("configured", ["", None], ids=["empty-env-var", "omitted"])
async def test_webhook_without_configured_secret_generates_one_and_refuses_unauthenticated(
    bot_factory, api, caplog, configured
):
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    webhook = {"listen": "127.0.0.1", "port": port, "path": "/tg-hook", "url": url}
    if configured is not None:
        webhook["secret"] = configured  # what ``secret: ${TELEGRAM_WEBHOOK_SECRET}`` gives with the variable unset
    async with bot_factory(mode="webhook", webhook=webhook):
        generated = api.webhook_secret
        assert len(generated) >= 32 and WEBHOOK_SECRET.fullmatch(generated), "a strong secret went to setWebhook"
        assert "generated a random secret" in caplog.text and generated not in caplog.text
        api.inject_message(921, "pushed by telegram")  # the fake pushes with the header it was given
        await api.wait_for(lambda: api.texts(921) == ["pushed by telegram"])
        assert await post_forged(url, 922, {}) == 403
        assert await post_forged(url, 922, {SECRET_HEADER: ""}) == 403
        assert await post_forged(url, 922, {SECRET_HEADER: "wrong"}) == 403
        assert await post_forged(url, 922, {SECRET_HEADER: "wr\u00f6ng"}) == 403  # non-ASCII must not crash the check
        await asyncio.sleep(0.3)
        assert api.texts(922) == [], "unauthenticated updates were not processed"


@pytest.mark.parametrize("bad", ["has space", "semi;colon", "x" * 257, "ünïcode"])
def test_webhook_secret_outside_telegrams_alphabet_fails_config_validation(bad):
    config = {"token": "1:x", "mode": "webhook", "webhook": {"url": "https://bot.example.org/tg", "secret": bad}}
    with pytest.raises(ValidationError) as caught:
        TelegramConfig.model_validate(config)
    message = str(caught.value)
    assert "telegram.webhook.secret must be 1-256 characters of A-Z, a-z, 0-9" in message
    assert bad not in message, "the refused secret is not echoed into logs"
    ok = TelegramConfig.model_validate({**config, "webhook": {**config["webhook"], "secret": "A-z_09" * 40}})
    assert ok.webhook.secret is not None


async def test_malformed_updates_are_skipped_and_the_bot_keeps_running(bot_factory, api, caplog):
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    async with bot_factory() as h:
        api.inject({"message": {"message_id": 1}})  # no chat, no date
        api.inject({"message": "not an object"})
        api.inject({"some_future_update_type": {"x": 1}})
        api.inject({"message": {**message_json(911, "bad date"), "date": "yesterday"}})
        api.inject_message(912, "y" * 100_000)  # huge text
        bad_name = b'{"message": {"message_id": 77, "date": 1700000000, "chat": {"id": 913, "type": "private", "first_name": "U"}, "from": {"id": 913, "is_bot": false, "first_name": "U"}, "audio": {"file_id": "A1", "file_unique_id": "ua", "duration": 2, "file_name": "caf\xff\xfe.mp3"}, "caption": "bad bytes"}}'
        api.inject(bad_name)
        api.inject({"message": {**message_json(914, None), "audio": {"file_id": "A2", "file_unique_id": "ub", "duration": 2, "file_name": "lone\udcff.mp3"}, "caption": "lone surrogate"}})
        api.inject_message(915, "still alive")
        await api.wait_for(lambda: api.texts(915) == ["still alive"], timeout=10)
        await api.wait_for(lambda: api.texts(912) and api.texts(913) and api.texts(914))
        assert "too long" in api.texts(912)[0]
        assert api.texts(913) == ["bad bytes"] and api.texts(914) == ["lone surrogate"]
        assert h.adapter.skipped_updates >= 2
        assert "malformed update" in caplog.text
