"""``python run.py hear FILE``: transcribe a recording from the terminal; ``check``'s STT lines."""

from __future__ import annotations

import asyncio
import pathlib
import time

from core.stt import Transcript, TranscriptionError
from voice.stt.config import SttConfig
from voice.stt.decode import Samples
from voice.stt.service import ListenService, build_listener

PROBE_SECONDS = 1.0


async def hear(path: pathlib.Path, config: SttConfig, language: str | None = None) -> tuple[Transcript, float]:
    """Transcribe the file at ``path``.

    Returns:
        The transcript and the seconds the engines took to start (model load).

    Raises:
        OSError: the file cannot be read.
        TranscriptionError: it could not be transcribed (the message says why).
    """
    data = await asyncio.to_thread(path.read_bytes)
    service = build_listener(config)
    started = time.perf_counter()
    async with service:
        load_s = time.perf_counter() - started
        return await service.transcribe(data, language=language), load_s


async def stt_report(config: SttConfig) -> list[str]:
    """Lines for ``check``: each engine, whether it starts, and a probe on a second of silence."""
    if not config.enabled:
        return ["disabled in config (voice.stt.enabled)"]
    try:
        service: ListenService = build_listener(config)
    except TranscriptionError as exc:
        return [f"unavailable: {exc}"]
    lines = [f"ffmpeg {service.ffmpeg}"]
    async with service:
        import numpy as np

        probe = Samples(np.zeros(int(16_000 * PROBE_SECONDS), dtype=np.float32) + 0.01)
        for engine in service.engines:
            why = engine.unavailable_reason()
            if why is not None:
                lines.append(f"engine {engine.name}: UNAVAILABLE - {why}")
                continue
            started = time.perf_counter()
            try:
                await engine.transcribe(probe)
            except TranscriptionError as exc:
                lines.append(f"engine {engine.name}: FAILED - {exc}")
                continue
            ms = (time.perf_counter() - started) * 1000
            lines.append(f"engine {engine.name}: ok, {engine.describe()}; 1 s probe in {ms:.0f} ms")
    return lines
