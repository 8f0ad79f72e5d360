"""A small real Speech for tests: tones encoded to OGG/Opus with ffmpeg, and PCM frames per sentence.

Each sentence gets its own tone frequency so tests can tell, by decoding, which sentence
played when. Synthesis of the OGG runs in a thread (ffmpeg from imageio-ffmpeg).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator

import imageio_ffmpeg
import numpy as np

from core.model import VoiceClip
from core.speech import Speech, VoiceSettings

RATE = 48_000
_SENT = re.compile(r"(?<=[.!?])\s+")


def tone(freq: float, seconds: float, channels: int) -> np.ndarray:
    """An int16 sine tone, interleaved for ``channels``."""
    t = np.arange(int(RATE * seconds)) / RATE
    mono = (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)
    return np.repeat(mono, channels) if channels > 1 else mono


def freq_for(sentence: str) -> float:
    """The test tone of a sentence: 200 Hz plus 100 Hz per character (exact 20 ms FFT bins) (length identifies the sentence)."""
    return 200.0 + 100.0 * len(sentence.strip())


def dominant_freq(frames: bytes) -> float:
    """Decode stereo PCM and return its dominant frequency (Hz)."""
    samples = np.frombuffer(frames, dtype=np.int16).reshape(-1, 2)[:, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * RATE / len(samples))


def encode_ogg(pcm_mono: np.ndarray) -> bytes:
    """OGG/Opus, 48 kHz mono, 32 kbit/s, as Discord's clients upload."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE),
           "-ac", "1", "-i", "pipe:0", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg", "pipe:1"]
    return subprocess.run(cmd, input=pcm_mono.tobytes(), capture_output=True, check=True).stdout


def waveform(pcm_mono: np.ndarray, points: int) -> bytes:
    """Peak amplitude per slice, scaled to 0-255."""
    slices = np.array_split(np.abs(pcm_mono.astype(np.int32)), points)
    return bytes(min(255, int(s.max() * 255 / 32767)) if len(s) else 0 for s in slices)


class ToneSpeech(Speech):
    """Speaks each sentence as a tone; ``per_sentence_s`` of audio, ``delay_s`` of simulated synthesis per sentence."""

    def __init__(self, per_sentence_s: float = 0.1, delay_s: float = 0.0) -> None:
        self.per_sentence_s = per_sentence_s
        self.delay_s = delay_s
        self.sentences: list[str] = []

    async def voice_note(self, text: str, settings: VoiceSettings) -> VoiceClip:
        seconds = 1.2
        pcm = tone(440.0, seconds, 1)
        data = await asyncio.to_thread(encode_ogg, pcm)
        return VoiceClip(data, "audio/ogg", seconds, waveform(pcm, 12), engine="tone", voice="a440")

    async def voice_channel_frames(self, text: AsyncIterator[str], settings: VoiceSettings) -> AsyncIterator[bytes]:  # type: ignore[override]
        buffer = ""
        async for piece in text:
            buffer += piece
            *done, buffer = _SENT.split(buffer)
            for sentence in done:
                async for frame in self._sentence(sentence):
                    yield frame
        if buffer.strip():
            async for frame in self._sentence(buffer):
                yield frame

    async def _sentence(self, sentence: str) -> AsyncIterator[bytes]:
        self.sentences.append(sentence.strip())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        pcm = tone(freq_for(sentence), self.per_sentence_s, 2).tobytes()
        for i in range(0, len(pcm), 3840):
            yield pcm[i : i + 3840]
