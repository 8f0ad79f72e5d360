"""Sends one Bot API request through the rate limiter, retrying what is worth retrying.

A 429 pauses the chat for ``retry_after`` and sends the same request again; 5xx and
network failures back off exponentially with full jitter (:class:`core.backoff.BackoffPolicy`).
After the bounded number of tries the request is logged with the reason and
:class:`DeliveryFailed` is raised.

The Bot API has no idempotency key: a send (``sendMessage``, ``sendVoice``...) whose
connection broke after the request went out may have been delivered, and sending it
again may show it twice. Such a send is retried at most once and counted in
``bot_send_response_lost_total``; failures before the request left (connection
refused, pool timeout) are retried as usual.

At most ``max_in_flight`` requests are on the wire at once (the HTTP pool is sized to
match), so a burst of chats never makes the connection pool scan dozens of idle
connections per request. Each chat's worker sends one request at a time, so the cap
never reorders a chat's messages.

Low-priority requests (previews of streamed replies, chat actions) go through
:meth:`Sender.call_spare`: sent only when the limiter has room to spare, never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import error as tg

from adapters.telegram.config import RetryConfig
from adapters.telegram.errors import (
    NOT_IDEMPOTENT,
    DeliveryFailed,
    RateLimited,
    Retryable,
    TelegramApiError,
    map_error,
    response_lost,
)
from adapters.telegram.ratelimit import RateLimiter
from core import metrics
from core.backoff import BackoffPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")


class Sender:
    """Runs Bot API calls under the limiter with retries.

    Args:
        limiter: the shared rate limiter.
        retry: retry bounds and backoff.
        jitter: returns a float in [0, 1) (injectable for tests).
        max_in_flight: requests on the wire at once, at most.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        retry: RetryConfig,
        jitter: Callable[[], float] = random.random,
        max_in_flight: int = 8,
    ) -> None:
        self.limiter = limiter
        self.retry = retry
        self.jitter = jitter
        self.policy = BackoffPolicy(base_s=retry.backoff_base_s, cap_s=retry.backoff_max_s, jitter="full")
        self.in_flight = asyncio.Semaphore(max_in_flight)
        self.retries = 0
        self.rate_limited = 0
        self.failures = 0
        self.responses_lost = 0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the ``attempt``-th retry (1-based): uniform in ``[0, step]``."""
        return self.policy.delay(attempt, self.jitter)

    async def call(
        self,
        method: str,
        chat_id: int | None,
        request: Callable[[], Awaitable[T]],
        *,
        per_chat: bool = True,
    ) -> T:
        """Send ``request()`` (a fresh coroutine each try) and return its result.

        Args:
            method: the Bot API method name, for logs and errors.
            chat_id: the chat the request writes to (None: none).
            request: makes the call; called again for each retry.
            per_chat: whether the request counts against the chat and group limits.

        Raises:
            TelegramApiError: a failure that retrying cannot fix.
            DeliveryFailed: retryable failures went on past the bounds.
        """
        tries = 0
        limited = 0
        lost = 0
        while True:
            await self.limiter.acquire(chat_id, per_chat)
            try:
                async with self.in_flight:
                    return await request()
            except tg.TelegramError as exc:
                err: TelegramApiError = map_error(exc, method)
                # --- issue 19: a send whose response was lost is sent again at most once -----------
                if method in NOT_IDEMPOTENT and response_lost(exc):
                    lost += 1
                    self.responses_lost += 1
                    if lost > 1:
                        metrics.RESPONSE_LOST.labels("telegram", method, "given_up").inc()
                        raise self._give_up(method, chat_id, tries + 1, err) from None
                    metrics.RESPONSE_LOST.labels("telegram", method, "retried").inc()
                    log.warning("telegram %s to chat %s: response lost (%s); it may have arrived, sending once more", method, chat_id, err.description)
                # --- end issue 19 -----------------------------------------------------------------
            if isinstance(err, RateLimited):
                limited += 1
                self.rate_limited += 1
                if limited >= self.retry.max_rate_limited_tries:
                    raise self._give_up(method, chat_id, limited, err)
                wait = min(err.retry_after, self.retry.max_retry_after_s)
                log.warning("telegram %s to chat %s: 429, waiting %.2fs as told (try %d)", method, chat_id, wait, limited)
                self.limiter.pause(chat_id, wait)
                continue
            if isinstance(err, Retryable):
                tries += 1
                if tries >= self.retry.max_tries:
                    raise self._give_up(method, chat_id, tries, err)
                delay = self.backoff(tries)
                self.retries += 1
                log.warning("telegram %s to chat %s failed (%s); retry %d in %.2fs", method, chat_id, err.description, tries, delay)
                await asyncio.sleep(delay)
                continue
            raise err

    async def call_spare(
        self,
        method: str,
        chat_id: int | None,
        request: Callable[[], Awaitable[T]],
        *,
        per_chat: bool = True,
        preview: bool = False,
    ) -> T | None:
        """Send a low-priority request now if the limiter has room to spare; None when it has not.

        Never waits for a slot and never retries: a newer preview or the final text supersedes it.
        A 429 still pauses the chat (or everything) for ``retry_after``.

        Raises:
            TelegramApiError: the request failed (including :class:`RateLimited`).
        """
        if self.limiter.spare_delay(chat_id, per_chat, preview) > 0:
            return None
        self.limiter.record_spare(chat_id, per_chat, preview)
        try:
            async with self.in_flight:
                return await request()
        except tg.TelegramError as exc:
            err = map_error(exc, method)
        if isinstance(err, RateLimited):
            self.rate_limited += 1
            self.limiter.pause(chat_id, min(err.retry_after, self.retry.max_retry_after_s))
        raise err

    def _give_up(self, method: str, chat_id: int | None, tries: int, err: TelegramApiError) -> DeliveryFailed:
        self.failures += 1
        log.error("telegram %s to chat %s given up after %d tries: %s", method, chat_id, tries, err.description)
        return DeliveryFailed(method, tries, err)
