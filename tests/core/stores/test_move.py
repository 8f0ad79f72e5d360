"""Moving a chat's history and settings to a new key (a group that became a supergroup), on every store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from core.distributed.redis_stores import RedisConnection, RedisConversationStore, RedisSettingsStore
from core.memory import ChatMemory
from core.model import Turn
from core.stores.base import ConversationStore, SettingsStore
from core.stores.memory import MemoryConversationStore, MemorySettingsStore
from core.stores.sqlite import SqliteConversationStore, SqliteDatabase, SqliteSettingsStore
from tests.redis_server import RedisServer

Stores = tuple[ConversationStore, SettingsStore]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    kind = request.param
    history: ConversationStore
    settings: SettingsStore
    if kind == "memory":
        history, settings = MemoryConversationStore(max_turns=4), MemorySettingsStore()
    elif kind == "sqlite":
        db = SqliteDatabase(tmp_path / "move.sqlite3")
        history, settings = SqliteConversationStore(db, max_turns=4), SqliteSettingsStore(db)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        connection = RedisConnection(server.url, "move")
        history, settings = RedisConversationStore(connection, max_turns=4), RedisSettingsStore(connection)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(history)
        await stack.enter_async_context(settings)
        yield history, settings


async def test_history_moves_before_the_new_chats_own_turns_within_the_bound(stores: Stores) -> None:
    history, _ = stores
    await history.append("telegram:-1", Turn("user", "a", 1.0), Turn("bot", "b", 2.0), Turn("user", "c", 3.0))
    await history.append("telegram:-100", Turn("user", "later", 4.0), Turn("bot", "latest", 5.0))
    assert await history.move("telegram:-1", "telegram:-100") == 3
    assert [t.text for t in await history.recent("telegram:-100")] == ["b", "c", "later", "latest"]
    assert await history.recent("telegram:-1") == []
    assert await history.move("telegram:-1", "telegram:-100") == 0  # a second notice moves nothing
    assert [t.text for t in await history.recent("telegram:-100")] == ["b", "c", "later", "latest"]


async def test_settings_and_facts_move_and_values_set_in_the_new_chat_win(stores: Stores) -> None:
    _, settings = stores
    await settings.update("bot:telegram:-1", {"voice": True, "voice_rate": 1.5})
    await settings.update("bot:telegram:-100", {"voice_rate": 0.8})
    assert await settings.move("bot:telegram:-1", "bot:telegram:-100") == 2
    assert await settings.get("bot:telegram:-100") == {"voice": True, "voice_rate": 0.8}
    assert not {k: v for k, v in (await settings.get("bot:telegram:-1")).items() if v is not None}
    assert await settings.move("bot:telegram:-1", "bot:telegram:-100") == 0

    memory = ChatMemory(settings)
    await memory.remember("telegram:-1", name="Sam", home="Lyon")
    assert await memory.move("telegram:-1", "telegram:-100") == 2
    assert await memory.facts("telegram:-100") == {"name": "Sam", "home": "Lyon"}
    assert await memory.facts("telegram:-1") == {}
