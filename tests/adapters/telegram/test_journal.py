"""The Telegram inbox journal: confirmed only once on disk, forgotten once answered, replayed after a crash."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.telegram.adapter import MAX_REPLAYS, TelegramAdapter
from adapters.telegram.journal import Journal
from core.bus import InProcessBus
from core.engine import Persona
from core.engines.echo import EchoEngine
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from tests.adapters.telegram.conftest import make_config
from tests.adapters.telegram.fake_bot_api import FakeBotApi, message_json
from tests.redis_server import free_port


@asynccontextmanager
async def journaled_bot(api: FakeBotApi, path: Path, dedupe: MemoryDedupeStore | None = None, **config: Any) -> AsyncIterator[TelegramAdapter]:
    bus = InProcessBus()
    await bus.start()
    services = BotServices(
        "tg", Persona(), EchoEngine(), MemoryConversationStore(), MemorySettingsStore(), dedupe or MemoryDedupeStore(),
        MemoryRateCounter(), config=PipelineSettings(flood=FloodLimits(per_user=0, per_chat=0)),
    )
    pipeline = Pipeline(services, bus)
    adapter = TelegramAdapter("tg-main", bus, make_config(api, **config), journal_path=path)
    await pipeline.start()
    await adapter.start()
    try:
        yield adapter
    finally:
        await pipeline.idle()
        await adapter.stop()
        await pipeline.stop()
        await bus.stop()


async def test_answered_messages_leave_the_journal_and_unaddressed_ones_never_enter(api: FakeBotApi, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    async with journaled_bot(api, path) as adapter:
        api.inject_message(1201, "hello")
        api.inject_message(-1202, "group chatter, not for the bot")
        await api.wait_for(lambda: api.texts(1201) == ["hello"])
        await api.wait_for(lambda: adapter.outboxes is not None and adapter.outboxes.pending == 0)
        assert adapter.journal is not None
        await api.wait_for(lambda: not sqlite3.connect(path).execute("SELECT COUNT(*) FROM inbox").fetchone()[0])


async def test_webhook_answers_200_only_once_the_message_is_journaled(api: FakeBotApi, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    webhook = {"listen": "127.0.0.1", "port": port, "path": "/hook", "url": url, "secret": "s3cret"}
    async with journaled_bot(api, tmp_path / "journal.sqlite3", mode="webhook", webhook=webhook) as adapter:
        journal = adapter.journal
        assert journal is not None
        await journal.stop()  # the disk is gone: nothing may be confirmed
        update_id = api.inject({"message": message_json(1203, "wait for the disk")})
        await api.wait_for(lambda: len([c for c in api.calls if c.method == "getMe"]) and api.webhook_url != "")
        await asyncio.sleep(0.5)
        assert api.webhook_deliveries == [] and api.texts(1203) == []  # refused (503), Telegram keeps it
        await journal.start()
        await api.wait_for(lambda: api.texts(1203) == ["wait for the disk"])
        assert api.webhook_deliveries == [update_id]


async def test_journaled_message_is_answered_at_start_even_though_its_dedupe_key_was_claimed(api: FakeBotApi, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    msg = message_json(1204, "answered before the crash? no")
    raw = {"update_id": 77, "message": msg}
    journal = Journal(path, "tg-main")
    await journal.start()
    assert await journal.add("1204", str(msg["message_id"]), 77, raw)
    await journal.stop()
    dedupe = MemoryDedupeStore()
    await dedupe.claim(f"tg:telegram:1204:{msg['message_id']}", 3600)  # the run that died had claimed it
    async with journaled_bot(api, path, dedupe=dedupe) as adapter:
        await api.wait_for(lambda: api.texts(1204) == ["answered before the crash? no"])
        assert adapter.replayed == 1
        # Telegram hands the unconfirmed update over again: it is not published a second time.
        api.inject(raw | {"message": msg})
        api.inject_message(1204, "next")
        await api.wait_for(lambda: api.texts(1204)[-1:] == ["next"])
    assert api.texts(1204) == ["answered before the crash? no", "next"]


async def test_message_that_never_gets_answered_is_dropped_after_some_replays(api: FakeBotApi, tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, logger="adapters.telegram")
    path = tmp_path / "journal.sqlite3"
    msg = message_json(1205, "crashes the bot every time")
    journal = Journal(path, "tg-main")
    await journal.start()
    await journal.add("1205", str(msg["message_id"]), 78, {"update_id": 78, "message": msg})
    for _ in range(MAX_REPLAYS):
        await journal.pending()
    await journal.stop()
    async with journaled_bot(api, path) as adapter:
        assert adapter.replayed == 0
    assert api.texts(1205) == []
    assert f"replayed {MAX_REPLAYS} times" in caplog.text
    assert not sqlite3.connect(path).execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
