"""Silero VAD, run incrementally: one :class:`VadStream` per speaker over one shared ONNX session.

faster-whisper bundles the Silero v6 model (``faster_whisper/assets/silero_vad_v6.onnx``) and loads it
once per process (:func:`faster_whisper.vad.get_vad_model`). The model reads 512-sample windows at
16 kHz, each preceded by the last 64 samples of the window before it, and carries an LSTM state
(``h``, ``c``) from window to window; a batch of windows is a sequence in time. A stream keeps that
state and the leftover samples between calls, so feeding it 20 ms at a time gives the same
probabilities as running the model over the whole recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: samples per VAD window at 16 kHz (32 ms)
WINDOW = 512
_CONTEXT = 64


def load_model() -> Any:
    """The process-wide Silero model (blocking the first time: call it in a thread).

    Raises:
        RuntimeError: onnxruntime is missing.
    """
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


class VadStream:
    """Speech probabilities of one speaker's 16 kHz audio, window by window.

    Args:
        model: the object :func:`load_model` returns (its ``session`` is the ONNX session).
    """

    def __init__(self, model: Any) -> None:
        self._session = model.session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._leftover = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities (float32, one per completed 512-sample window) for ``samples`` appended to the stream.

        Samples that do not fill a window yet are kept for the next call.
        """
        audio = np.concatenate((self._leftover, samples)) if self._leftover.size else samples
        count = audio.size // WINDOW
        self._leftover = audio[count * WINDOW :].copy()
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        windows = audio[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.empty((count, _CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -_CONTEXT:]
        batch = np.concatenate((contexts, windows), axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -_CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)
