"""Our own send limits: per chat, per group and overall, with pauses after a 429.

Requests wait (they are never dropped) until every window that applies has room.
Telegram's 429 answers do not say which limit was hit; a 429 for a request in a
chat pauses that chat, a 429 for a request outside any chat pauses everything.

Previews of streamed replies and chat actions are low priority: they never wait for
a window, they only go when the windows have room to spare (:meth:`RateLimiter.spare_delay`),
so they use at most ``low_priority_share`` of each budget and text always has the rest.
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

    def delay_below(self, count: int, now: float) -> float:
        """Seconds until fewer than ``count`` events are in the window (0 when already so)."""
        if self.limit <= 0:
            return 0.0
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        if len(self.stamps) < count:
            return 0.0
        return self.stamps[len(self.stamps) - count] + self.period - now

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
        self._last_preview: dict[int, float] = {}
        share = config.low_priority_share
        # spacing of one chat's previews: a preview per ``period / (limit * share)`` is ``share`` of the budget
        self.preview_gap_private = _gap(config.per_chat, config.per_chat_period_s, share)
        self.preview_gap_group = max(self.preview_gap_private, _gap(config.per_group, config.per_group_period_s, share))

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

    def spare_delay(self, chat_id: int | None, per_chat: bool = True, preview: bool = False) -> float:
        """Seconds until a low-priority request (a preview, a chat action) may go without eating into text's share.

        Every window that applies must hold fewer than ``max(1, floor(limit * share))`` requests, and a
        preview (``preview=True``) also keeps its chat's preview spacing.
        """
        now = self.clock()
        share = self.config.low_priority_share
        waits = [self.delay(chat_id, per_chat)]
        for window in self._low_windows(chat_id, per_chat):
            waits.append(window.delay_below(max(1, int(window.limit * share)), now))
        if preview and chat_id is not None:
            gap = self.preview_gap_group if is_group(chat_id) else self.preview_gap_private
            waits.append(self._last_preview.get(chat_id, float("-inf")) + gap - now)
        return max(0.0, *waits)

    def record_spare(self, chat_id: int | None, per_chat: bool = True, preview: bool = False) -> None:
        """Count one low-priority request that is going out now."""
        self.record(chat_id, per_chat)
        if preview and chat_id is not None:
            self._last_preview[chat_id] = self.clock()
        self._prune()

    def _low_windows(self, chat_id: int | None, per_chat: bool) -> list[Window]:
        windows = [self.overall, self.overall_smooth]
        if chat_id is not None and per_chat:
            windows.append(self._chat(chat_id))
            if is_group(chat_id):
                windows.append(self._group(chat_id))
        return windows

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
        for key in [k for k, at in self._last_preview.items() if at <= now - self.preview_gap_group]:
            del self._last_preview[key]


def _gap(limit: int, period: float, share: float) -> float:
    """Seconds between two requests that use ``share`` of ``limit`` per ``period`` (0: no limit)."""
    return period / (limit * share) if limit > 0 else 0.0
