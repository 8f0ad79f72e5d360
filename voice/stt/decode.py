"""Any recording ffmpeg reads -> 16 kHz mono float32 samples, the input of every STT engine."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from core.stt import AudioTooLong, NoSpeech, UnreadableAudio
from voice.audio import run_ffmpeg
from voice.errors import AudioError

SAMPLE_RATE = 16_000
#: below this peak (about -60 dBFS) a recording is treated as silence without asking a model
SILENCE_PEAK = 0.001


@dataclass(frozen=True, slots=True)
class Samples:
    """Mono float32 samples in [-1, 1] at 16 kHz."""

    data: np.ndarray

    @property
    def duration_s(self) -> float:
        """Playing time in seconds."""
        return len(self.data) / SAMPLE_RATE

    def wav(self) -> bytes:
        """The samples as a 16-bit WAV file (what is sent to transcription servers)."""
        pcm = (np.clip(self.data, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm)
        return out.getvalue()


async def decode(ffmpeg: str, audio: bytes, max_duration_s: float) -> Samples:
    """Decode ``audio`` (first audio stream; video is ignored) to 16 kHz mono.

    At most ``max_duration_s`` plus a little is decoded, so a huge file costs no more than the limit.

    Raises:
        NoSpeech: no bytes, no samples, or digital silence.
        UnreadableAudio: ffmpeg cannot read it (not audio, unknown codec, truncated header).
        AudioTooLong: longer than ``max_duration_s``.
    """
    if not audio:
        raise NoSpeech("the recording is empty (0 bytes)")
    args = ["-i", "pipe:0", "-vn", "-sn", "-dn", "-t", f"{max_duration_s + 0.5:.2f}"]
    args += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]
    try:
        raw = await run_ffmpeg(ffmpeg, args, audio)
    except AudioError as exc:
        raise UnreadableAudio(f"cannot decode {len(audio):,} bytes of audio: {exc}") from exc
    return _checked(Samples(np.frombuffer(raw, dtype="<f4").copy()), max_duration_s, f"{len(audio):,} bytes")


def from_pcm16(pcm: bytes, max_duration_s: float) -> Samples:
    """16 kHz mono 16-bit little-endian PCM as :class:`Samples`, with the checks :func:`decode` makes.

    Raises:
        NoSpeech: no samples, or digital silence.
        AudioTooLong: longer than ``max_duration_s``.
    """
    data = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
    return _checked(Samples(data), max_duration_s, f"{len(pcm):,} bytes of PCM")


def _checked(samples: Samples, max_duration_s: float, what: str) -> Samples:
    if samples.duration_s > max_duration_s + 0.05:
        raise AudioTooLong(f"the recording is longer than the {max_duration_s:g} s limit")
    if samples.data.size == 0:
        raise NoSpeech(f"no audio samples in {what}")
    if float(np.max(np.abs(samples.data))) < SILENCE_PEAK:
        raise NoSpeech(f"{samples.duration_s:.1f} s of silence")
    return samples
