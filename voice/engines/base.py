"""The TTS engine contract.

A subclass implements :meth:`TtsEngine._synthesize` (one text, one voice, one rate ->
mono PCM) and :meth:`TtsEngine.voices`; the base keeps the rules: a concurrency cap, a
time budget, a circuit breaker when given one, and mapping every failure onto
:class:`voice.errors.TtsEngineError`.
"""

from __future__ import annotations

import abc
import logging
from typing import final

from core.speech import VoiceInfo
from voice.errors import TtsEngineError, TtsTimeout, TtsUnavailable
from voice.guarded import GuardedEngine
from voice.pcm import Pcm

log = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 0.5, 2.0


def clamp_rate(rate: float) -> float:
    """Speaking rate limited to what engines handle well (0.5x to 2x)."""
    return min(MAX_RATE, max(MIN_RATE, rate))


class TtsEngine(GuardedEngine, abc.ABC):
    """Text to speech in a named voice.

    Args:
        name: the engine's name in logs, cache keys and ``/voices`` (``piper``, ``edge``).
        timeout_s: the most one :meth:`synthesize` may take, waiting for a slot included.
        max_concurrency: syntheses running at once.
        breaker: skips the engine without waiting while it keeps failing.
    """

    @abc.abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The voices this engine offers, with whether each can be used now."""

    @abc.abstractmethod
    async def _synthesize(self, text: str, voice: str, rate: float) -> Pcm:
        """Synthesize prepared plain ``text``; must not block the event loop."""

    @final
    async def synthesize(self, text: str, voice: str, rate: float = 1.0) -> Pcm:
        """Synthesize ``text`` within the engine's budget.

        Raises:
            TtsUnavailable: not started, or the breaker is open (raised at once).
            TtsTimeout: the budget ran out.
            TtsEngineError: any other failure.
        """
        if not self._started:
            raise TtsUnavailable(f"{self.name}: not started")
        if self.breaker is not None and not self.breaker.allow():
            raise TtsUnavailable(f"{self.name}: circuit open, retry in {self.breaker.retry_in_s():.0f} s")
        async def run() -> Pcm:
            pcm = await self._synthesize(text, voice, clamp_rate(rate))
            if not pcm.data:
                raise TtsEngineError(f"{self.name}: no audio for {voice}")
            return pcm

        return await self._guarded(run, failure=TtsEngineError, timeout=TtsTimeout, nothing="audio")
