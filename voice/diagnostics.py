"""``python run.py check``: which TTS engines and voices work right now."""

from __future__ import annotations

import time

from core.errors import SpeechError
from voice.service import VoiceService

PROBE_TEXT = "Voice check."
_PROBES = {"zh": "语音检查。", "ja": "音声チェック。", "ko": "음성 확인.", "ru": "Проверка голоса."}


async def engine_report(service: VoiceService) -> list[str]:
    """Human-readable lines: ffmpeg path, then each engine and each voice with a live probe.

    Each voice is asked to say a few words (within its engine's time budget); a started
    service is expected. Never raises: failures become lines.
    """
    lines = [f"voice: ffmpeg {service.ffmpeg}"]
    for engine in service.engines:
        why = engine.unavailable_reason()
        lines.append(f"voice: engine {engine.name}: {'started; probing its voices' if why is None else why}")
        for info in engine.voices():
            if not info.available:
                lines.append(f"voice:   {info.name} ({info.language}): unavailable - {info.description}")
                continue
            started = time.perf_counter()
            try:
                pcm = await engine.synthesize(_PROBES.get(info.language, PROBE_TEXT), info.name)
            except SpeechError as exc:
                lines.append(f"voice:   {info.name} ({info.language}): FAILED - {exc}")
                continue
            ms = (time.perf_counter() - started) * 1000
            lines.append(f"voice:   {info.name} ({info.language}): ok, {pcm.duration_s:.2f} s of audio in {ms:.0f} ms")
    return lines
