"""SQLite stores: bounded history, persistence across restarts, settings merge, dedupe."""

from __future__ import annotations

from pathlib import Path

from core.model import Turn
from core.stores.sqlite import SqliteConversationStore, SqliteDatabase, SqliteDedupeStore, SqliteSettingsStore


async def test_history_bounded_and_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "bots.sqlite3"
    store = SqliteConversationStore(SqliteDatabase(path), max_turns=3)
    async with store:
        for i in range(5):
            await store.append("chat", Turn("user", f"t{i}"))
        await store.append("other", Turn("user", "x"))
    again = SqliteConversationStore(SqliteDatabase(path), max_turns=3)
    async with again:
        assert [t.text for t in await again.recent("chat")] == ["t2", "t3", "t4"]
        assert [t.text for t in await again.recent("chat", 2)] == ["t3", "t4"]
        await again.clear("chat")
        assert await again.recent("chat") == []
        assert [t.text for t in await again.recent("other")] == ["x"]


async def test_settings_merge_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SqliteSettingsStore(SqliteDatabase(path)) as store:
        assert await store.get("a") == {}
        await store.update("a", {"voice": True})
        assert await store.update("a", {"voice_name": "joe"}) == {"voice": True, "voice_name": "joe"}
    async with SqliteSettingsStore(SqliteDatabase(path)) as store:
        assert await store.get("a") == {"voice": True, "voice_name": "joe"}


async def test_dedupe_survives_restart_and_expires(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    async with SqliteDedupeStore(SqliteDatabase(path)) as store:
        assert await store.claim("telegram:1:100", 3600) is True
        assert await store.claim("telegram:1:100", 3600) is False
        assert await store.claim("short", -1) is True
    async with SqliteDedupeStore(SqliteDatabase(path)) as store:
        assert await store.claim("telegram:1:100", 3600) is False
        assert await store.claim("short", 3600) is True


async def test_shared_database_stays_open_until_last_user_stops(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    conv, settings = SqliteConversationStore(db), SqliteSettingsStore(db)
    await conv.start()
    await settings.start()
    await conv.stop()
    await settings.update("s", {"k": 1})
    await settings.stop()


async def test_cached_history_matches_database_after_appends_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = SqliteConversationStore(SqliteDatabase(path), max_turns=3, cached_chats=2)
    async with store:
        for chat in ("a", "b", "c"):  # "a" falls out of the cache
            await store.recent(chat)
            await store.append(chat, Turn("user", f"{chat}1"), Turn("bot", f"{chat}2"))
        await store.append("c", Turn("user", "c3"), Turn("bot", "c4"))
        assert [t.text for t in await store.recent("c")] == ["c2", "c3", "c4"]
        assert [t.text for t in await store.recent("a")] == ["a1", "a2"]
        await store.clear("b")
        assert await store.recent("b") == []
    fresh = SqliteConversationStore(SqliteDatabase(path), max_turns=3)
    async with fresh:
        assert [t.text for t in await fresh.recent("c")] == ["c2", "c3", "c4"]
        assert await fresh.recent("b") == []


async def test_history_write_survives_lone_surrogates(tmp_path: Path) -> None:
    """Issue 19: a lone surrogate made the INSERT fail (UnicodeEncodeError) and the turn was lost."""
    path = tmp_path / "bots.sqlite3"
    async with SqliteConversationStore(SqliteDatabase(path)) as store:
        await store.append("chat", Turn("user", "hello \ud800 there", author="n\udc80me"), Turn("bot", "ok"))
        cached = await store.recent("chat")
    async with SqliteConversationStore(SqliteDatabase(path)) as again:
        stored = await again.recent("chat")
    for turns in (cached, stored):
        assert [(t.text, t.author) for t in turns] == [("hello \ufffd there", "n\ufffdme"), ("ok", "")]
