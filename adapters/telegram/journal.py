"""The inbox journal: addressed Telegram messages kept in SQLite until their answer is handed to Telegram.

Telegram hands an update over again until it is confirmed (the next ``getUpdates``
offset, or a webhook's 200). The adapter confirms an update only once its message is
in this journal, and deletes the entry once the final reply (text, voice or a
deliberate skip) has been handed to the Bot API. After a crash (``kill -9``, OOM)
every entry still in the journal is published again at start (as a redelivery, so the
pipeline's dedupe does not take it for a duplicate): messages that were being
answered or whose replies waited in the per-chat send queue are answered after the
restart, exactly once unless the crash fell between Telegram accepting a reply and
the entry being deleted.

WAL with ``synchronous=NORMAL``: an entry survives the process being killed; a power
loss may lose the last moments. All SQL runs on one thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from adapters.telegram.errors import TelegramAdapterError

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    adapter TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    raw TEXT NOT NULL,
    received REAL NOT NULL,
    replays INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (adapter, chat_id, message_id)
);
"""


class JournalError(TelegramAdapterError):
    """The journal could not be written: the update must not be confirmed."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A journaled message whose answer was never handed to Telegram."""

    update_id: int
    raw: dict[str, Any]
    replays: int


class Journal:
    """Unanswered incoming messages of one adapter in a SQLite file (shared by several adapters).

    Args:
        path: the SQLite file.
        adapter: the adapter id the entries belong to.
    """

    def __init__(self, path: str | Path, adapter: str) -> None:
        self.path = str(path)
        self.adapter = adapter
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if self._conn is not None:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tg-journal")
        self._conn = await self._run(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._run(conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise JournalError(f"journal {self.path} is not started")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"journal {self.path} is not started")
        return self._conn

    async def add(self, chat_id: str, message_id: str, update_id: int, raw: dict[str, Any]) -> bool:
        """Record a message before its update is confirmed.

        Returns:
            False when the message is already journaled (being answered after a replay):
            it must not be published a second time.

        Raises:
            JournalError: the entry could not be written.
        """
        body = json.dumps(raw, ensure_ascii=True)

        def write() -> bool:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO inbox (adapter, chat_id, message_id, update_id, raw, received) VALUES (?, ?, ?, ?, ?, ?)",
                (self.adapter, chat_id, message_id, update_id, body, time.time()),
            )
            return cursor.rowcount == 1

        return await self._run(write)

    async def done(self, chat_id: str, message_id: str) -> None:
        """Forget a message whose final reply was handed to Telegram (no-op when absent)."""
        await self._run(
            lambda: self._db.execute(
                "DELETE FROM inbox WHERE adapter = ? AND chat_id = ? AND message_id = ?", (self.adapter, chat_id, message_id)
            )
        )

    async def forget_update(self, update_id: int) -> None:
        """Forget the entries of one update."""
        await self._run(lambda: self._db.execute("DELETE FROM inbox WHERE adapter = ? AND update_id = ?", (self.adapter, update_id)))

    async def pending(self) -> list[Pending]:
        """Every journaled message of this adapter, oldest update first; each one's replay count goes up by one."""

        def read() -> list[Pending]:
            conn = self._db
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                rows = conn.execute(
                    "SELECT update_id, raw, replays FROM inbox WHERE adapter = ? ORDER BY update_id", (self.adapter,)
                ).fetchall()
                conn.execute("UPDATE inbox SET replays = replays + 1 WHERE adapter = ?", (self.adapter,))
            return [Pending(int(r[0]), json.loads(r[1]), int(r[2]) + 1) for r in rows]

        return await self._run(read)

    async def size(self) -> int:
        """How many messages of this adapter are journaled."""
        return int(await self._run(lambda: self._db.execute("SELECT COUNT(*) FROM inbox WHERE adapter = ?", (self.adapter,)).fetchone()[0]))
