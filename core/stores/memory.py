"""In-memory stores: fast, lost on restart. Used by tests, benchmarks and ``run.py chat``."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any, TypeVar

from core.model import Turn
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore

T = TypeVar("T")


def _done(value: T) -> asyncio.Future[T]:
    """A read of memory: its future is done when made (no task to schedule, nothing to wait for)."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class MemoryConversationStore(ConversationStore):
    """History in a dict of bounded deques."""

    def __init__(self, max_turns: int = 20) -> None:
        super().__init__(max_turns)
        self._chats: defaultdict[str, deque[Turn]] = defaultdict(lambda: deque(maxlen=self.max_turns))

    async def append(self, chat_key: str, *turns: Turn) -> None:
        self._chats[chat_key].extend(turns)

    async def recent(self, chat_key: str, limit: int | None = None) -> list[Turn]:
        return self._recent(chat_key, limit)

    def read_recent(self, chat_key: str, limit: int | None = None) -> asyncio.Future[list[Turn]]:
        return _done(self._recent(chat_key, limit))

    def _recent(self, chat_key: str, limit: int | None) -> list[Turn]:
        turns = list(self._chats.get(chat_key, ()))
        return turns[-(limit or self.max_turns):]

    async def clear(self, chat_key: str) -> None:
        self._chats.pop(chat_key, None)


class MemorySettingsStore(SettingsStore):
    """Settings in a dict."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}

    async def get(self, scope: str) -> dict[str, Any]:
        return dict(self._values.get(scope, {}))

    def read(self, scope: str) -> asyncio.Future[dict[str, Any]]:
        return _done(dict(self._values.get(scope, {})))

    async def update(self, scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
        merged = {**self._values.get(scope, {}), **values}
        self._values[scope] = merged
        return dict(merged)


class MemoryDedupeStore(DedupeStore):
    """Seen keys with expiry, pruned as it goes."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._max_keys = max_keys

    async def claim(self, key: str, ttl_s: float) -> bool:
        now = time.monotonic()
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        if len(self._seen) >= self._max_keys:
            self._prune(now)
        self._seen[key] = now + ttl_s
        return True

    async def release(self, key: str) -> None:
        self._seen.pop(key, None)

    def _prune(self, now: float) -> None:
        live = {k: v for k, v in self._seen.items() if v > now}
        if len(live) >= self._max_keys:  # still full: drop the oldest half
            keep = sorted(live.items(), key=lambda kv: kv[1])[len(live) // 2 :]
            live = dict(keep)
        self._seen = live


class MemoryRateCounter(RateCounter):
    """Fixed-window counters."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, window_s: float) -> int:
        window = int(time.monotonic() // window_s)
        current, count = self._windows.get(key, (window, 0))
        count = count + 1 if current == window else 1
        self._windows[key] = (window, count)
        if len(self._windows) > 200_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return count
