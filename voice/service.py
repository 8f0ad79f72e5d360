"""The voice service: :class:`core.speech.Speech` implemented with the engines, cache and audio code.

``voice_note`` prepares the text, picks voices for its language, tries them in order
(cache first, then synthesis within each engine's budget), and encodes an OGG/Opus
voice note with its duration and waveform. ``voice_channel_frames`` splits streamed
text into sentences and synthesizes and converts each one ahead of playback, so the
first sentence plays while the next is synthesized. Only ``SpeechError`` escapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from core.errors import SpeechError
from core.model import VoiceClip
from core.speech import Speech, VoiceInfo, VoiceSettings
from voice import audio
from voice.cache import AudioCache, cache_key
from voice.config import EdgeEngineConfig, PiperEngineConfig, VoiceConfig
from voice.engines.base import TtsEngine, clamp_rate
from voice.errors import AllEnginesFailed, NothingToSay, TtsEngineError, VoiceError
from voice.pcm import Pcm
from voice.router import VoiceChoice, VoiceRouter
from voice.sentences import ends_clause, stream_sentences
from voice.text import detect_language, prepare_text

log = logging.getLogger(__name__)

MIME_OGG = "audio/ogg"
SENTENCES_AHEAD = 2  # voice-channel sentences converted ahead of playback
END_SILENCE_FRAMES = 5
STREAM_SENTENCE_MAX_CHARS = 300
SENTENCE_PAUSE_MS = 80  # silence before each later sentence of a voice-channel reply
SENTENCE_TAIL_MS = 60  # and after each sentence
CLAUSE_PAUSE_MS = 40  # after a first clip cut at a clause, the rest of the sentence follows this closely
_NOTE_HEADER = struct.Struct("<dHH")
_PCM_HEADER = struct.Struct("<I")


@contextlib.contextmanager
def _only_speech_errors(what: str) -> Iterator[None]:
    try:
        yield
    except SpeechError:
        raise
    except Exception as exc:  # the boundary: nothing but SpeechError reaches the core
        log.exception("voice: %s failed unexpectedly", what)
        raise VoiceError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


class VoiceService(Speech):
    """Voice notes and voice-channel audio from reply text.

    Args:
        config: the ``voice:`` config.
        engines: TTS engines in fallback order.
        cache: the synthesized-audio cache.
        ffmpeg: the ffmpeg binary.
    """

    def __init__(self, config: VoiceConfig, engines: list[TtsEngine], cache: AudioCache, ffmpeg: str) -> None:
        self.config = config
        self.engines = engines
        self.cache = cache
        self.ffmpeg = ffmpeg
        self.router = VoiceRouter(engines, config.languages)

    async def start(self) -> None:
        """Start the cache and every engine (Piper loads its models here, once)."""
        await self.cache.start()
        await asyncio.gather(*(engine.start() for engine in self.engines))

    async def stop(self) -> None:
        """Stop every engine."""
        await asyncio.gather(*(engine.stop() for engine in self.engines), return_exceptions=True)

    async def voices(self) -> list[VoiceInfo]:
        """Every configured voice with whether its engine can be used now."""
        return [info for engine in self.engines for info in engine.voices()]

    async def voice_note(self, text: str, settings: VoiceSettings) -> VoiceClip:
        """Synthesize ``text`` into one OGG/Opus voice note.

        Text past ``max_chars`` is cut at a sentence end; a clip over
        ``audio.voice_note_max_bytes`` is re-encoded at a lower bitrate to fit.

        Raises:
            SpeechError: nothing speakable, no voice for the language, or every engine failed.
        """
        with _only_speech_errors("voice note"):
            prepared = self._prepare(text)
            candidates = self.router.candidates(detect_language(prepared, settings.language), settings.voice)
            rate = clamp_rate(settings.rate)
            blob, choice = await self._first_working(
                candidates, "note", prepared, rate, lambda c: self._make_note(c, prepared, rate)
            )
            duration, _bitrate, wf_len = _NOTE_HEADER.unpack_from(blob)
            start = _NOTE_HEADER.size
            return VoiceClip(
                data=blob[start + wf_len :],
                mime_type=MIME_OGG,
                duration_s=duration,
                waveform=blob[start : start + wf_len],
                engine=choice.engine.name,
                voice=choice.voice,
            )

    async def voice_channel_frames(self, text: AsyncIterator[str], settings: VoiceSettings) -> AsyncIterator[bytes]:
        """48 kHz stereo s16le frames of 3,840 bytes, sentence by sentence, ending with 100 ms of silence.

        Raises:
            SpeechError: when no sentence could be spoken and something failed.
        """
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=SENTENCES_AHEAD)
        producer = asyncio.create_task(self._produce_channel_audio(text, settings, queue))
        played = False
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                played = True
                for frame in audio.frames(item):
                    yield frame
            if played:
                for _ in range(END_SILENCE_FRAMES):
                    yield bytes(audio.FRAME_BYTES)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    def _prepare(self, text: str) -> str:
        prepared = prepare_text(text, self.config.max_chars)
        if not prepared:
            raise NothingToSay("nothing speakable in the text (only markup, emoji, punctuation or controls)")
        return prepared

    async def _first_working(
        self,
        candidates: list[VoiceChoice],
        kind: str,
        text: str,
        rate: float,
        produce: Callable[[VoiceChoice], Awaitable[bytes]],
    ) -> tuple[bytes, VoiceChoice]:
        """The cached or freshly produced audio of the first candidate that works."""
        reasons: list[str] = []
        for choice in candidates:
            key = cache_key(kind, choice.engine.name, choice.voice, rate, text)
            cached = await self.cache.get(key)
            if cached is not None:
                return cached, choice
            why = choice.engine.unavailable_reason()
            if why is not None:
                reasons.append(f"{choice.engine.name}/{choice.voice}: {why}")
                continue
            try:
                value = await produce(choice)
            except TtsEngineError as exc:
                reasons.append(str(exc))
                log.warning("voice: %s/%s failed, trying the next voice: %s", choice.engine.name, choice.voice, exc)
                continue
            await self.cache.put(key, value)
            return value, choice
        log.debug("voice: every engine failed: %s", "; ".join(reasons))
        raise AllEnginesFailed(reasons)

    async def _make_note(self, choice: VoiceChoice, text: str, rate: float) -> bytes:
        pcm = await choice.engine.synthesize(text, choice.voice, rate)
        cfg = self.config.audio
        polished = await asyncio.to_thread(audio.polish, pcm, cfg.target_dbfs, cfg.lead_in_ms)
        note = await audio.encode_voice_note(self.ffmpeg, polished, cfg.bitrate_kbps, cfg.voice_note_max_bytes)
        return _NOTE_HEADER.pack(note.duration_s, note.bitrate_kbps, len(note.waveform)) + note.waveform + note.data

    async def _sentence_pcm(self, sentence: str, settings: VoiceSettings) -> Pcm:
        candidates = self.router.candidates(detect_language(sentence, settings.language), settings.voice)
        rate = clamp_rate(settings.rate)

        async def synth(choice: VoiceChoice) -> bytes:
            pcm = await choice.engine.synthesize(sentence, choice.voice, rate)
            return _PCM_HEADER.pack(pcm.sample_rate) + pcm.data

        blob, _ = await self._first_working(candidates, "pcm", sentence, rate, synth)
        return Pcm(blob[_PCM_HEADER.size :], _PCM_HEADER.unpack_from(blob)[0])

    async def _produce_channel_audio(
        self,
        text: AsyncIterator[str],
        settings: VoiceSettings,
        queue: asyncio.Queue[bytes | BaseException | None],
    ) -> None:
        cfg = self.config.audio
        budget = self.config.max_chars
        spoken = 0
        after_clause = False
        failure: SpeechError | None = None
        sentences: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read_sentences(text, sentences))
        try:
            while (sentence := await sentences.get()) is not None:
                if isinstance(sentence, BaseException):
                    raise sentence
                prepared = prepare_text(sentence, budget)
                if not prepared:
                    continue
                try:
                    with _only_speech_errors("voice-channel sentence"):
                        pcm = await self._sentence_pcm(prepared, settings)
                except SpeechError as exc:  # skip this sentence, keep speaking the rest
                    log.warning("voice: sentence skipped: %s", exc)
                    failure = exc
                    continue
                # a first clip cut at a clause runs on into the rest of its sentence with a short pause
                lead_in = cfg.lead_in_ms if spoken == 0 else 0 if after_clause else SENTENCE_PAUSE_MS
                after_clause = ends_clause(prepared)
                tail = CLAUSE_PAUSE_MS if after_clause else SENTENCE_TAIL_MS
                raw = await asyncio.to_thread(_channel_audio, pcm, cfg.target_dbfs, lead_in, tail)
                await queue.put(raw)
                spoken += 1
                budget -= len(prepared)
                if budget <= 0:
                    log.info("voice: reply longer than max_chars; the rest is not spoken")
                    break
            if spoken == 0 and failure is not None:
                await queue.put(failure)
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the text stream itself failed; reported as VoiceError
            await queue.put(VoiceError(f"voice-channel stream failed: {type(exc).__name__}: {exc}"))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read_sentences(self, text: AsyncIterator[str], out: asyncio.Queue[str | BaseException | None]) -> None:
        """Keep reading the text while earlier sentences are synthesized (the text source is never held up)."""
        try:
            cfg = self.config
            async for sentence in stream_sentences(text, cfg.min_sentence_chars, STREAM_SENTENCE_MAX_CHARS,
                                                   cfg.first_clip_chars):
                out.put_nowait(sentence)
            out.put_nowait(None)
        except Exception as exc:  # noqa: BLE001 - handed to the producer, which raises it as VoiceError
            out.put_nowait(exc)


def _channel_audio(pcm: Pcm, target_dbfs: float, lead_in_ms: int, tail_ms: int) -> bytes:
    return audio.to_channel_pcm(audio.polish(pcm, target_dbfs, lead_in_ms, tail_ms))


EngineFactory = Callable[[Any, str], TtsEngine]
"""Builds one TTS engine from its config section and the ffmpeg binary (the registry's, in ``bots``)."""


def build_engines(config: VoiceConfig, ffmpeg: str, factory: EngineFactory | None = None) -> list[TtsEngine]:
    """The engines named in config, in order: by ``factory`` when given, else the built-in two."""
    from voice.engines.edge import EdgeEngine
    from voice.engines.piper import PiperEngine

    engines: list[TtsEngine] = []
    for engine_config in config.engines:
        if factory is not None:
            engines.append(factory(engine_config, ffmpeg))
        elif isinstance(engine_config, PiperEngineConfig):
            engines.append(PiperEngine(engine_config))
        elif isinstance(engine_config, EdgeEngineConfig):
            engines.append(EdgeEngine(engine_config, ffmpeg))
    return engines


def build_speech(
    config: VoiceConfig, cache_dir: pathlib.Path | None = None, factory: EngineFactory | None = None
) -> VoiceService:
    """Assemble a :class:`VoiceService` from config (not started).

    Args:
        config: the ``voice:`` config.
        cache_dir: disk-cache directory; overrides ``config.cache.dir``; None and no dir in
            config keeps the cache in memory only.
        factory: builds each engine (the plugin registry); default: the built-in Piper and edge.

    Raises:
        SpeechError: when no ffmpeg can be found.
    """
    ffmpeg = audio.find_ffmpeg(str(config.audio.ffmpeg) if config.audio.ffmpeg else None)
    disk_dir = cache_dir if cache_dir is not None else config.cache.dir
    cache = AudioCache(config.cache.memory_bytes, disk_dir, config.cache.disk_bytes)
    return VoiceService(config, build_engines(config, ffmpeg, factory), cache, ffmpeg)


__all__ = ["VoiceService", "build_engines", "build_speech"]
