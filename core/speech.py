"""The speech contract the core uses; the ``voice`` package implements it."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.lifecycle import Resource
from core.model import VoiceClip


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """How a chat wants to be spoken to. Empty ``voice`` means the default for the language."""

    enabled: bool = False
    voice: str = ""
    rate: float = 1.0
    language: str = "en"


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One voice that can be chosen with ``/voice NAME``."""

    name: str
    engine: str
    language: str
    description: str = ""
    available: bool = True


class Speech(Resource, abc.ABC):
    """Turns reply text into audio.

    Implementations must never block the event loop and must raise
    :class:`core.errors.SpeechError` (never anything else) on failure.
    """

    @abc.abstractmethod
    async def voice_note(self, text: str, settings: VoiceSettings) -> VoiceClip:
        """Synthesize ``text`` into one voice note (OGG/Opus, with duration and waveform)."""

    @abc.abstractmethod
    def voice_channel_frames(
        self, text: AsyncIterator[str], settings: VoiceSettings
    ) -> AsyncIterator[bytes]:
        """Stream voice-channel audio for text that is still arriving.

        Yields 20 ms frames of 48 kHz stereo 16-bit PCM (3,840 bytes each), sentence
        by sentence, so the first sentence plays while the rest is synthesized.
        """

    async def voices(self) -> list[VoiceInfo]:
        """The voices that can be chosen."""
        return []
