"""Our own send limits: per chat, per group and overall, with pauses after a 429.

Requests wait (they are never dropped) until every window that applies has room.
Telegram's 429 answers do not say which limit was hit; a 429 for a request in a
chat pauses that chat, a 429 for a request outside any chat pauses everything.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from adapters.telegram.config import RateLimitConfig


class Window:
    """At most ``limit`` events in any ``period`` seconds (a sliding log); ``limit`` 0 means no limit."""

    __slots__ = ("limit", "period", "stamps")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.stamps: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds to wait before one more event fits (0 when it fits now)."""
        if self.limit <= 0:
            return 0.0
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        return self.stamps[0] + self.period - now

    def record(self, now: float) -> None:
        """Count one event at ``now``."""
        if self.limit > 0:
            self.stamps.append(now)


def is_group(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids in the Bot API."""
    return chat_id < 0


class RateLimiter:
    """Per-chat, per-group and overall windows plus 429 pauses.

    Args:
        config: the limits.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.overall = Window(config.overall, config.overall_period_s)
        # spread the overall budget: at most a fifth of it in any fifth of the period, so a
        # full second's burst cannot land on Telegram right behind the previous one
        self.overall_smooth = Window(-(-config.overall // 5), config.overall_period_s / 5)
        self._chats: dict[int, Window] = {}
        self._groups: dict[int, Window] = {}
        self._paused: dict[int, float] = {}
        self._paused_all = 0.0

    def delay(self, chat_id: int | None, per_chat: bool = True) -> float:
        """Seconds until a request to ``chat_id`` may go (0: now)."""
        now = self.clock()
        waits = [self._paused_all - now, self.overall.delay(now), self.overall_smooth.delay(now)]
        if chat_id is not None:
            waits.append(self._paused.get(chat_id, 0.0) - now)
            if per_chat:
                waits.append(self._chat(chat_id).delay(now))
                if is_group(chat_id):
                    waits.append(self._group(chat_id).delay(now))
        return max(0.0, *waits)

    def record(self, chat_id: int | None, per_chat: bool = True) -> None:
        """Count one request that is going out now."""
        now = self.clock()
        self.overall.record(now)
        self.overall_smooth.record(now)
        if chat_id is not None and per_chat:
            self._chat(chat_id).record(now)
            if is_group(chat_id):
                self._group(chat_id).record(now)

    async def acquire(self, chat_id: int | None, per_chat: bool = True) -> None:
        """Wait until the request may go, then count it.

        Args:
            chat_id: the target chat, or None for requests outside any chat.
            per_chat: False for requests that only count overall (chat actions).
        """
        while (wait := self.delay(chat_id, per_chat)) > 0:
            await asyncio.sleep(wait)
        self.record(chat_id, per_chat)
        self._prune()

    def pause(self, chat_id: int | None, seconds: float) -> None:
        """Hold requests to ``chat_id`` (all requests when None) for ``seconds``."""
        until = self.clock() + seconds
        if chat_id is None:
            self._paused_all = max(self._paused_all, until)
        else:
            self._paused[chat_id] = max(self._paused.get(chat_id, 0.0), until)

    def _chat(self, chat_id: int) -> Window:
        window = self._chats.get(chat_id)
        if window is None:
            window = self._chats[chat_id] = Window(self.config.per_chat, self.config.per_chat_period_s)
        return window

    def _group(self, chat_id: int) -> Window:
        window = self._groups.get(chat_id)
        if window is None:
            window = self._groups[chat_id] = Window(self.config.per_group, self.config.per_group_period_s)
        return window

    def _prune(self, keep: int = 4096) -> None:
        """Forget idle chats once there are many (their windows are empty anyway)."""
        if len(self._chats) + len(self._groups) <= keep:
            return
        now = self.clock()
        for table in (self._chats, self._groups):
            for key in [k for k, w in table.items() if w.delay(now) == 0 and not w.stamps]:
                del table[key]
        for key in [k for k, until in self._paused.items() if until <= now]:
            del self._paused[key]
