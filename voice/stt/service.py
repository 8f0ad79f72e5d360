"""The listening service: :class:`core.stt.SpeechToText` implemented with ffmpeg and the STT engines.

``transcribe`` decodes the recording once (16 kHz mono, bounded by the length limit), then
asks the engines in order until one answers. Only :class:`core.stt.TranscriptionError` escapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from core.stt import BadAudio, NoSpeech, SpeechToText, SttFailed, Transcript, TranscriptionError
from voice import audio
from voice.stt.base import SttEngine, SttEngineError
from voice.stt.config import OpenAISttConfig, SttConfig, WhisperSttConfig
from voice.stt.decode import SAMPLE_RATE, Samples, decode, from_pcm16

log = logging.getLogger(__name__)


class ListenService(SpeechToText):
    """Speech to text with a chain of engines.

    Args:
        config: the ``voice.stt`` config.
        engines: in fallback order.
        ffmpeg: the ffmpeg binary used to decode recordings.
    """

    def __init__(self, config: SttConfig, engines: list[SttEngine], ffmpeg: str) -> None:
        self.config = config
        self.engines = engines
        self.ffmpeg = ffmpeg

    async def start(self) -> None:
        """Start every engine (faster-whisper loads its model here, once)."""
        await asyncio.gather(*(engine.start() for engine in self.engines))

    async def stop(self) -> None:
        """Stop every engine."""
        await asyncio.gather(*(engine.stop() for engine in self.engines), return_exceptions=True)

    async def transcribe(
        self, audio: bytes, *, language: str | None = None, max_duration_s: float | None = None
    ) -> Transcript:
        started = time.perf_counter()
        limit = max_duration_s if max_duration_s is not None else self.config.max_duration_s
        with _only_transcription_errors():
            samples = await decode(self.ffmpeg, audio, limit)
            return await self._run_engines(samples, language, started)

    async def transcribe_pcm(
        self, pcm: bytes, sample_rate: int, *, language: str | None = None, max_duration_s: float | None = None
    ) -> Transcript:
        """Transcribe raw 16-bit mono PCM; at 16 kHz the samples go to the engines without ffmpeg."""
        if sample_rate != SAMPLE_RATE:
            return await super().transcribe_pcm(pcm, sample_rate, language=language, max_duration_s=max_duration_s)
        started = time.perf_counter()
        limit = max_duration_s if max_duration_s is not None else self.config.max_duration_s
        with _only_transcription_errors():
            return await self._run_engines(from_pcm16(pcm, limit), language, started)

    async def _run_engines(self, samples: Samples, language: str | None, started: float) -> Transcript:
        reasons: list[str] = []
        for engine in self.engines:
            why = engine.unavailable_reason()
            if why is not None:
                reasons.append(f"{engine.name}: {why}")
                continue
            try:
                heard = await engine.transcribe(samples, language)
            except SttEngineError as exc:
                reasons.append(str(exc))
                log.warning("stt: %s failed, trying the next engine: %s", engine.name, exc)
                continue
            if not heard.text:
                raise NoSpeech(f"{engine.name} heard no words in {samples.duration_s:.1f} s of audio")
            return Transcript(
                text=heard.text,
                language=heard.language or language or "",
                duration_s=samples.duration_s,
                elapsed_s=time.perf_counter() - started,
                engine=engine.name,
                language_probability=heard.language_probability,
            )
        raise SttFailed("every speech-to-text engine failed: " + ("; ".join(reasons) or "none configured"))


@contextlib.contextmanager
def _only_transcription_errors() -> Iterator[None]:
    """The boundary: nothing but TranscriptionError (or cancellation) reaches the core."""
    try:
        yield
    except (TranscriptionError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.exception("stt: transcription failed unexpectedly")
        raise SttFailed(f"transcription failed: {type(exc).__name__}: {exc}") from exc


def build_stt_engines(config: SttConfig) -> list[SttEngine]:
    """The engines named in config, in order."""
    from voice.stt.openai import OpenAISttEngine
    from voice.stt.whisper import WhisperEngine

    engines: list[SttEngine] = []
    for engine_config in config.engines:
        if isinstance(engine_config, WhisperSttConfig):
            engines.append(WhisperEngine(engine_config))
        elif isinstance(engine_config, OpenAISttConfig):
            engines.append(OpenAISttEngine(engine_config))
    return engines


def build_listener(config: SttConfig, ffmpeg: str | None = None) -> ListenService:
    """Assemble a :class:`ListenService` from config (not started).

    Raises:
        SttFailed: when no ffmpeg can be found.
    """
    try:
        binary = audio.find_ffmpeg(ffmpeg or (str(config.ffmpeg) if config.ffmpeg else None))
    except Exception as exc:
        raise SttFailed(str(exc)) from exc
    return ListenService(config, build_stt_engines(config), binary)


__all__ = ["BadAudio", "ListenService", "build_listener", "build_stt_engines"]
