"""edge-tts: Microsoft's online neural voices (many languages, zh-CN included).

Guards: a connect and receive timeout, a total budget, a cap on open websockets, and
a circuit breaker (in the base class) so that while the service is down requests go
straight to the next engine. The network class is ``edge_tts.Communicate``; tests pass
an in-process stand-in that subclasses it. Audio arrives as MP3 (24 kHz mono) chunks
and is decoded with ffmpeg.
"""

from __future__ import annotations

import logging

import edge_tts

from core.speech import VoiceInfo
from voice.audio import decode_to_pcm
from voice.breaker import CircuitBreaker
from voice.config import EdgeEngineConfig
from voice.engines.base import TtsEngine
from voice.errors import TtsEngineError
from voice.pcm import Pcm

log = logging.getLogger(__name__)
EDGE_SAMPLE_RATE = 24_000


def rate_option(rate: float) -> str:
    """edge-tts's rate string: 1.25 -> ``+25%``, 0.8 -> ``-20%``."""
    return f"{round((rate - 1.0) * 100):+d}%"


class EdgeEngine(TtsEngine):
    """edge-tts voices listed in config.

    Args:
        config: the engine's config (voices, timeouts, concurrency, breaker).
        ffmpeg: the ffmpeg binary that decodes its MP3.
        communicate_cls: the network class (``edge_tts.Communicate`` or a stand-in).
    """

    def __init__(
        self,
        config: EdgeEngineConfig,
        ffmpeg: str,
        communicate_cls: type[edge_tts.Communicate] = edge_tts.Communicate,
    ) -> None:
        super().__init__(
            "edge",
            config.timeout_s,
            max_concurrency=config.max_concurrency,
            breaker=CircuitBreaker(config.breaker_failures, config.breaker_reset_s),
        )
        self._config = config
        self._ffmpeg = ffmpeg
        self._communicate_cls = communicate_cls

    def voices(self) -> list[VoiceInfo]:
        """Configured voices; unavailable while the breaker is open."""
        ok = self.unavailable_reason() is None
        return [
            VoiceInfo(v.name, self.name, v.language, v.description or "edge-tts, online", ok)
            for v in self._config.voices
        ]

    async def _synthesize(self, text: str, voice: str, rate: float) -> Pcm:
        communicate = self._communicate_cls(
            text,
            voice,
            rate=rate_option(rate),
            connect_timeout=self._config.connect_timeout_s,
            receive_timeout=self._config.receive_timeout_s,
            proxy=self._config.proxy,
        )
        mp3 = await collect_audio(communicate)
        pcm = await decode_to_pcm(self._ffmpeg, mp3, EDGE_SAMPLE_RATE)
        return Pcm(pcm, EDGE_SAMPLE_RATE)


async def collect_audio(communicate: edge_tts.Communicate) -> bytes:
    """Join the audio chunks of one ``Communicate.stream()`` (boundary metadata is skipped).

    Raises:
        TtsEngineError: the stream ended without audio.
    """
    parts: list[bytes] = []
    async for chunk in communicate.stream():
        if chunk.get("type") == "audio" and chunk.get("data"):
            parts.append(chunk["data"])
    if not parts:
        raise TtsEngineError("edge: no audio received")
    return b"".join(parts)
