"""A bus that refuses a message (a gateway whose Redis is down and outbox full): Telegram hands it over again."""

from __future__ import annotations

from tests.harness import RefusingBus
from tests.redis_server import free_port


async def test_polling_refetches_an_update_the_bus_refused_and_answers_it_once(bot_factory, api, caplog):
    bus = RefusingBus(2)
    async with bot_factory(bus=bus) as h:
        api.inject_message(801, "are you there")
        await api.wait_for(lambda: api.texts(801) == ["are you there"], timeout=15)
        await h.pipeline.idle()
        assert api.texts(801) == ["are you there"]
        assert h.adapter.poller is not None and h.adapter.poller._task is not None and not h.adapter.poller._task.done()
    assert bus.refused == 2
    assert "not accepted" in caplog.text


async def test_webhook_answers_503_to_a_refused_update_so_telegram_retries(bot_factory, api):
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    webhook = {"listen": "127.0.0.1", "port": port, "path": "/tg-hook", "url": url, "secret": "s3cret-token"}
    bus = RefusingBus(1)
    async with bot_factory(bus=bus, mode="webhook", webhook=webhook) as h:
        api.inject_message(802, "through the webhook")
        await api.wait_for(lambda: api.texts(802) == ["through the webhook"], timeout=15)
        await h.pipeline.idle()
        assert api.texts(802) == ["through the webhook"]
    assert bus.refused == 1
