"""edge-tts engine: its own logic against an in-process stand-in for ``edge_tts.Communicate``,
and the fallback to Piper against a local endpoint that never answers (no internet needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import ClassVar
from xml.etree import ElementTree

import edge_tts
import numpy as np
import pytest
from edge_tts.communicate import mkssml

from core.speech import VoiceSettings
from voice.audio import run_ffmpeg
from voice.config import EdgeEngineConfig, VoiceConfig
from voice.engines.edge import EdgeEngine, rate_option
from voice.errors import AllEnginesFailed, TtsEngineError, TtsUnavailable
from voice.service import build_speech
from voice.text import prepare_text

ZH = "zh-CN-XiaoxiaoNeural"


@pytest.fixture(scope="module")
def mp3_second() -> bytes:
    """One second of a 24 kHz tone as MP3, like the service sends."""
    from voice.audio import find_ffmpeg

    t = np.arange(24_000) / 24_000
    pcm = (np.sin(2 * np.pi * 300 * t) * 12_000).astype("<i2").tobytes()
    args = [
        "-f",
        "s16le",
        "-ar",
        "24000",
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "48k",
        "-f",
        "mp3",
        "pipe:1",
    ]
    return asyncio.run(run_ffmpeg(find_ffmpeg(), args, pcm))


def stand_in(mp3: bytes, delay: float = 0.0, fail: Exception | None = None) -> type[edge_tts.Communicate]:
    """A Communicate whose stream() replays canned chunks instead of opening a websocket."""

    class StandIn(edge_tts.Communicate):
        made: ClassVar[list[StandIn]] = []
        running = 0
        peak = 0

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)  # the real option validation and text escaping
            self.kwargs = kwargs
            StandIn.made.append(self)

        async def stream(self) -> AsyncGenerator[dict, None]:
            StandIn.running += 1
            StandIn.peak = max(StandIn.peak, StandIn.running)
            try:
                await asyncio.sleep(delay)
                if fail is not None:
                    raise fail
                step = len(mp3) // 4
                for i in range(0, len(mp3), step):
                    yield {"type": "WordBoundary", "offset": i, "duration": 1, "text": "w"}
                    yield {"type": "audio", "data": mp3[i : i + step]}
            finally:
                StandIn.running -= 1

    return StandIn


def edge_engine(mp3: bytes, **kwargs) -> EdgeEngine:
    from voice.audio import find_ffmpeg

    config = EdgeEngineConfig(**{"timeout_s": 2.0, **kwargs.pop("config", {})})
    return EdgeEngine(config, find_ffmpeg(), communicate_cls=stand_in(mp3, **kwargs))


async def test_chunks_are_assembled_and_decoded(mp3_second) -> None:
    engine = edge_engine(mp3_second)
    async with engine:
        pcm = await engine.synthesize("Hello there.", "en-US-AriaNeural", 1.25)
    assert pcm.sample_rate == 24_000 and abs(pcm.duration_s - 1.0) < 0.1
    made = engine._communicate_cls.made[0]
    assert made.tts_config.voice.endswith("(en-US, AriaNeural)") and made.tts_config.rate == "+25%"
    assert made.kwargs["connect_timeout"] == 3 and made.kwargs["receive_timeout"] == 10


def test_rate_option_format() -> None:
    assert [rate_option(r) for r in (1.0, 1.5, 0.8, 2.0)] == ["+0%", "+50%", "-20%", "+100%"]


async def test_hostile_text_cannot_inject_ssml(mp3_second) -> None:
    hostile = '</prosody></voice><voice name="en-GB-Evil"><break time="100s"/>hi & <mstts:x/>'
    engine = edge_engine(mp3_second)
    async with engine:
        await engine.synthesize(prepare_text(hostile), ZH)
        await engine.synthesize(hostile, ZH)  # even unprepared text is escaped by the stand-in's real base
    for made in engine._communicate_cls.made:
        root = ElementTree.fromstring(mkssml(made.tts_config, next(iter(made.texts))))
        tags = [el.tag.rsplit("}", 1)[-1] for el in root.iter()]
        assert tags == ["speak", "voice", "prosody"]  # no injected voice, break or mstts element
        assert root[0].get("name").endswith("XiaoxiaoNeural)")


async def test_concurrency_is_capped(mp3_second) -> None:
    engine = edge_engine(mp3_second, delay=0.05, config={"max_concurrency": 2})
    async with engine:
        await asyncio.gather(*(engine.synthesize(f"Sentence {i}.", ZH) for i in range(6)))
    assert engine._communicate_cls.peak == 2


async def test_failures_open_the_breaker_and_it_skips_at_once(mp3_second) -> None:
    engine = edge_engine(mp3_second, fail=edge_tts.exceptions.NoAudioReceived("403"), config={"breaker_failures": 2})
    async with engine:
        for _ in range(2):
            with pytest.raises(TtsEngineError, match="NoAudioReceived"):
                await engine.synthesize("Hi there.", ZH)
        started = time.perf_counter()
        with pytest.raises(TtsUnavailable, match="circuit open"):
            await engine.synthesize("Hi there.", ZH)
        assert time.perf_counter() - started < 0.01
        assert len(engine._communicate_cls.made) == 2
        assert not any(v.available for v in engine.voices())


async def test_chinese_reply_goes_to_the_chinese_voice(mp3_second) -> None:
    service = build_speech(VoiceConfig.model_validate({"engines": [{"kind": "piper"}, {"kind": "edge"}]}))
    from voice.audio import find_ffmpeg

    service.engines[1] = EdgeEngine(service.config.engines[1], find_ffmpeg(), stand_in(mp3_second))
    service.router = type(service.router)(service.engines, {})
    async with service:
        clip = await service.voice_note("你好，今天天气很好。", VoiceSettings(voice="joe"))
        english = await service.voice_note("Hello there, friend.", VoiceSettings(voice="joe"))
    assert (clip.engine, clip.voice) == ("edge", ZH)
    assert (english.engine, english.voice) == ("piper", "joe")


@pytest.fixture
async def black_hole() -> AsyncGenerator[tuple[str, list[int]], None]:
    """A local 'proxy' that accepts connections and never answers, like a hung service."""
    accepted: list[int] = []
    writers = []

    async def handle(reader, writer) -> None:
        accepted.append(1)
        writers.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", accepted
    for writer in writers:
        writer.close()
    server.close()


async def test_hung_edge_falls_to_piper_in_bounded_time_then_breaker_skips(black_hole) -> None:
    proxy, accepted = black_hole
    config = VoiceConfig.model_validate(
        {
            "engines": [
                {"kind": "edge", "proxy": proxy, "timeout_s": 0.5, "breaker_failures": 1},
                {"kind": "piper"},
            ]
        }
    )
    service = build_speech(config)
    async with service:
        started = time.perf_counter()
        clip = await service.voice_note("The service is down today.", VoiceSettings())
        first = time.perf_counter() - started
        assert clip.engine == "piper" and accepted  # edge really tried the (hung) endpoint
        assert 0.5 <= first < 0.5 + 3.0
        started = time.perf_counter()
        clip = await service.voice_note("And it is still down now.", VoiceSettings())
        second = time.perf_counter() - started
    assert clip.engine == "piper" and len(accepted) == 1  # edge skipped without connecting
    assert second < first - 0.4


async def test_every_engine_failing_names_the_reasons(black_hole) -> None:
    proxy, _ = black_hole
    config = VoiceConfig.model_validate({"engines": [{"kind": "edge", "proxy": proxy, "timeout_s": 0.3}]})
    service = build_speech(config)
    async with service:
        with pytest.raises(AllEnginesFailed, match="no audio within 0.3 s") as info:
            await service.voice_note("Hello there.", VoiceSettings())
    assert len(info.value.reasons) == 1
