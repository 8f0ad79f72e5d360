"""Voice-channel queue through discord.py's AudioSource contract, with a stand-in voice connection.

The speech is the real voice layer (Piper). Frames are identified by comparing them with
what the same service gives for each text afterwards: its sentence cache returns the audio
that was played, so the comparison is exact.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

from adapters.discord.audio import SILENCE, Clip, SpeechQueue
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.text import neutralize, split_text
from adapters.discord.voice import VoiceManager
from adapters.discord.voice_message import fit_waveform
from core.speech import VoiceSettings
from tests.adapters.discord.stand_in_voice import StandInVoice
from voice.service import VoiceService

GAP = [SILENCE] * 5


async def _once(text: str) -> AsyncIterator[str]:
    yield text


async def reference(speech: VoiceService, text: str, settings: VoiceSettings) -> list[bytes]:
    """The service's frames for ``text`` (from its cache once the test has played it)."""
    frames = [f async for f in speech.voice_channel_frames(_once(text), settings)]
    assert len(voiced(frames)) > 20, "real speech: more than 0.4 s of sound"
    return frames


def voiced(frames: list[bytes]) -> list[bytes]:
    """The frames that are not digital silence."""
    return [f for f in frames if f != SILENCE]


async def until(pred: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_queue_plays_clips_in_order_with_silence_and_guilds_do_not_mix(speech: VoiceService) -> None:
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=100, gap_frames=5))
    gate = threading.Event()
    a, b = StandInVoice(gate), StandInVoice(gate)
    manager.attach(1, a, None)
    manager.attach(2, b, None)
    one, two, three, other = ("One moment, please.", "The second clip is here.", "And this is the third one.",
                              "Guild two is speaking now.")
    clips = [manager.say(1, one), manager.say(1, two), manager.say(2, other), manager.say(1, three)]
    await asyncio.gather(*(c.task for c in clips if c.task))  # every queued clip synthesizes before its turn
    assert not a.frames and not b.frames
    gate.set()
    await until(lambda: not a.is_playing() and not b.is_playing())
    assert not len(manager.sessions[1].queue) and not len(manager.sessions[2].queue)
    ref = {t: await reference(speech, t, manager.settings) for t in (one, two, three, other)}
    # the voice layer opens each reply with silence: it serves as the 100 ms lead-in, nothing is added
    assert ref[one][:5] == [SILENCE] * 5 and ref[other][:5] == [SILENCE] * 5
    assert a.frames == ref[one] + GAP + ref[two] + GAP + ref[three] + GAP
    assert b.frames == ref[other] + GAP
    assert manager.sessions[1].queue.underruns == 0


async def test_skip_drops_the_playing_clip_and_the_next_plays(speech: VoiceService) -> None:
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0, gap_frames=5))
    gate = threading.Event()
    vc = StandInVoice(gate, interval_s=0.005)
    manager.attach(7, vc, None)
    long, nxt = "A long first clip that will be skipped well before its last word is spoken.", "Next one, please."
    clips = [manager.say(7, long), manager.say(7, nxt)]
    await asyncio.gather(*(c.task for c in clips if c.task))
    gate.set()
    await until(lambda: len(voiced(vc.frames)) > 5)
    assert manager.skip(7)
    await until(lambda: not vc.is_playing() and not len(manager.sessions[7].queue))
    first, second = await reference(speech, long, manager.settings), await reference(speech, nxt, manager.settings)
    cut = clips[0].played
    assert 5 < cut < len(first) // 2, "skipped early in the clip"
    assert vc.frames == first[:cut] + GAP + second + GAP


async def test_streamed_reply_first_sentence_plays_before_the_reply_is_complete(speech: VoiceService) -> None:
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0))
    vc = StandInVoice()
    manager.attach(3, vc, None)
    first, rest = "Hello there, this is the first sentence.", " Still thinking about the second one."
    manager.stream_piece(3, "r1", first + rest[:6])  # sentence one is complete once the next word begins
    await until(lambda: len(voiced(vc.frames)) >= 5)  # it plays while the reply is unfinished
    manager.stream_piece(3, "r1", rest[6:])
    manager.finish(3, "r1", first + rest)
    await until(lambda: not vc.is_playing())
    assert voiced(vc.frames) == voiced(await reference(speech, first + rest, manager.settings))
    assert await manager.leave(3) and not manager.sessions


LOUD_FRAME = b"\x00\x10" * 1920  # a frame with sound


async def _frames(items: list[bytes], gate: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for item in items:
        if gate is not None:
            await gate.wait()
        yield item


async def test_lead_in_pads_a_clip_that_opens_with_sound_and_counts_its_own_silence() -> None:
    q = SpeechQueue(lead_in_frames=5, gap_frames=2)
    loud = Clip("loud start")
    q.add(loud)
    await loud.fill(_frames([LOUD_FRAME] * 3))
    quiet = [SILENCE, SILENCE, LOUD_FRAME, LOUD_FRAME]
    source = q.source()
    assert [source.read() for _ in range(10)] == [SILENCE] * 5 + [LOUD_FRAME] * 3 + [SILENCE] * 2
    assert source.read() == b"" and loud.played == 3
    opens_quietly = Clip("quiet start")
    q.add(opens_quietly)
    await opens_quietly.fill(_frames(quiet))
    source = q.source()  # a new burst: the clip's two quiet frames count, three are added
    assert [source.read() for _ in range(9)] == [SILENCE, SILENCE, SILENCE, SILENCE, SILENCE, LOUD_FRAME,
                                                 LOUD_FRAME, SILENCE, SILENCE]
    assert source.read() == b""


async def test_player_starts_only_once_the_first_frame_is_synthesized(speech: VoiceService) -> None:
    """An early player sends nothing but silence and slows the first sentence's synthesis down."""
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=100))
    vc = StandInVoice()
    session = manager.attach(4, vc, None)
    gate = asyncio.Event()
    clip = Clip("held back")
    clip.on_ready = lambda: manager._kick(session)
    session.queue.add(clip)
    clip.task = asyncio.create_task(clip.fill(_frames([LOUD_FRAME] * 10, gate)))
    manager._kick(session)
    await asyncio.sleep(0.2)
    assert not vc.is_playing() and not vc.frames, "no player while nothing is synthesized"
    gate.set()
    await until(lambda: clip.finished and not vc.is_playing())
    assert vc.frames == [SILENCE] * 5 + [LOUD_FRAME] * 10 + [SILENCE] * 5
    assert session.queue.underruns == 0
    failed = manager.say(4, "😀 !!!")  # nothing speakable: the clip ends without a frame and is dropped
    await until(lambda: failed.finished and not len(session.queue) and not vc.is_playing())
    assert len(vc.frames) == 20


def test_split_text_keeps_limits_and_boundaries() -> None:
    text = ("A sentence that ends here. " * 60 + "\n") * 3
    parts = split_text(text)
    assert all(len(p) <= 2000 for p in parts) and "".join(parts).replace(" ", "").replace("\n", "") == text.replace(
        " ", "").replace("\n", "")
    assert all(p.endswith(".") for p in parts)
    assert split_text("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]
    assert neutralize("hi @everyone and @here") == "hi @\u200beveryone and @\u200bhere"


def test_waveform_fits_discord_limits() -> None:
    assert len(fit_waveform(bytes(range(256)) * 4, 60.0)) == 256
    assert fit_waveform(bytes([1, 9, 2, 3]), 0.2) == bytes([9, 3])  # 2 points for 200 ms, peaks kept
