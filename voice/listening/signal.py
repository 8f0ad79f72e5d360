"""Discord's PCM (48 kHz stereo s16le) -> 16 kHz mono float32, the input of the VAD and the STT engines.

48 kHz to 16 kHz is a factor of 3: a short windowed-sinc low-pass (cut at 7 kHz, under the new 8 kHz
Nyquist) then every third sample. The filter keeps its history between calls, so a speaker's stream can
be converted 20 ms at a time with the same result as converting it in one piece.
"""

from __future__ import annotations

import numpy as np

from core.hearing import CHANNELS, SAMPLE_RATE

#: the rate the VAD and the STT engines take
TARGET_RATE = 16_000
FACTOR = SAMPLE_RATE // TARGET_RATE
_TAPS = 48  # a multiple of FACTOR keeps the polyphase arithmetic simple


def _lowpass() -> np.ndarray:
    n = np.arange(_TAPS) - (_TAPS - 1) / 2
    cutoff = 7_000 / SAMPLE_RATE  # cycles per input sample
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(_TAPS)
    return (taps / taps.sum()).astype(np.float32)


_FILTER = _lowpass()


class Downsampler:
    """Streaming 48 kHz stereo s16le -> 16 kHz mono float32 in [-1, 1] (one per speaker)."""

    def __init__(self) -> None:
        self._history = np.zeros(_TAPS - 1, dtype=np.float32)
        self._phase = 0  # input samples to skip before the next output (keeps the 3:1 grid across calls)

    def __call__(self, pcm: bytes) -> np.ndarray:
        """Convert ``pcm`` (whole stereo samples); returns the new 16 kHz samples."""
        stereo = np.frombuffer(pcm, dtype="<i2")
        usable = stereo.size - stereo.size % CHANNELS
        frames = stereo[:usable].reshape(-1, CHANNELS)
        mono = (frames[:, 0].astype(np.float32) + frames[:, 1]) * (1.0 / (CHANNELS * 32768.0))
        signal = np.concatenate((self._history, mono))
        # every input position's filtered value, then every third (the filter is symmetric, so no flip)
        out = np.convolve(signal, _FILTER, "valid")[self._phase :: FACTOR]
        consumed = self._phase + FACTOR * len(out)
        self._phase = consumed - (len(signal) - _TAPS + 1)
        self._history = signal[len(signal) - (_TAPS - 1) :].copy()
        return out.astype(np.float32, copy=False)
