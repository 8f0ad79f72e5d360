"""VoiceService with real Piper synthesis, checked by decoding the audio."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from core.errors import SpeechError
from core.speech import VoiceSettings
from tests.voice.conftest import chars, decode_ogg, opus_head, rms_dbfs
from voice.audio import FRAME_BYTES
from voice.cli import say
from voice.config import VoiceConfig
from voice.diagnostics import engine_report
from voice.errors import NothingToSay, NoVoiceForLanguage

SETTINGS = VoiceSettings(enabled=True)
TEXT = "Hello there! Mr. Smith paid $29.99 for the **blue** bicycle. Then he rode home."


async def test_piper_voice_note_decodes_as_speech(piper_service, ffmpeg) -> None:
    clip = await piper_service.voice_note(TEXT, SETTINGS)
    assert clip.mime_type == "audio/ogg" and clip.engine == "piper" and clip.voice == "joe"
    head = opus_head(clip.data)
    assert head["channels"] == 1 and head["input_rate"] == 48_000
    samples = await decode_ogg(ffmpeg, clip.data)
    seconds = samples.size / 48_000
    words = len(TEXT.split())
    assert 0.2 * words < seconds < 0.8 * words  # ~2.5 words a second, with a margin
    assert abs(seconds - clip.duration_s) < 0.1
    assert rms_dbfs(samples) > -35  # not silent
    assert not samples[: int(0.1 * 48_000)].any() or rms_dbfs(samples[:4800]) < -50  # lead-in
    assert 0 < len(clip.waveform) <= 256 and len(clip.waveform) <= clip.duration_s * 10 + 1
    assert len(clip.data) < clip.duration_s * 32_000 / 8 * 1.5


async def test_cache_hit_skips_synthesis(piper_service) -> None:
    first = await piper_service.voice_note(TEXT, SETTINGS)
    started = time.perf_counter()
    again = await piper_service.voice_note(TEXT.replace(" ", "  "), SETTINGS)
    assert time.perf_counter() - started < 0.05
    assert again == first and piper_service.cache.hits >= 1


async def test_rate_changes_duration(piper_service) -> None:
    normal = await piper_service.voice_note("This sentence is spoken at two speeds.", SETTINGS)
    fast = await piper_service.voice_note("This sentence is spoken at two speeds.", VoiceSettings(rate=1.6))
    assert fast.duration_s < normal.duration_s * 0.85


async def test_voice_channel_frames_stream_char_by_char(piper_service) -> None:
    first_frame = asyncio.Event()
    text = "The first sentence is right here. The second sentence only arrives later on."

    async def stream():
        async for ch in chars(text[:40]):
            yield ch
        await asyncio.wait_for(first_frame.wait(), 20)  # speech must start before the text ends
        async for ch in chars(text[40:]):
            yield ch

    frames = []
    async for frame in piper_service.voice_channel_frames(stream(), SETTINGS):
        first_frame.set()
        frames.append(frame)
    assert frames and all(len(f) == FRAME_BYTES for f in frames)
    pcm = np.frombuffer(b"".join(frames), dtype="<i2").reshape(-1, 2)
    assert 3 < len(frames) * 0.02 < 12
    assert not pcm[-5 * 960 :].any()  # ends with silence frames
    assert rms_dbfs(pcm[:, 0]) > -35


async def test_voice_channel_empty_text_ends_without_frames(piper_service) -> None:
    assert [f async for f in piper_service.voice_channel_frames(chars("😀 ... !!!"), SETTINGS)] == []


async def test_chinese_without_a_chinese_voice_is_refused_clearly(piper_service) -> None:
    with pytest.raises(NoVoiceForLanguage, match="'zh'"):
        await piper_service.voice_note("你好，今天天气很好。", SETTINGS)


@pytest.mark.parametrize("hostile", ["😀🎉👍🏽", "?!.;,...", "\x00\x01\x02\x1b", "<speak></speak>", ""])
async def test_unspeakable_text_is_a_clear_speech_error(piper_service, hostile) -> None:
    with pytest.raises(NothingToSay):
        await piper_service.voice_note(hostile, SETTINGS)


async def test_markup_injection_is_read_as_text(piper_service, ffmpeg) -> None:
    clip = await piper_service.voice_note('<speak><break time="60s"/></speak> Hi & <b>bye</b>', SETTINGS)
    assert clip.duration_s < 5


async def test_one_megabyte_reply_is_capped(tmp_path) -> None:
    from voice.service import build_speech

    service = build_speech(VoiceConfig(max_chars=120), cache_dir=tmp_path)
    async with service:
        clip = await service.voice_note("All work and no play makes a dull bot. " * 27_000, SETTINGS)
    assert clip.duration_s < 15


async def test_unknown_voice_falls_back_to_language_default(piper_service) -> None:
    clip = await piper_service.voice_note("Short test sentence here.", VoiceSettings(voice="nobody"))
    assert clip.voice == "joe"
    assert [(v.name, v.available) for v in await piper_service.voices()] == [("joe", True)]


async def test_say_writes_an_ogg_file(tmp_path) -> None:
    clip = await say("Hello from the terminal.", tmp_path / "out" / "reply.ogg", None, VoiceConfig())
    assert (tmp_path / "out" / "reply.ogg").read_bytes() == clip.data
    assert opus_head(clip.data)["input_rate"] == 48_000


async def test_engine_report_lists_ffmpeg_and_working_voices(piper_service) -> None:
    lines = await engine_report(piper_service)
    assert lines[0].startswith("voice: ffmpeg ")
    assert any("joe (en): ok" in line for line in lines)


async def test_missing_piper_model_is_reported_not_raised(tmp_path) -> None:
    from voice.service import build_speech

    config = VoiceConfig.model_validate(
        {"engines": [{"kind": "piper", "voices": [{"name": "ghost", "model": str(tmp_path / "no.onnx")}]}]}
    )
    service = build_speech(config)
    async with service:
        assert [v.available for v in await service.voices()] == [False]
        with pytest.raises(SpeechError):
            await service.voice_note("Hello there.", SETTINGS)
        assert any("unavailable" in line for line in await engine_report(service))


async def test_broken_text_stream_becomes_speech_error(piper_service) -> None:
    async def broken():
        yield "Fine so far. "
        raise RuntimeError("upstream engine died")

    with pytest.raises(SpeechError, match="upstream engine died"):
        async for _ in piper_service.voice_channel_frames(broken(), SETTINGS):
            pass
