"""What the TTS and STT engine bases share: a name, a time budget, a concurrency cap, an optional
circuit breaker, and start/stop with "why would I be skipped now".

:class:`voice.engines.base.TtsEngine` and :class:`voice.stt.base.SttEngine` build their guarded
``synthesize`` / ``transcribe`` on it; each maps failures onto its own error tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.lifecycle import Resource
from voice.breaker import CircuitBreaker

T = TypeVar("T")


class GuardedEngine(Resource):
    """State and lifecycle of an engine whose calls are capped, timed and circuit-broken.

    Args:
        name: the engine's name in logs and ``check``.
        timeout_s: the most one call may take, waiting for a slot included.
        max_concurrency: calls running at once.
        breaker: skips the engine without waiting while it keeps failing.
    """

    def __init__(
        self, name: str, timeout_s: float, max_concurrency: int = 1, breaker: CircuitBreaker | None = None
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.breaker = breaker
        self._slots = asyncio.Semaphore(max_concurrency)
        self._started = False

    async def start(self) -> None:
        """Load models or open clients."""
        self._started = True

    async def stop(self) -> None:
        """Release models or clients."""
        self._started = False

    def unavailable_reason(self) -> str | None:
        """Why the engine would be skipped right now, or None when it can be tried."""
        if not self._started:
            return "not started"
        if self.breaker is not None and not self.breaker.would_allow():
            return f"circuit open, retry in {self.breaker.retry_in_s():.0f} s"
        return None

    async def _guarded(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        failure: type[Exception],
        timeout: type[Exception],
        nothing: str,
        not_the_engines_fault: tuple[type[Exception], ...] = (),
    ) -> T:
        """Run ``call`` within the budget and a slot, keeping the breaker's books.

        A timeout becomes ``timeout("NAME: no NOTHING within N s")``; any other exception that is
        not already a ``failure`` becomes one; exceptions in ``not_the_engines_fault`` (the input
        was unusable) pass through and count as a success of the service. Cancellation passes
        through and tells the breaker nothing.
        """
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._slots:
                    result = await call()
        except not_the_engines_fault:
            if self.breaker is not None:
                self.breaker.record_success()
            raise
        except BaseException as exc:
            if self.breaker is not None:
                if isinstance(exc, Exception):
                    self.breaker.record_failure()
                else:  # cancelled: says nothing about the service
                    self.breaker.release_trial()
            if isinstance(exc, TimeoutError):
                raise timeout(f"{self.name}: no {nothing} within {self.timeout_s:g} s") from exc
            if isinstance(exc, failure) or not isinstance(exc, Exception):
                raise
            raise failure(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if self.breaker is not None:
            self.breaker.record_success()
        return result
