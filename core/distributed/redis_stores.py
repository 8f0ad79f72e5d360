"""Stores in Redis, shared by every worker: conversation memory, settings, dedupe keys, flood counters.

Keys (``{ns}`` is the storage namespace, ``bots`` by default)::

    {ns}:history:{chat}     list of JSON turns, trimmed to ``max_turns``
    {ns}:settings:{scope}   hash of JSON values
    {ns}:dedupe:{key}       set-if-absent with a TTL
    {ns}:rate:{key}:{win}   counter of one wall-clock window, expiring after it

Every call retries connection errors with backoff (bounded by ``retry_for_s``);
after that it raises :class:`core.errors.StoreError` with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from core.distributed.backoff import Outage, redis_backoff
from core.errors import StoreError
from core.model import Turn
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisConnection:
    """One client shared by the stores of a process, with retrying calls.

    Args:
        url: ``redis://host:port/db``.
        namespace: key prefix.
        retry_for_s: how long a call keeps retrying while redis is unreachable.
    """

    def __init__(self, url: str, namespace: str = "bots", retry_for_s: float = 30.0) -> None:
        self.url = url
        self.namespace = namespace
        self.retry_for_s = retry_for_s
        self._client: aioredis.Redis | None = None
        self._users = 0
        self._outage = Outage(log, "redis store")

    async def acquire(self) -> None:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=2.0, socket_timeout=5.0, socket_keepalive=True, health_check_interval=15
            )
        self._users += 1

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if not self._users and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    async def call(self, what: str, fn: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run ``fn(client)``, retrying connection errors with backoff for up to ``retry_for_s``."""
        if self._client is None:
            raise StoreError(f"{what}: the redis store is not started")
        backoff = redis_backoff()
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                result = await fn(self._client)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"{what}: redis unreachable for {self.retry_for_s:.0f}s: {exc}") from None
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            except RedisError as exc:
                raise StoreError(f"{what}: {type(exc).__name__}: {exc}") from None
            self._outage.ok()
            return result


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


class RedisConversationStore(_RedisStore, ConversationStore):
    """History as a capped list per chat."""

    def __init__(self, connection: RedisConnection, max_turns: int = 20) -> None:
        _RedisStore.__init__(self, connection)
        ConversationStore.__init__(self, max_turns)

    async def append(self, chat_key: str, *turns: Turn) -> None:
        if not turns:
            return
        key = self.connection.key("history", chat_key)
        values = [json.dumps({"role": t.role, "text": t.text, "at": t.at, "author": t.author}, ensure_ascii=False) for t in turns]

        async def run(r: aioredis.Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.rpush(key, *values)
                pipe.ltrim(key, -self.max_turns, -1)
                await pipe.execute()

        await self.connection.call("append history", run)

    async def recent(self, chat_key: str, limit: int | None = None) -> list[Turn]:
        n = min(limit or self.max_turns, self.max_turns)
        key = self.connection.key("history", chat_key)
        raw = await self.connection.call("read history", lambda r: r.lrange(key, -n, -1))
        turns = []
        for item in raw:
            try:
                d = json.loads(item)
                turns.append(Turn(str(d["role"]), str(d["text"]), float(d["at"]), str(d.get("author", ""))))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a malformed history entry of %s", chat_key)
        return turns

    async def clear(self, chat_key: str) -> None:
        key = self.connection.key("history", chat_key)
        await self.connection.call("clear history", lambda r: r.delete(key))


class RedisSettingsStore(_RedisStore, SettingsStore):
    """Settings as a hash of JSON values per scope; updates merge field by field atomically."""

    async def get(self, scope: str) -> dict[str, Any]:
        key = self.connection.key("settings", scope)
        raw = await self.connection.call("read settings", lambda r: r.hgetall(key))
        out: dict[str, Any] = {}
        for field, value in raw.items():
            try:
                out[field.decode() if isinstance(field, bytes) else field] = json.loads(value)
            except ValueError:
                log.warning("skipping a malformed setting %s of %s", field, scope)
        return out

    async def update(self, scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
        key = self.connection.key("settings", scope)
        mapping: dict[FieldT, EncodableT] = {k: json.dumps(v) for k, v in values.items()}
        if mapping:
            await self.connection.call("write settings", lambda r: r.hset(key, mapping=mapping))
        return await self.get(scope)


class RedisDedupeStore(_RedisStore, DedupeStore):
    """``SET key 1 NX PX ttl``: the first claim wins, across every process."""

    async def claim(self, key: str, ttl_s: float) -> bool:
        k = self.connection.key("dedupe", key)
        ok = await self.connection.call("claim", lambda r: r.set(k, b"1", nx=True, px=max(1, int(ttl_s * 1000))))
        return bool(ok)

    async def release(self, key: str) -> None:
        k = self.connection.key("dedupe", key)
        await self.connection.call("release", lambda r: r.delete(k))


class RedisRateCounter(_RedisStore, RateCounter):
    """Fixed wall-clock windows (shared by every worker): ``INCR`` plus an expiry."""

    async def hit(self, key: str, window_s: float) -> int:
        window = int(time.time() // window_s)
        k = self.connection.key("rate", key, str(window))
        ttl_ms = max(1, int(window_s * 2000))

        async def run(r: aioredis.Redis) -> int:
            async with r.pipeline(transaction=True) as pipe:
                pipe.incr(k)
                pipe.pexpire(k, ttl_ms)
                count, _ = await pipe.execute()
            return int(count)

        return await self.connection.call("count", run)
