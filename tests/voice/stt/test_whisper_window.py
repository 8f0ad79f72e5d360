"""faster-whisper in a window fitted to the recording: the same words as the 30 s window, and its guards."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.stt import NoSpeech
from tests.spoken import SENTENCES, ffmpeg, voice_note, wer, words
from voice.stt.config import SttConfig, WhisperSttConfig
from voice.stt.service import build_listener
from voice.stt.whisper import WhisperEngine
from voice.stt.whisper_window import MAX_S, repeats, transcribe_fitted

SHORT = ("Stop!", "Yes.", "Thanks.", "Joe, stop.")  # a word or two: where a window that is too short repeats itself


def pcm16k(data: bytes) -> bytes:
    return ffmpeg(["-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "s16le", "pipe:1"], data)


async def test_fitted_and_standard_windows_hear_the_same_words_and_the_fitted_one_is_used(speech, listener) -> None:
    standard = build_listener(SttConfig(engines=[WhisperSttConfig(fitted_window=False)]))
    async with standard:
        engine = listener.engines[0]
        assert isinstance(engine, WhisperEngine) and engine.config.fitted_window
        before = engine.fitted
        errors = {"fitted": 0.0, "standard": 0.0}
        total = 0
        for sentence in (*SENTENCES, *SHORT):
            raw = pcm16k(await voice_note(speech, sentence))
            fitted, whole = await listener.transcribe_pcm(raw, 16_000), await standard.transcribe_pcm(raw, 16_000)
            n = len(words(sentence))
            errors["fitted"] += wer(sentence, fitted.text) * n
            errors["standard"] += wer(sentence, whole.text) * n
            total += n
            assert not repeats(fitted.text), fitted.text
    assert engine.fitted - before == len(SENTENCES) + len(SHORT), "every one of them took the fitted window"
    assert errors["fitted"] <= errors["standard"] + 1, errors  # at most one word apart over all of them
    assert errors["fitted"] / total <= 0.10, errors


async def test_silence_is_no_speech_in_a_fitted_window_with_and_without_the_vad(listener) -> None:
    quiet = build_listener(SttConfig(engines=[WhisperSttConfig(vad_filter=False)]))
    async with quiet:
        for service in (listener, quiet):
            with pytest.raises(NoSpeech):
                await service.transcribe_pcm(bytes(2 * 16_000 * 2), 16_000)


def test_what_the_fitted_window_leaves_to_the_standard_path() -> None:
    multilingual = SimpleNamespace(model=SimpleNamespace(is_multilingual=True))
    assert transcribe_fitted(multilingual, np.zeros(16_000, np.float32), None, 1, False) is None, "a language to detect"
    english = SimpleNamespace(model=SimpleNamespace(is_multilingual=False), feature_extractor=SimpleNamespace(sampling_rate=16_000))
    too_long = np.zeros(int((MAX_S + 1) * 16_000), np.float32)
    assert transcribe_fitted(english, too_long, "en", 1, False) is None, "longer than one window"


@pytest.mark.parametrize(("text", "looping"), [
    ("Yes. Yes. Yes. Yes. Yes.", True),
    ("Joe, how are you today? Joe, how are you today? Joe, how are you today?", True),
    ("stop, stop, stop", True),
    ("Joe, what are your opening hours?", False),
    ("I said no, no.", False),
    ("", False),
])
def test_repeats_spots_a_transcript_that_ends_in_a_loop(text: str, looping: bool) -> None:
    assert repeats(text) is looping
