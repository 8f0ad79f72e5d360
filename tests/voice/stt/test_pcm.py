"""Raw PCM straight to the engines: the voice-channel path of ``transcribe_pcm``."""

from __future__ import annotations

import pytest

from core.stt import AudioTooLong, NoSpeech, UnreadableAudio, pcm_to_wav
from tests.spoken import ffmpeg, voice_note, wer
from voice.stt.config import SttConfig
from voice.stt.service import ListenService

QUESTION = "How do I reset my password?"


def pcm(data: bytes, rate: int) -> bytes:
    return ffmpeg(["-i", "pipe:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"], data)


async def test_pcm_at_16_khz_is_transcribed_without_ffmpeg(speech, listener) -> None:
    raw = pcm(await voice_note(speech, QUESTION), 16_000)
    no_ffmpeg = ListenService(SttConfig(), listener.engines, "/nonexistent/ffmpeg")
    transcript = await no_ffmpeg.transcribe_pcm(raw, 16_000)
    assert wer(QUESTION, transcript.text) <= 0.2, transcript.text
    assert transcript.duration_s == pytest.approx(len(raw) / 32_000) and transcript.engine == "faster-whisper"
    with pytest.raises(UnreadableAudio, match="cannot run ffmpeg"):  # the file path needs it: the PCM path did not
        await no_ffmpeg.transcribe(pcm_to_wav(raw, 16_000))


async def test_pcm_at_another_rate_goes_through_a_wav_file(speech, listener) -> None:
    raw = pcm(await voice_note(speech, QUESTION), 48_000)
    transcript = await listener.transcribe_pcm(raw, 48_000)
    assert wer(QUESTION, transcript.text) <= 0.2, transcript.text
    assert transcript.duration_s == pytest.approx(len(raw) / 96_000, abs=0.05)


async def test_pcm_silence_and_length_are_checked_like_files(listener) -> None:
    with pytest.raises(NoSpeech):
        await listener.transcribe_pcm(bytes(32_000), 16_000)
    with pytest.raises(NoSpeech):
        await listener.transcribe_pcm(b"", 16_000)
    with pytest.raises(AudioTooLong):
        await listener.transcribe_pcm(b"\x10\x00" * 16_000 * 3, 16_000, max_duration_s=2.0)


def test_pcm_to_wav_writes_a_mono_16_bit_header_and_drops_a_half_sample() -> None:
    import io
    import wave

    with wave.open(io.BytesIO(pcm_to_wav(b"\x01\x00\x02\x00\x03", 8_000))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8_000, 2)
