"""SQLite stores: the single-process default; history, settings and dedupe keys survive restarts.

All SQL runs on one dedicated thread so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from core.errors import StoreError
from core.lifecycle import Resource
from core.model import Turn
from core.sanitize import clean_text
from core.stores.base import ConversationStore, DedupeStore, SettingsStore

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_key TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_chat ON turns (chat_key, id);
CREATE TABLE IF NOT EXISTS settings (scope TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


class SqliteDatabase(Resource):
    """One SQLite file shared by the SQLite stores."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._users = 0

    async def start(self) -> None:
        self._users += 1
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn = await self.run(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users or self._conn is None:
            return
        conn, self._conn = self._conn, None
        await self.run(conn.close)
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._executor = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database thread."""
        if self._executor is None:
            raise StoreError(f"database {self.path} is not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"database {self.path} is not started")
        return self._conn


class SqliteConversationStore(ConversationStore):
    """History in the ``turns`` table, trimmed to the bound on every append.

    Recent histories are also kept in a bounded in-process cache (write-through), so
    reading a chat's history costs no database round trip once the chat is warm. This
    store assumes it is the only writer of its file (the single-process default).
    """

    def __init__(self, db: SqliteDatabase, max_turns: int = 20, cached_chats: int = 10_000) -> None:
        super().__init__(max_turns)
        self.db = db
        self.cached_chats = cached_chats
        self._cache: OrderedDict[str, list[Turn]] = OrderedDict()

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        await self.db.stop()
        self._cache.clear()

    async def append(self, chat_key: str, *turns: Turn) -> None:
        # A lone surrogate cannot be encoded for SQLite: U+FFFD instead, in the cache alike.
        turns = tuple(replace(t, text=clean_text(t.text), author=clean_text(t.author)) for t in turns)

        def write() -> None:
            conn = self.db.conn
            with conn:
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO turns (chat_key, role, text, author, at) VALUES (?, ?, ?, ?, ?)",
                    [(chat_key, t.role, t.text, t.author, t.at) for t in turns],
                )
                conn.execute(
                    "DELETE FROM turns WHERE chat_key = ? AND id <= ("
                    " SELECT id FROM turns WHERE chat_key = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (chat_key, chat_key, self.max_turns),
                )

        await self.db.run(write)
        cached = self._cache.get(chat_key)
        if cached is not None:
            cached.extend(turns)
            del cached[: -self.max_turns]
            self._cache.move_to_end(chat_key)

    async def recent(self, chat_key: str, limit: int | None = None) -> list[Turn]:
        n = min(limit or self.max_turns, self.max_turns)
        cached = self._cache.get(chat_key)
        if cached is None:

            def read() -> list[Turn]:
                rows = self.db.conn.execute(
                    "SELECT role, text, at, author FROM turns WHERE chat_key = ? ORDER BY id DESC LIMIT ?",
                    (chat_key, self.max_turns),
                ).fetchall()
                return [Turn(role=r[0], text=r[1], at=r[2], author=r[3]) for r in reversed(rows)]

            cached = await self.db.run(read)
            self._cache[chat_key] = cached
            if len(self._cache) > self.cached_chats:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(chat_key)
        return list(cached[-n:])

    async def clear(self, chat_key: str) -> None:
        self._cache.pop(chat_key, None)
        await self.db.run(lambda: self.db.conn.execute("DELETE FROM turns WHERE chat_key = ?", (chat_key,)))


class SqliteSettingsStore(SettingsStore):
    """Settings as JSON in the ``settings`` table, with a bounded write-through cache
    (this store assumes it is the only writer of its file)."""

    def __init__(self, db: SqliteDatabase, cached_scopes: int = 20_000) -> None:
        self.db = db
        self.cached_scopes = cached_scopes
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        await self.db.stop()
        self._cache.clear()

    def _remember(self, scope: str, value: dict[str, Any]) -> None:
        self._cache[scope] = value
        self._cache.move_to_end(scope)
        if len(self._cache) > self.cached_scopes:
            self._cache.popitem(last=False)

    async def get(self, scope: str) -> dict[str, Any]:
        cached = self._cache.get(scope)
        if cached is not None:
            self._cache.move_to_end(scope)
            return dict(cached)

        def read() -> dict[str, Any]:
            row = self.db.conn.execute("SELECT value FROM settings WHERE scope = ?", (scope,)).fetchone()
            return json.loads(row[0]) if row else {}

        value = await self.db.run(read)
        self._remember(scope, value)
        return dict(value)

    async def update(self, scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            conn = self.db.conn
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT value FROM settings WHERE scope = ?", (scope,)).fetchone()
                merged = {**(json.loads(row[0]) if row else {}), **values}
                conn.execute(
                    "INSERT INTO settings (scope, value) VALUES (?, ?)"
                    " ON CONFLICT(scope) DO UPDATE SET value = excluded.value",
                    (scope, json.dumps(merged)),
                )
            return merged

        merged = await self.db.run(write)
        self._remember(scope, merged)
        return dict(merged)


class SqliteDedupeStore(DedupeStore):
    """Seen message keys in the ``seen`` table, so a restart does not answer twice."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self._claims = 0

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        await self.db.stop()

    async def claim(self, key: str, ttl_s: float) -> bool:
        now = time.time()
        self._claims += 1
        prune = self._claims % 1000 == 0

        def write() -> bool:
            conn = self.db.conn
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                if prune:
                    conn.execute("DELETE FROM seen WHERE expires < ?", (now,))
                row = conn.execute("SELECT expires FROM seen WHERE key = ?", (key,)).fetchone()
                if row and row[0] > now:
                    return False
                conn.execute(
                    "INSERT INTO seen (key, expires) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET expires = excluded.expires",
                    (key, now + ttl_s),
                )
                return True

        return await self.db.run(write)

    async def release(self, key: str) -> None:
        await self.db.run(lambda: self.db.conn.execute("DELETE FROM seen WHERE key = ?", (key,)))
