"""Real speech for the speech-to-text tests: Piper voice notes (OGG/Opus) and word error rate."""

from __future__ import annotations

import re
import subprocess

import imageio_ffmpeg

from core.speech import VoiceSettings
from voice.service import VoiceService

#: what users ask the support bot, as spoken sentences
SENTENCES = (
    "What are your opening hours?",
    "How do I reset my password?",
    "How do I cancel my subscription?",
    "The weather is lovely today, so we are going for a walk in the park.",
)


def words(text: str) -> list[str]:
    """Lowercase words without punctuation."""
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))


async def voice_note(speech: VoiceService, text: str) -> bytes:
    """``text`` spoken by Piper as an OGG/Opus voice note (what Telegram and Discord clients send)."""
    clip = await speech.voice_note(text, VoiceSettings(enabled=True))
    assert clip.mime_type == "audio/ogg" and clip.data[:4] == b"OggS"
    return clip.data


def ffmpeg(args: list[str], stdin: bytes = b"") -> bytes:
    """Run imageio-ffmpeg's ffmpeg; returns stdout."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args]
    return subprocess.run(cmd, input=stdin, check=True, capture_output=True, timeout=60).stdout


def silence_ogg(seconds: float) -> bytes:
    """Digital silence as OGG/Opus."""
    return ffmpeg(["-f", "lavfi", "-i", f"anullsrc=r=48000:cl=mono:d={seconds}", "-c:a", "libopus", "-f", "ogg", "pipe:1"])


def noise_ogg(seconds: float) -> bytes:
    """Quiet pink noise (no speech) as OGG/Opus."""
    return ffmpeg(
        ["-f", "lavfi", "-i", f"anoisesrc=r=48000:c=pink:a=0.05:d={seconds}:s=1", "-c:a", "libopus", "-f", "ogg", "pipe:1"]
    )


def to_wav(data: bytes, rate: int = 48000) -> bytes:
    """Any audio as 16-bit mono WAV."""
    return ffmpeg(["-i", "pipe:0", "-ac", "1", "-ar", str(rate), "-f", "wav", "pipe:1"], data)


def video_note(audio: bytes) -> bytes:
    """A Telegram-style round video note (MP4: H.264 video + AAC audio) carrying ``audio``."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.ogg"
        out = Path(tmp) / "note.mp4"
        src.write_bytes(audio)
        ffmpeg([
            "-f", "lavfi", "-i", "color=c=blue:s=240x240:r=15", "-i", str(src), "-shortest",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
            str(out),
        ])
        return out.read_bytes()
