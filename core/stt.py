"""The speech-to-text contract the core uses; the ``voice.stt`` package implements it.

Errors (all are :class:`core.errors.CoreError`)::

    TranscriptionError          speech-to-text failed
    ├── BadAudio                the audio itself cannot be used (the user is told why)
    │   ├── NoSpeech            empty, silent or noise only
    │   ├── UnreadableAudio     not audio, or a codec ffmpeg cannot decode
    │   ├── AudioTooLong        longer than the configured limit
    │   └── AudioTooLarge       more bytes than the configured limit
    ├── AudioUnavailable        the audio could not be downloaded from the platform
    └── SttFailed               no engine could transcribe it (engines down, timeouts)
"""

from __future__ import annotations

import abc
import io
import wave
from dataclasses import dataclass

from core.errors import CoreError
from core.lifecycle import Resource


class TranscriptionError(CoreError):
    """Speech-to-text failed."""


class BadAudio(TranscriptionError):
    """The audio is unusable; ``reason`` is a short phrase for the user (the message has details)."""

    reason = "I couldn't use that audio"


class NoSpeech(BadAudio):
    """Empty, silent or noise only: nothing was said."""

    reason = "I couldn't hear any speech in that recording"


class UnreadableAudio(BadAudio):
    """Not audio at all, or encoded with a codec that cannot be decoded."""

    reason = "I couldn't read that audio (broken file or unsupported format)"


class AudioTooLong(BadAudio):
    """Longer than the configured limit."""

    reason = "that recording is too long for me"


class AudioTooLarge(BadAudio):
    """More bytes than the configured limit."""

    reason = "that file is too large for me"


class AudioUnavailable(TranscriptionError):
    """The audio could not be fetched from the platform."""


class SttFailed(TranscriptionError):
    """Every speech-to-text engine failed (the reasons are in the message)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said in one recording.

    Attributes:
        text: the words, empty never (an empty result raises :class:`NoSpeech`).
        language: the detected (or forced) language, a BCP 47 base tag such as ``en``.
        duration_s: the audio's playing time.
        elapsed_s: wall time spent decoding and transcribing.
        engine: the engine that produced it.
        language_probability: the engine's confidence in ``language`` (1.0 when forced or unknown).
    """

    text: str
    language: str
    duration_s: float
    elapsed_s: float
    engine: str = ""
    language_probability: float = 1.0

    @property
    def real_time_factor(self) -> float:
        """Seconds of work per second of audio."""
        return self.elapsed_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """How a bot treats spoken messages (the ``bots`` package fills it from config.yaml).

    Attributes:
        enabled: transcribe audio attachments at all.
        show_transcript: tell the user what was heard (a ``heard:`` line, or the web chat's bubble).
        voice_reply: answer a spoken message with a voice note too, even when voice is off for typed ones.
        max_duration_s: longer recordings are refused with a notice.
        max_bytes: bigger files are refused with a notice (before downloading, when the size is known).
        download_timeout_s: the most fetching the audio from the platform may take.
    """

    enabled: bool = True
    show_transcript: bool = True
    voice_reply: bool = True
    max_duration_s: float = 120.0
    max_bytes: int = 20 * 1024 * 1024
    download_timeout_s: float = 30.0


class SpeechToText(Resource, abc.ABC):
    """Turns a recording (any container and codec ffmpeg reads) into text.

    Implementations must never block the event loop and must raise
    :class:`TranscriptionError` (never anything else) on failure.
    """

    @abc.abstractmethod
    async def transcribe(
        self, audio: bytes, *, language: str | None = None, max_duration_s: float | None = None
    ) -> Transcript:
        """Transcribe ``audio``.

        Args:
            audio: the encoded recording (OGG/Opus, MP3, M4A, WAV, WebM...).
            language: force a language; None detects it (multilingual models only).
            max_duration_s: refuse longer audio (None: the implementation's default).

        Raises:
            BadAudio: the audio is unusable (a subclass says why).
            SttFailed: no engine could transcribe it.
        """

    async def transcribe_pcm(
        self, pcm: bytes, sample_rate: int, *, language: str | None = None, max_duration_s: float | None = None
    ) -> Transcript:
        """Transcribe raw mono 16-bit little-endian PCM (what a voice channel's hearing layer holds).

        This default wraps the samples in a WAV file for :meth:`transcribe`; an implementation that
        can take samples directly overrides it to skip decoding.

        Args:
            pcm: the samples.
            sample_rate: samples per second (16,000 is what speech recognizers take).
            language: force a language; None detects it (multilingual models only).
            max_duration_s: refuse longer audio (None: the implementation's default).

        Raises:
            BadAudio: the audio is unusable (a subclass says why).
            SttFailed: no engine could transcribe it.
        """
        return await self.transcribe(pcm_to_wav(pcm, sample_rate), language=language, max_duration_s=max_duration_s)


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Mono 16-bit little-endian PCM as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    return out.getvalue()
