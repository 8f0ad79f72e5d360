"""What the TTS and STT engine bases share: a name, a time budget, a concurrency cap, an optional
circuit breaker, and start/stop with "why would I be skipped now".

:class:`voice.engines.base.TtsEngine` and :class:`voice.stt.base.SttEngine` build their guarded
``synthesize`` / ``transcribe`` on it; each maps failures onto its own error tree.
"""

from __future__ import annotations

import asyncio

from core.lifecycle import Resource
from voice.breaker import CircuitBreaker


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
