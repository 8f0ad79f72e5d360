"""Audio conversion: waveform, voice-channel frames, Opus encoding (synthetic signals)."""

from __future__ import annotations

import numpy as np

from tests.voice.conftest import decode_ogg, opus_head, rms_dbfs
from voice.audio import FRAME_BYTES, encode_voice_note, frames, polish, to_channel_pcm, waveform
from voice.pcm import Pcm

RATE = 22_050


def tone(seconds: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 220 * t) * amplitude * 32767).astype("<i2")


def test_waveform_is_bounded_and_follows_loudness() -> None:
    quiet_then_loud = np.concatenate([tone(2, 0.05), tone(2, 0.8)])
    wf = waveform(Pcm(quiet_then_loud.tobytes(), RATE))
    assert len(wf) == 40  # one point per 100 ms
    assert max(wf[:19]) < min(wf[21:]) and max(wf) == 255
    long_wf = waveform(Pcm(tone(60, 0.5).tobytes(), RATE))
    assert len(long_wf) == 256
    assert len(waveform(Pcm(tone(0.05, 0.5).tobytes(), RATE))) == 1
    assert waveform(Pcm(bytes(RATE * 2), RATE)) == bytes(10)


def test_channel_pcm_is_whole_stereo_48k_frames() -> None:
    raw = to_channel_pcm(Pcm(tone(1.005, 0.5).tobytes(), RATE))
    assert len(raw) % FRAME_BYTES == 0 and FRAME_BYTES == 3840
    assert len(frames(raw)) == 51  # 1.005 s rounds up to 51 frames of 20 ms
    stereo = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1])


def test_polish_trims_silence_normalizes_and_adds_lead_in() -> None:
    padded = np.concatenate([np.zeros(RATE, "<i2"), tone(1, 0.02), np.zeros(RATE, "<i2")])
    out = polish(Pcm(padded.tobytes(), RATE), target_dbfs=-20, lead_in_ms=150)
    assert 1.15 < out.duration_s < 1.35
    samples = np.frombuffer(out.data, dtype="<i2")
    assert not samples[: int(0.14 * RATE)].any()  # lead-in is silent
    assert abs(rms_dbfs(samples[int(0.2 * RATE) : int(1.1 * RATE)]) - -20) < 1.5


async def test_voice_note_is_ogg_opus_48k_mono(ffmpeg) -> None:
    note = await encode_voice_note(ffmpeg, Pcm(tone(2, 0.5).tobytes(), RATE), 32, 1_000_000)
    head = opus_head(note.data)
    assert head["channels"] == 1 and head["input_rate"] == 48_000
    decoded = await decode_ogg(ffmpeg, note.data)
    assert abs(decoded.size / 48_000 - 2.0) < 0.05
    assert 6_000 < len(note.data) < 12_000  # about 32 kbit/s


async def test_over_limit_note_is_reencoded_smaller(ffmpeg) -> None:
    noise = (np.random.default_rng(1).standard_normal(RATE * 20) * 8000).astype("<i2")
    note = await encode_voice_note(ffmpeg, Pcm(noise.tobytes(), RATE), 64, 60_000)
    assert note.bitrate_kbps < 64 and len(note.data) <= 60_000 * 1.1
    assert opus_head(note.data)["input_rate"] == 48_000
