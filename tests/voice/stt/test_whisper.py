"""faster-whisper on real Piper speech: word error rate, formats, language, silence, load once."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from core.stt import NoSpeech, SttFailed
from tests.spoken import SENTENCES, to_wav, video_note, voice_note, wer, words
from voice.stt.config import SttConfig, WhisperSttConfig
from voice.stt.service import build_listener
from voice.stt.whisper import WhisperEngine


async def test_piper_voice_notes_are_transcribed_within_ten_percent_wer(speech, listener) -> None:
    errors = total = 0.0
    for sentence in SENTENCES:
        transcript = await listener.transcribe(await voice_note(speech, sentence))
        n = len(words(sentence))
        errors += wer(sentence, transcript.text) * n
        total += n
        assert transcript.language == "en" and transcript.engine == "faster-whisper"
        assert 0.5 < transcript.duration_s < 10 and transcript.elapsed_s > 0
    assert errors / total <= 0.10, f"WER {errors / total:.2%}"


async def test_wav_and_a_video_note_are_transcribed(speech, listener) -> None:
    note = await voice_note(speech, "How do I cancel my subscription?")
    for data in (to_wav(note), video_note(note)):
        transcript = await listener.transcribe(data)
        assert wer("How do I cancel my subscription?", transcript.text) <= 0.2, transcript.text


async def test_a_forced_language_on_an_english_model_is_still_english(speech, listener) -> None:
    transcript = await listener.transcribe(await voice_note(speech, "Hello there."), language="de")
    assert transcript.language == "en"


async def test_vad_off_invents_nothing_on_digital_silence_either(listener) -> None:
    from tests.spoken import silence_ogg

    with pytest.raises(NoSpeech):
        await listener.transcribe(silence_ogg(3))


async def test_model_loads_once_per_process(listener) -> None:
    first, second = WhisperEngine(WhisperSttConfig()), WhisperEngine(WhisperSttConfig())
    await asyncio.gather(first.start(), second.start())
    try:
        assert first._model is second._model
        assert first.unavailable_reason() is None and "English only" in first.describe()
    finally:
        await first.stop()
        await second.stop()


async def test_concurrent_transcriptions_are_capped(speech, listener) -> None:
    engine = listener.engines[0]
    note = await voice_note(speech, "Hello there, my friend.")
    tasks = [asyncio.create_task(listener.transcribe(note)) for _ in range(3)]
    most_waiting = 0
    while not all(t.done() for t in tasks):
        most_waiting = max(most_waiting, len(engine._slots._waiters or ()))
        await asyncio.sleep(0.005)
    assert all("friend" in t.result().text.lower() for t in tasks)
    assert most_waiting >= 1, "with max_concurrency=1 the others wait for the slot"
    assert engine._slots._value == 1, "the slot is given back after each transcription"


async def test_a_directory_without_a_model_is_reported_and_fails_cleanly(tmp_path: pathlib.Path) -> None:
    service = build_listener(SttConfig(engines=[WhisperSttConfig(model=tmp_path)]))
    async with service:
        why = service.engines[0].unavailable_reason()
        assert why is not None and "no model.bin" in why
        from tests.spoken import noise_ogg, silence_ogg

        with pytest.raises(SttFailed, match="no model.bin"):
            await service.transcribe(noise_ogg(1))
        with pytest.raises(NoSpeech):  # decided before any engine is asked
            await service.transcribe(silence_ogg(1))
