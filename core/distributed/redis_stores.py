"""Stores in Redis, shared by every worker: conversation memory, settings, dedupe keys, flood counters.

Keys (``{ns}`` is the storage namespace, ``bots`` by default)::

    {ns}:history:{chat}     list of JSON turns, trimmed to ``max_turns``
    {ns}:history-version:{chat}  a number every write of that history adds a random amount to
    {ns}:settings:{scope}   hash of JSON values
    {ns}:dedupe:{key}       set-if-absent with a TTL
    {ns}:rate:{key}:{win}   counter of one wall-clock window, expiring after it

Calls go through one :class:`~core.distributed.redis_connection.RedisConnection` per
process: calls made together (a message's first reads, or the calls of many messages
handled at once) share one round trip. Every call retries connection errors with backoff
(bounded by ``retry_for_s``); after that it raises :class:`core.errors.StoreError` with
the reason. The history write of a reply can travel in the Redis bus's transaction with
the reply itself (:meth:`RedisConversationStore.appending`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from functools import partial
from typing import Any, cast

from redis.typing import EncodableT, FieldT

from core import wirejson
from core.distributed.redis_connection import HISTORY_APPEND, RedisConnection, RedisWrite
from core.distributed.resp_pipe import hash_reply
from core.model import Turn
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore

__all__ = [
    "RedisConnection",
    "RedisConversationStore",
    "RedisDedupeStore",
    "RedisRateCounter",
    "RedisSettingsStore",
    "RedisWrite",
]

log = logging.getLogger(__name__)


def _loads_or_none(item: bytes) -> Any:
    try:
        return wirejson.loads(item)
    except ValueError:
        return None


class _RedisStore:
    """Shares one :class:`RedisConnection`; started and stopped with it."""

    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self.connection.acquire()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.connection.release()


# The history window, unless the caller's copy is current: then only 1. KEYS: the list, its version;
# ARGV: the version the caller holds ('' when none), how many turns.
_READ_HISTORY = """
local version = redis.call('GET', KEYS[2])
if version and version == ARGV[1] then return 1 end
return {version or '', redis.call('LRANGE', KEYS[1], -tonumber(ARGV[2]), -1)}
"""


class RedisConversationStore(_RedisStore, ConversationStore):
    """History as a capped list per chat, and a version number per chat that every write changes.

    A process keeps the last window of turns it read or wrote for each chat, with the version it
    belongs to. A read sends that version (one small script call); Redis answers with the turns only
    when the history changed since, so a worker that answered a chat's last message reads nothing back.

    Every write adds a random amount (1 to 2^31) to the version, in the same call as the write, and
    the writer expects its window's version plus that amount: if anyone else wrote in between, or the
    write did not land, or Redis lost the history, the versions differ and the next read fetches the
    turns. Every writer of the history must go through this class (the keys are documented above).
    """

    #: entries remembered as parsed turns (an entry's bytes determine its turn); cleared when full
    PARSED_LIMIT = 16_384
    #: chats whose last window is kept; the oldest is dropped beyond this
    WINDOWS_LIMIT = 4_096

    def __init__(self, connection: RedisConnection, max_turns: int = 20) -> None:
        _RedisStore.__init__(self, connection)
        ConversationStore.__init__(self, max_turns)
        # A read that fetches turns gets the whole window, most of which was parsed before: turns
        # written or read here are kept by their stored bytes, so such a read parses only new ones.
        self._parsed: dict[bytes, Turn] = {}
        # chat -> (version, the last max_turns turns): what a read returns while the version holds
        self._windows: dict[str, tuple[int, list[Turn]]] = {}
        self._read_sha = connection.script(_READ_HISTORY)

    def _keep(self, chat_key: str, version: int, turns: list[Turn]) -> None:
        windows = self._windows
        if windows.pop(chat_key, None) is None and len(windows) >= self.WINDOWS_LIMIT:
            del windows[next(iter(windows))]  # the one kept longest ago
        windows[chat_key] = (version, turns)

    def _remember(self, item: bytes, turn: Turn) -> None:
        if len(self._parsed) >= self.PARSED_LIMIT:
            self._parsed.clear()
        self._parsed[item] = turn

    async def append(self, chat_key: str, *turns: Turn) -> None:
        if turns:
            await self.appending(chat_key, *turns).run()

    def appending(self, chat_key: str, *turns: Turn) -> RedisWrite:
        """``RPUSH``, ``LTRIM`` and the version's ``INCRBY``: sent alone by ``run()``, or inside the bus's
        transaction with the reply."""
        key = self.connection.key("history", chat_key)
        version_key = self.connection.key("history-version", chat_key)
        values = [wirejson.dumps({"role": t.role, "text": t.text, "at": t.at, "author": t.author}) for t in turns]
        for value, turn in zip(values, turns, strict=True):
            self._remember(value, turn)
        max_turns = self.max_turns
        step = random.getrandbits(31) + 1  # 1 to 2^31 (randrange costs about ten times as much)
        window = self._windows.get(chat_key)
        if values and window is not None:  # what the history is once this write lands after that window
            self._keep(chat_key, window[0] + step, [*window[1], *turns][-max_turns:])

        def commands(pipe: Any) -> None:
            if values:
                pipe.execute_command(HISTORY_APPEND, key, version_key, step, max_turns, *values)

        return self.connection.write("append history", commands)

    async def recent(self, chat_key: str, limit: int | None = None) -> list[Turn]:
        return await self.read_recent(chat_key, limit)

    def read_recent(self, chat_key: str, limit: int | None = None) -> asyncio.Future[list[Turn]]:
        """The read script queued for the next round trip, sending the version of the window kept here;
        the turns are parsed when they come (only when the history changed since)."""
        n = min(limit or self.max_turns, self.max_turns)
        window = self._windows.get(chat_key)
        held = window[0] if window is not None else ""  # '' never matches: the turns come back
        key, version_key = self.connection.key("history", chat_key), self.connection.key("history-version", chat_key)
        command = ("EVALSHA", self._read_sha, 2, key, version_key, held, self.max_turns)
        return self.connection.submit(
            "read history", lambda pipe: pipe.execute_command(*command), partial(self._window, chat_key, n, window)
        )

    def _window(self, chat_key: str, n: int, window: tuple[int, list[Turn]] | None, replies: list[Any]) -> list[Turn]:
        """The last ``n`` turns: the window sent with the read when Redis said it is current, else those it sent."""
        (reply,) = replies
        if reply == 1 and window is not None:
            turns = window[1]
        else:
            version, raw = reply
            turns = self._turns(chat_key, raw)
            self._keep(chat_key, int(version or 0), turns)
        return turns[-n:]

    def _turns(self, chat_key: str, raw: list[bytes]) -> list[Turn]:
        parsed = self._parsed
        known = [parsed.get(item) for item in raw]
        new = [item for item, turn in zip(raw, known, strict=True) if turn is None]
        if not new:
            return cast(list[Turn], known)  # every entry parsed before: no None among them
        try:
            rows: list[Any] = wirejson.loads(b"[" + b",".join(new) + b"]")  # one parse for the new entries
        except ValueError:
            rows = [_loads_or_none(item) for item in new]  # a malformed entry among them
        fresh: dict[bytes, Turn] = {}
        for item, d in zip(new, rows, strict=True):
            try:
                fresh[item] = Turn(str(d["role"]), str(d["text"]), float(d["at"]), str(d.get("author", "")))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("skipping a malformed history entry of %s", chat_key)
        for item, turn in fresh.items():
            self._remember(item, turn)
        return [turn if turn is not None else fresh[item] for item, turn in zip(raw, known, strict=True) if turn is not None or item in fresh]

    async def clear(self, chat_key: str) -> None:
        keys = self.connection.key("history", chat_key), self.connection.key("history-version", chat_key)
        self._windows.pop(chat_key, None)
        await self.connection.run("clear history", lambda pipe: pipe.execute_command("DEL", *keys))


class RedisSettingsStore(_RedisStore, SettingsStore):
    """Settings as a hash of JSON values per scope; updates merge field by field atomically."""

    async def get(self, scope: str) -> dict[str, Any]:
        return await self.read(scope)

    def read(self, scope: str) -> asyncio.Future[dict[str, Any]]:
        """``HGETALL`` queued for the next round trip; decoded when the reply arrives."""
        key = self.connection.key("settings", scope)
        return self.connection.submit(
            "read settings", lambda pipe: pipe.execute_command("HGETALL", key), lambda replies: self._decode(scope, hash_reply(replies[0]))
        )

    @staticmethod
    def _decode(scope: str, raw: Mapping[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in raw.items():
            try:
                out[field.decode() if isinstance(field, bytes) else field] = wirejson.loads(value)
            except ValueError:
                log.warning("skipping a malformed setting %s of %s", field, scope)
        return out

    async def update(self, scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
        key = self.connection.key("settings", scope)
        mapping: dict[FieldT, EncodableT] = {k: wirejson.dumps(v) for k, v in values.items()}

        def commands(pipe: Any) -> None:
            if mapping:
                pipe.hset(key, mapping=mapping)
            pipe.hgetall(key)

        *_, raw = await self.connection.run("write settings", commands)
        return self._decode(scope, hash_reply(raw))


class RedisDedupeStore(_RedisStore, DedupeStore):
    """``SET key 1 NX PX ttl``: the first claim wins, across every process."""

    async def claim(self, key: str, ttl_s: float) -> bool:
        k = self.connection.key("dedupe", key)
        # submit, not run: one coroutine less on every message's path
        (ok,) = await self.connection.submit("claim", lambda pipe: pipe.execute_command("SET", k, b"1", "NX", "PX", max(1, int(ttl_s * 1000))))
        return bool(ok)

    async def release(self, key: str) -> None:
        k = self.connection.key("dedupe", key)
        await self.connection.run("release", lambda pipe: pipe.delete(k))


class RedisRateCounter(_RedisStore, RateCounter):
    """Fixed wall-clock windows (shared by every worker): ``INCR`` plus an expiry."""

    async def hit(self, key: str, window_s: float) -> int:
        window = int(time.time() // window_s)
        k = self.connection.key("rate", key, str(window))
        ttl_ms = max(1, int(window_s * 2000))

        def commands(pipe: Any) -> None:
            pipe.execute_command("INCR", k)
            pipe.execute_command("PEXPIRE", k, ttl_ms)

        count, _ = await self.connection.run("count", commands)
        return int(count)
