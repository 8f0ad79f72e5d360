"""48 kHz stereo -> 16 kHz mono, and Silero run 20 ms at a time."""

from __future__ import annotations

import numpy as np
import pytest

from voice.listening.signal import Downsampler
from voice.listening.vad import WINDOW, VadStream, load_model


def tone(hz: float, seconds: float, left: float = 0.3, right: float = 0.3) -> bytes:
    t = np.arange(int(48_000 * seconds)) / 48_000
    wave = np.sin(2 * np.pi * hz * t)
    stereo = np.stack((wave * left, wave * right), axis=1) * 32767
    return stereo.astype("<i2").tobytes()


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_a_tone_keeps_its_level_and_a_third_of_the_samples() -> None:
    out = Downsampler()(tone(440, 1.0))
    assert out.dtype == np.float32 and out.size == 16_000
    assert rms(out[100:]) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)
    steady = out[100:]
    peak_hz = np.argmax(np.abs(np.fft.rfft(steady))) * 16_000 / steady.size
    assert abs(peak_hz - 440) < 2


def test_stereo_is_averaged_to_mono() -> None:
    out = Downsampler()(tone(440, 0.5, left=0.4, right=0.0))
    assert rms(out[100:]) == pytest.approx(0.2 / np.sqrt(2), rel=0.02)
    opposite = np.frombuffer(tone(440, 0.5), dtype="<i2").reshape(-1, 2) * np.array([1, -1], dtype="<i2")
    assert rms(Downsampler()(opposite.astype("<i2").tobytes())) < 1e-3


def test_frequencies_above_the_new_nyquist_are_filtered_not_folded_back() -> None:
    folded = Downsampler()(tone(9_000, 1.0))  # would alias to 7 kHz
    assert rms(folded[100:]) < 0.3 / np.sqrt(2) / 30, "at least 30 dB down"


def test_frame_by_frame_equals_all_at_once_whatever_the_chunk() -> None:
    rng = np.random.default_rng(7)
    raw = (rng.standard_normal(48_000 * 2) * 3000).astype("<i2").tobytes()
    whole = Downsampler()(raw)
    for chunk in (3_840, 4 * 1001, 4):
        downsample = Downsampler()
        pieces = np.concatenate([downsample(raw[i : i + chunk]) for i in range(0, len(raw), chunk)])
        np.testing.assert_array_equal(pieces, whole)


def test_the_vad_stream_20_ms_at_a_time_matches_faster_whisper_over_the_whole_recording() -> None:
    from tests.voice.listening.conftest import noise

    audio = Downsampler()(noise("pink", 1.0, 0.2) + tone(300, 1.0) + noise("white", 1.0, 0.05))
    audio = audio[: audio.size // WINDOW * WINDOW]
    model = load_model()
    reference = np.asarray(model(audio)).reshape(-1)
    stream = VadStream(model)
    streamed = np.concatenate([stream(audio[i : i + 320]) for i in range(0, audio.size, 320)])
    assert streamed.size == reference.size == audio.size // WINDOW
    np.testing.assert_allclose(streamed, reference, atol=1e-5)


async def test_silero_hears_speech_and_not_silence(speech) -> None:
    from tests.voice.listening.conftest import silence, spoken

    stream = VadStream(load_model())
    quiet = stream(Downsampler()(silence(1.0)))
    talk = VadStream(load_model())(Downsampler()(await spoken(speech, "How do I reset my password?")))
    assert quiet.max() < 0.1
    assert (talk > 0.5).mean() > 0.5
