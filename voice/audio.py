"""Audio conversion with pydub and ffmpeg: voice notes, Discord metadata, voice-channel frames.

ffmpeg comes from ``AudioConfig.ffmpeg``, else a system ``ffmpeg`` on ``PATH``, else the
binary shipped with ``imageio-ffmpeg`` (so ``pip install`` is enough). ffmpeg runs as an
asyncio subprocess; pydub's sample work (trim, gain, resampling) runs in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import shutil
import warnings
from dataclasses import dataclass

import numpy as np

with warnings.catch_warnings():  # pydub warns at import when no ffmpeg is on PATH; we pass one
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

from voice.errors import AudioError
from voice.pcm import SAMPLE_WIDTH, Pcm

OPUS_RATE = 48_000
FRAME_MS = 20
FRAME_BYTES = OPUS_RATE * FRAME_MS // 1000 * 2 * SAMPLE_WIDTH  # 3,840: 960 stereo s16 samples
WAVEFORM_MAX_POINTS = 256
WAVEFORM_MIN_STEP_S = 0.1


@functools.cache
def find_ffmpeg(configured: str | None = None) -> str:
    """The ffmpeg binary to use: configured path, system ``ffmpeg``, or imageio-ffmpeg's.

    Raises:
        AudioError: when none can be found.
    """
    if configured:
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise AudioError(f"no ffmpeg found (install imageio-ffmpeg or a system ffmpeg): {exc}") from exc


@dataclass(frozen=True, slots=True)
class EncodedNote:
    """An encoded voice note with the metadata platforms want."""

    data: bytes
    duration_s: float
    waveform: bytes
    bitrate_kbps: int


async def run_ffmpeg(ffmpeg: str, args: list[str], stdin: bytes) -> bytes:
    """Run ffmpeg with ``args``, feed ``stdin``, return stdout.

    Raises:
        AudioError: when ffmpeg cannot start or exits non-zero.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg at {ffmpeg}: {exc}") from exc
    try:
        out, err = await proc.communicate(stdin)
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise AudioError(f"ffmpeg exited {proc.returncode}: {err.decode(errors='replace').strip()[:300]}")
    return out


async def decode_to_pcm(ffmpeg: str, data: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Decode any audio ffmpeg reads (MP3, OGG/Opus) into s16le PCM at ``sample_rate``."""
    args = [
        "-i",
        "pipe:0",
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-ac",
        str(channels),
        "-ar",
        str(sample_rate),
        "pipe:1",
    ]
    return await run_ffmpeg(ffmpeg, args, data)


def _segment(pcm: Pcm) -> AudioSegment:
    return AudioSegment(data=pcm.data, sample_width=SAMPLE_WIDTH, frame_rate=pcm.sample_rate, channels=1)


def polish(pcm: Pcm, target_dbfs: float = -19.0, lead_in_ms: int = 0, tail_ms: int = 60) -> Pcm:
    """Trim silence at both ends, normalize loudness (RMS, peak kept under -1 dBFS), add a lead-in.

    Blocking (pydub/audioop); call it in a thread.
    """
    seg = _segment(pcm)
    if len(seg) == 0 or seg.rms == 0:
        return pcm
    threshold = max(seg.max_dBFS - 45.0, -70.0)
    start = detect_leading_silence(seg, silence_threshold=threshold, chunk_size=5)
    end = len(seg) - detect_leading_silence(seg.reverse(), silence_threshold=threshold, chunk_size=5)
    if end > start:
        seg = seg[max(0, start - 20) : min(len(seg), end + 40)]
    gain = min(target_dbfs - seg.dBFS, -1.0 - seg.max_dBFS)
    seg = seg.apply_gain(gain)
    silence = AudioSegment.silent(duration=lead_in_ms, frame_rate=pcm.sample_rate)
    tail = AudioSegment.silent(duration=tail_ms, frame_rate=pcm.sample_rate)
    seg = (silence + seg + tail).set_sample_width(SAMPLE_WIDTH).set_channels(1)
    return Pcm(seg.raw_data, seg.frame_rate)


def waveform(pcm: Pcm) -> bytes:
    """Discord voice-message waveform: at most 256 points, at most one per 100 ms, 0-255 by loudness."""
    whole = len(pcm.data) - len(pcm.data) % SAMPLE_WIDTH  # a dangling half sample is ignored
    samples = np.frombuffer(pcm.data[:whole], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return b""
    points = max(1, min(WAVEFORM_MAX_POINTS, math.floor(pcm.duration_s / WAVEFORM_MIN_STEP_S)))
    edges = np.linspace(0, samples.size, points + 1).astype(int)
    rms = np.array([np.sqrt(np.mean(samples[a:b] ** 2)) if b > a else 0.0 for a, b in itertools.pairwise(edges)])
    peak = rms.max()
    if peak <= 0:
        return bytes(points)
    return bytes(np.clip(np.round(rms / peak * 255), 0, 255).astype(np.uint8))


async def encode_voice_note(ffmpeg: str, pcm: Pcm, bitrate_kbps: int, max_bytes: int) -> EncodedNote:
    """Encode polished mono PCM as an OGG/Opus voice note (mono, 48 kHz, VBR speech mode).

    When the result is over ``max_bytes`` (Telegram's voice-note limit) it is encoded once
    more at the bitrate that fits, down to 8 kbit/s; the caller can still check the size.
    """
    bitrate = bitrate_kbps
    data = await _encode_opus(ffmpeg, pcm, bitrate)
    if len(data) > max_bytes and bitrate > 8:
        bitrate = max(8, int(bitrate * max_bytes / len(data) * 0.9))
        data = await _encode_opus(ffmpeg, pcm, bitrate)
    return EncodedNote(data=data, duration_s=pcm.duration_s, waveform=waveform(pcm), bitrate_kbps=bitrate)


async def _encode_opus(ffmpeg: str, pcm: Pcm, bitrate_kbps: int) -> bytes:
    args = [
        "-f",
        "s16le",
        "-ar",
        str(pcm.sample_rate),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-ar",
        str(OPUS_RATE),
        "-ac",
        "1",
        "-c:a",
        "libopus",
        "-b:a",
        f"{bitrate_kbps}k",
        "-vbr",
        "on",
        "-application",
        "voip",
        "-frame_duration",
        "20",
        "-map_metadata",
        "-1",
        "-f",
        "ogg",
        "pipe:1",
    ]
    return await run_ffmpeg(ffmpeg, args, pcm.data)


def to_channel_pcm(pcm: Pcm) -> bytes:
    """Mono PCM at any rate -> 48 kHz stereo s16le, padded to whole 20 ms frames. Blocking."""
    seg = _segment(pcm).set_frame_rate(OPUS_RATE).set_channels(2)
    raw = seg.raw_data
    remainder = len(raw) % FRAME_BYTES
    return raw + bytes(FRAME_BYTES - remainder) if remainder else raw


def frames(raw: bytes) -> list[bytes]:
    """Cut 48 kHz stereo PCM (a whole number of frames) into 3,840-byte frames."""
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]
