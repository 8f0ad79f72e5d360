"""The STT engine contract.

A subclass implements :meth:`SttEngine._transcribe` (16 kHz samples -> words); the base keeps
the rules: a concurrency cap, a time budget, a circuit breaker when given one, and mapping
every failure onto :class:`SttEngineError` so the chain can try the next engine.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import final

from core.stt import BadAudio, SttFailed
from voice.guarded import GuardedEngine
from voice.stt.decode import Samples


class SttEngineError(SttFailed):
    """One STT engine failed (the chain tries the next)."""


class SttUnavailable(SttEngineError):
    """The engine cannot be used now (not started, model missing, no key, circuit open)."""


class SttTimeout(SttEngineError):
    """The engine took longer than its budget."""


@dataclass(frozen=True, slots=True)
class Heard:
    """An engine's raw result: the words (maybe empty) and the language."""

    text: str
    language: str
    language_probability: float = 1.0


class SttEngine(GuardedEngine, abc.ABC):
    """Speech to text.

    Args:
        name: the engine's name in logs and ``check`` (``faster-whisper``, ``openai``).
        timeout_s: the most one transcription may take, waiting for a slot included.
        max_concurrency: transcriptions running at once.
        breaker: skips the engine without waiting while it keeps failing.
    """

    @abc.abstractmethod
    async def _transcribe(self, samples: Samples, language: str | None) -> Heard:
        """Transcribe; must not block the event loop."""

    def describe(self) -> str:
        """One line for ``check``: model, server, settings."""
        return self.name

    @final
    async def transcribe(self, samples: Samples, language: str | None = None) -> Heard:
        """Transcribe within the engine's budget.

        Raises:
            SttUnavailable: not started, or the breaker is open (raised at once).
            SttTimeout: the budget ran out.
            SttEngineError: any other failure of the engine.
            BadAudio: the engine found the audio unusable (not the engine's fault).
        """
        why = self.unavailable_reason()
        if why is not None or (self.breaker is not None and not self.breaker.allow()):
            raise SttUnavailable(f"{self.name}: {why or 'circuit open'}")
        return await self._guarded(
            lambda: self._transcribe(samples, language),
            failure=SttEngineError,
            timeout=SttTimeout,
            nothing="transcript",
            not_the_engines_fault=(BadAudio,),
        )
