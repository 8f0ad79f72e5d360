"""The segmenter's state machine, window by window, on scripted speech probabilities and on real Silero."""

from __future__ import annotations

import numpy as np
import pytest

from voice.listening.config import ListeningConfig
from voice.listening.segmenter import Resumed, Segment, Segmenter, SpeechStarted, Tentative
from voice.listening.vad import WINDOW

WINDOW_S = WINDOW / 16_000  # 32 ms


class ScriptedVad:
    """Stands in for Silero: the probability of window k is ``probs[k]`` (then silence)."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = probs
        self.seen = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        assert samples.size % WINDOW == 0, "the segmenter hands the VAD whole windows only"
        count = samples.size // WINDOW
        out = [self.probs[k] if k < len(self.probs) else 0.0 for k in range(self.seen, self.seen + count)]
        self.seen += count
        return np.array(out, dtype=np.float32)


def numbered(count: int) -> np.ndarray:
    """``count`` windows whose samples all hold the window's number, so a segment shows which windows it has."""
    return np.repeat(np.arange(count, dtype=np.float32), WINDOW)


def window_numbers(segment: Segment) -> list[int]:
    return [int(v) for v in segment.samples[::WINDOW]]


def run(probs: list[float], *, chunk: int = 320, total: int | None = None, **config: object):
    """Push ``total`` numbered windows (default: the script plus 40 windows of silence) in ``chunk``-sample pieces.

    Eager transcription is off unless the test asks for it (``eager_ms``).
    """
    config.setdefault("eager_ms", 0)
    segmenter = Segmenter(ScriptedVad(probs), ListeningConfig(**config))
    audio = numbered(total if total is not None else len(probs) + 40)
    events = []
    for start in range(0, audio.size, chunk):
        for event in segmenter.push(audio[start : start + chunk]):
            events.append((start + chunk, event))
    return segmenter, events


def test_speech_starts_on_the_first_window_over_the_threshold_and_ends_after_the_configured_silence() -> None:
    probs = [0.0] * 20 + [0.9] * 30  # speech in windows 20..49
    _, events = run(probs, end_silence_ms=600, preroll_ms=320)
    (_, start), (fed, segment) = events
    assert start == SpeechStarted(21 * WINDOW)
    assert isinstance(segment, Segment) and not segment.truncated
    assert segment.end == 50 * WINDOW and segment.speech_s == pytest.approx(30 * WINDOW_S)
    assert (fed - segment.end) / 16_000 == pytest.approx(0.6, abs=0.04), "ends once 600 ms of silence went by"
    numbers = window_numbers(segment)
    assert numbers[0] == 10, "320 ms of pre-roll (10 windows) before the start"
    assert numbers[-1] == 54, "then the speech, then 160 ms of tail"


def test_start_ms_waits_for_that_much_speech_before_reporting() -> None:
    _, events = run([0.0] * 5 + [0.9] * 20, start_ms=96)
    assert events[0][1] == SpeechStarted(8 * WINDOW)


def test_a_click_shorter_than_start_ms_reports_nothing() -> None:
    _, events = run([0.0] * 5 + [0.95] + [0.0] * 10 + [0.9, 0.1] + [0.0] * 30, start_ms=64)
    assert events == []


def test_a_burst_shorter_than_min_utterance_is_reported_as_speech_but_not_transcribed() -> None:
    _, events = run([0.0] * 5 + [0.9] * 4 + [0.0] * 30, min_utterance_ms=200)
    assert [type(e) for _, e in events] == [SpeechStarted], "128 ms of speech: a start (barge-in) but no utterance"
    _, events = run([0.0] * 5 + [0.9] * 7 + [0.0] * 30, min_utterance_ms=200)
    assert [type(e) for _, e in events] == [SpeechStarted, Segment]


def test_hysteresis_keeps_speech_going_between_the_two_thresholds() -> None:
    # 0.4 is under the threshold (0.5) but over threshold - 0.15: it does not start a silence
    probs = [0.0] * 3 + [0.9] * 10 + [0.4] * 30 + [0.9] * 10
    _, events = run(probs, end_silence_ms=600)
    segments = [e for _, e in events if isinstance(e, Segment)]
    assert len(segments) == 1 and segments[0].speech_s == pytest.approx(50 * WINDOW_S)
    # once a silence started (under 0.35), a window in between does not end it
    probs = [0.0] * 3 + [0.9] * 10 + [0.1] + [0.4] * 30 + [0.9] * 10
    _, events = run(probs, end_silence_ms=600)
    segments = [e for _, e in events if isinstance(e, Segment)]
    assert len(segments) == 2


def test_a_pause_shorter_than_end_silence_does_not_split_the_utterance() -> None:
    probs = [0.0] * 3 + [0.9] * 10 + [0.0] * 15 + [0.9] * 10  # 480 ms pause
    _, events = run(probs, end_silence_ms=600)
    assert [type(e) for _, e in events] == [SpeechStarted, Segment]


def test_an_over_long_utterance_is_cut_at_the_latest_pause_and_goes_on_without_a_new_start() -> None:
    # 2 s limit = 62 windows; a 4-window pause at 40..43; speech goes on to window 79
    probs = [0.0] * 2 + [0.9] * 38 + [0.1] * 4 + [0.9] * 36
    _, events = run(probs, max_utterance_s=2.0, preroll_ms=0)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, Segment, Segment], kinds
    first, rest = events[1][1], events[2][1]
    assert isinstance(first, Segment) and isinstance(rest, Segment)
    assert first.truncated and not rest.truncated
    assert window_numbers(first)[-1] == 43, "cut right after the pause, not mid-word"
    assert window_numbers(rest)[0] == 44
    assert first.speech_s <= 2.0 and len(first.samples) <= 62 * WINDOW


def test_an_over_long_utterance_without_a_pause_is_cut_at_the_limit() -> None:
    probs = [0.0] * 2 + [0.9] * 150
    _, events = run(probs, max_utterance_s=2.0, preroll_ms=0)
    segments = [e for _, e in events if isinstance(e, Segment)]
    assert [s.truncated for s in segments] == [True, True, False]
    assert [len(s.samples) // WINDOW for s in segments[:2]] == [62, 62]
    assert sum(s.speech_s for s in segments) == pytest.approx(150 * WINDOW_S, abs=0.01)


def test_chunk_size_does_not_change_the_result() -> None:
    probs = [0.0] * 10 + [0.8] * 25 + [0.0] * 25 + [0.7] * 12 + [0.2] * 30
    results = []
    for chunk in (1, 320, 512, 960, 100_000):
        _, events = run(probs, chunk=chunk)
        results.append([e for _, e in events if isinstance(e, SpeechStarted)]
                       + [(s.end, s.speech_s, s.samples.tobytes()) for _, s in events if isinstance(s, Segment)])
    assert all(r == results[0] for r in results)


def test_flush_ends_the_utterance_in_progress() -> None:
    segmenter, events = run([0.0] * 3 + [0.9] * 20, total=23)
    assert [type(e) for _, e in events] == [SpeechStarted] and segmenter.speaking
    [segment] = segmenter.flush()
    assert isinstance(segment, Segment) and segment.end == 23 * WINDOW and not segmenter.speaking
    assert segmenter.flush() == []


def test_eager_a_pause_gives_a_tentative_segment_then_the_same_audio_when_the_silence_goes_on() -> None:
    _, events = run([0.0] * 3 + [0.9] * 20, eager_ms=300, end_silence_ms=600)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, Tentative, Segment], kinds
    (early_at, tentative), (final_at, final) = events[1], events[2]
    assert isinstance(tentative, Tentative) and isinstance(final, Segment)
    assert (final_at - early_at) / 16_000 == pytest.approx(0.3, abs=0.04), "the guess comes 300 ms sooner"
    guess = tentative.segment
    assert (guess.end, guess.speech_s, guess.truncated) == (final.end, final.speech_s, final.truncated)
    np.testing.assert_array_equal(guess.samples, final.samples)


def test_eager_the_speaker_going_on_voids_the_guess_and_the_whole_utterance_follows() -> None:
    probs = [0.0] * 3 + [0.9] * 20 + [0.0] * 12 + [0.9] * 20  # a 384 ms pause mid-sentence
    _, events = run(probs, eager_ms=300, end_silence_ms=600)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, Tentative, Resumed, Tentative, Segment], kinds
    final = events[-1][1]
    assert isinstance(final, Segment) and final.speech_s == pytest.approx(52 * WINDOW_S)


def test_eager_is_off_when_zero_or_not_shorter_than_the_end_silence() -> None:
    for eager in (0, 600, 900):
        _, events = run([0.0] * 3 + [0.9] * 20, eager_ms=eager, end_silence_ms=600)
        assert [type(e) for _, e in events] == [SpeechStarted, Segment], eager


def test_eager_no_guess_for_a_burst_too_short_to_transcribe() -> None:
    _, events = run([0.0] * 3 + [0.9] * 3, eager_ms=300, min_utterance_ms=200)
    assert [type(e) for _, e in events] == [SpeechStarted]


def test_eager_a_cut_at_the_longest_utterance_voids_an_open_guess() -> None:
    # 2 s = 62 windows: speech, then a pause that reaches eager (10 windows) but the limit comes first
    probs = [0.0] * 2 + [0.9] * 50 + [0.0] * 30
    _, events = run(probs, eager_ms=300, end_silence_ms=1500, max_utterance_s=2.0, preroll_ms=0)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, Tentative, Resumed, Segment], kinds
    assert isinstance(events[-1][1], Segment) and events[-1][1].truncated


async def test_real_silero_segments_piper_speech(speech) -> None:
    from tests.voice.listening.conftest import onset_s, silence, spoken
    from voice.listening.signal import Downsampler
    from voice.listening.vad import VadStream, load_model

    voice = await spoken(speech, "How do I reset my password?")
    audio = silence(1.0) + voice + silence(1.0)
    segmenter = Segmenter(VadStream(load_model()), ListeningConfig())
    events = segmenter.push(Downsampler()(audio))
    assert [type(e) for e in events] == [SpeechStarted, Tentative, Segment]
    start, tentative, segment = events
    assert isinstance(start, SpeechStarted) and isinstance(tentative, Tentative) and isinstance(segment, Segment)
    np.testing.assert_array_equal(tentative.segment.samples, segment.samples)
    onset = onset_s(audio)
    # the onset is the first sample over -40 dBFS; Piper's speech differs run to run, and a breathy "h"
    # may pass that level a few 32 ms windows before Silero calls it speech (0.106 s seen once)
    assert 0 < start.at / 16_000 - onset <= 0.15
    assert segment.samples.size / 16_000 == pytest.approx(segment.speech_s + 0.3 + 0.16, abs=0.1)
    assert segment.end / 16_000 <= (len(audio) / 192_000) - 0.6


def test_silence_due_is_exactly_the_silence_that_brings_the_pause_then_the_end() -> None:
    """The hearing thread appends this much silence for a speaker who sent nothing: not a sample more or less."""
    segmenter = Segmenter(ScriptedVad([0.0] * 3 + [0.9] * 20), ListeningConfig(eager_ms=300, end_silence_ms=600))
    assert segmenter.silence_due() is None, "idle: nothing pending"
    events = segmenter.push(numbered(23))  # the speech
    events += segmenter.push(np.zeros(100, dtype=np.float32))  # and a bit of silence (less than a window)
    assert [type(e) for e in events] == [SpeechStarted] and segmenter.speaking
    got = []
    for expected in (Tentative, Segment):
        due = segmenter.silence_due()
        assert due is not None
        assert segmenter.push(np.zeros(due - 1, dtype=np.float32)) == [], "one sample short: nothing yet"
        events = segmenter.push(np.zeros(1, dtype=np.float32))
        got.append([type(e) for e in events])
        assert got[-1] == [expected], got
    assert segmenter.silence_due() is None and segmenter.idle
