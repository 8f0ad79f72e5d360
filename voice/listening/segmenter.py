"""One speaker's audio -> speech starts and utterances, from Silero VAD probabilities.

A pure state machine over 32 ms windows of 16 kHz audio (no threads, no clock: positions are sample
counts), so it can be tested window by window::

    idle ──p ≥ threshold──▶ starting ──speech for start_ms──▶ speaking ──silence for end_silence_ms──▶ idle
      ▲                        │ p < threshold - 0.15                 │ longer than max_utterance_s:
      └────────────────────────┘ (a click: nothing reported)          └ cut, first part ``truncated``

Entering ``speaking`` emits :class:`SpeechStarted` (the adapter's barge-in). Leaving it emits
:class:`Segment` with the audio from ``preroll_ms`` before the start to a short pad after the end,
unless less than ``min_utterance_ms`` of it was speech.

With ``eager_ms`` (shorter than ``end_silence_ms``), a pause that long emits :class:`Tentative`: the
segment the utterance will be if the silence goes on, so transcription can start before the end is
certain. The speaker then either stays quiet (the :class:`Segment` follows, with the same audio) or goes
on (:class:`Resumed`: forget the guess).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from voice.listening.config import ListeningConfig
from voice.listening.signal import TARGET_RATE
from voice.listening.vad import WINDOW

#: speech probabilities of 16 kHz samples, one per whole 512-sample window (a :class:`VadStream`)
Vad = Callable[[np.ndarray], np.ndarray]

#: hysteresis: once speaking, a window counts as silence only under ``threshold - HYSTERESIS``
HYSTERESIS = 0.15
#: audio kept after the end of speech (the last consonant fades out)
_TAIL_MS = 160
#: a cut of an over-long utterance looks this far back (at most half the longest) for a pause to cut at
_CUT_LOOKBACK_S = 3.0


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began; ``at`` is the stream position (in 16 kHz samples) where it was confirmed."""

    at: int


@dataclass(frozen=True, slots=True)
class Segment:
    """One utterance's audio.

    Attributes:
        samples: 16 kHz mono float32, pre-roll and tail included.
        speech_s: how long the speech lasted (start of the first speech window to the end of the last).
        end: the stream position (16 kHz samples) where the speech ended.
        truncated: cut at ``max_utterance_s`` while the speaker went on.
    """

    samples: np.ndarray
    speech_s: float
    end: int
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Tentative:
    """A pause of ``eager_ms``: ``segment`` is what the utterance will be if the silence goes on."""

    segment: Segment


@dataclass(frozen=True, slots=True)
class Resumed:
    """The speaker went on after a :class:`Tentative`: that guess is void."""


Event = SpeechStarted | Segment | Tentative | Resumed


class _State(Enum):
    IDLE = "idle"
    STARTING = "starting"
    SPEAKING = "speaking"


def _windows(ms: float) -> int:
    return max(0, math.ceil(ms * TARGET_RATE / 1000 / WINDOW))


class Segmenter:
    """Cuts one speaker's stream into utterances.

    Args:
        vad: the speaker's VAD stream (its state is this speaker's); given whole windows only.
        config: thresholds and durations.
    """

    def __init__(self, vad: Vad, config: ListeningConfig) -> None:
        self._vad = vad
        self._on = config.vad_threshold
        self._off = config.vad_threshold - HYSTERESIS
        self._start_windows = max(1, _windows(config.start_ms))
        self._min_speech_windows = _windows(config.min_utterance_ms)
        self._end_windows = max(1, _windows(config.end_silence_ms))
        eager = _windows(config.eager_ms) if config.eager_ms else 0
        self._eager_windows = eager if 0 < eager < self._end_windows else 0
        self._tail_windows = min(self._end_windows, _windows(_TAIL_MS))
        self._max_windows = max(1, int(config.max_utterance_s * TARGET_RATE) // WINDOW)
        self._lookback_windows = min(_windows(_CUT_LOOKBACK_S * 1000), self._max_windows // 2)
        self._keep_preroll = config.preroll_ms > 0
        self._preroll: collections.deque[np.ndarray] = collections.deque(maxlen=max(1, _windows(config.preroll_ms)))
        self._leftover = np.zeros(0, dtype=np.float32)
        self._position = 0  # samples consumed into whole windows
        self._reset()

    def _reset(self) -> None:
        self._state = _State.IDLE
        self._held: list[np.ndarray] = []  # the utterance's windows (pre-roll first)
        self._probs: list[float] = []  # their speech probabilities (pre-roll: 0)
        self._speech_start = 0  # position where speech started
        self._voiced = 0  # windows at or over the threshold (or in hysteresis) since the start
        self._silent = 0  # consecutive windows since the last one at or over the threshold
        self._tentative = False  # a Tentative is out for the utterance in progress

    @property
    def speaking(self) -> bool:
        """True between a reported start of speech and the end of that utterance."""
        return self._state is _State.SPEAKING

    @property
    def idle(self) -> bool:
        """True when no speech is in progress (nothing would change if only silence followed)."""
        return self._state is _State.IDLE

    def silence_due(self) -> int | None:
        """Samples of silence after which the utterance in progress reports its next event, None when idle.

        The next event is the :class:`Tentative` at ``eager_ms`` of silence, or the :class:`Segment` at
        ``end_silence_ms``; the hearing thread appends exactly that much when the speaker sends nothing,
        so the end is not late by a polling interval. Samples of a window not complete yet count as
        silence; if the VAD finds otherwise, more is due (ask again after pushing).
        """
        if self._state is not _State.SPEAKING:
            return None
        target = self._end_windows
        if self._eager_windows and not self._tentative and self._silent < self._eager_windows:
            target = self._eager_windows
        return max(1, (target - self._silent) * WINDOW - self._leftover.size)

    def push(self, samples: np.ndarray) -> list[Event]:
        """Take 16 kHz samples; returns what happened in the windows they completed."""
        audio = np.concatenate((self._leftover, samples)) if self._leftover.size else samples
        count = audio.size // WINDOW
        self._leftover = audio[count * WINDOW :].copy()
        if count == 0:
            return []
        whole = audio[: count * WINDOW]
        probs = self._vad(whole)
        events: list[Event] = []
        for index, prob in enumerate(probs):
            window = whole[index * WINDOW : (index + 1) * WINDOW]
            self._position += WINDOW
            self._step(window, float(prob), events)
        return events

    def flush(self) -> list[Event]:
        """End the utterance in progress now (the speaker left): its :class:`Segment`, if worth keeping."""
        events: list[Event] = []
        if self._state is _State.SPEAKING:
            self._finish(events)
        self._reset()
        return events

    def _step(self, window: np.ndarray, prob: float, events: list[Event]) -> None:
        if self._state is _State.IDLE:
            if prob < self._on:
                if self._keep_preroll:
                    self._preroll.append(window)
                return
            self._state = _State.STARTING
            self._speech_start = self._position - WINDOW
            self._held = list(self._preroll) if self._keep_preroll else []
            self._probs = [0.0] * len(self._held)
            self._preroll.clear()
            self._voiced = 0
        self._held.append(window)
        self._probs.append(prob)
        if self._state is _State.STARTING:
            if prob < self._off:  # a click or a breath: back to idle, its audio becomes pre-roll
                for held in self._held:
                    self._preroll.append(held)
                self._reset()
                return
            self._voiced += 1
            if self._voiced < self._start_windows:
                return
            self._state = _State.SPEAKING
            events.append(SpeechStarted(self._position))
            return
        # speaking
        if prob >= self._on:
            self._silent = 0
            self._voiced += 1
            if self._tentative:
                self._tentative = False
                events.append(Resumed())
        elif prob < self._off or self._silent:
            self._silent += 1
        else:
            self._voiced += 1
        if self._silent >= self._end_windows:
            self._finish(events)
        elif len(self._held) >= self._max_windows:
            if self._tentative:  # the cut decides instead
                self._tentative = False
                events.append(Resumed())
            events.append(self._cut())
        elif self._silent == self._eager_windows and self._eager_windows and not self._tentative:
            guess = self._segment()
            if guess is not None:
                self._tentative = True
                events.append(Tentative(guess))

    def _segment(self) -> Segment | None:
        """The utterance in progress as if it ended now; None when it is too short to transcribe."""
        keep = len(self._held) - max(0, self._silent - self._tail_windows)
        if keep <= 0 or self._voiced == 0 or self._voiced < self._min_speech_windows:
            return None
        end = self._position - self._silent * WINDOW
        return Segment(np.concatenate(self._held[:keep]), max(0, end - self._speech_start) / TARGET_RATE, end)

    def _finish(self, events: list[Event]) -> None:
        segment = self._segment()
        if segment is not None:
            events.append(segment)
        elif self._tentative:
            events.append(Resumed())
        keep = len(self._held) - max(0, self._silent - self._tail_windows)
        tail = self._held[max(0, keep) :]
        self._reset()
        if self._keep_preroll:
            for window in tail[-(self._preroll.maxlen or 1) :]:
                self._preroll.append(window)

    def _cut(self) -> Segment:
        """The utterance reached the longest allowed: cut after a recent pause if there is one, else here.

        What follows the cut stays in ``speaking`` (the same stretch of speech: no new start is reported);
        if the speaker falls silent at once it is dropped like any burst too short to transcribe.
        """
        held, probs = self._held, self._probs
        cut = len(held)
        for index in range(len(held) - 1, len(held) - 1 - self._lookback_windows, -1):
            if probs[index] < self._off:
                cut = index + 1
                break
        end = self._position - (len(held) - cut) * WINDOW
        segment = Segment(np.concatenate(held[:cut]), (end - self._speech_start) / TARGET_RATE, end, truncated=True)
        self._held, self._probs = held[cut:], probs[cut:]
        self._speech_start = end
        self._voiced = sum(p >= self._off for p in self._probs)
        return segment
