"""Voice-channel queue through discord.py's AudioSource contract, with a stand-in voice connection."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import discord

from adapters.discord.audio import FRAME_BYTES, SILENCE
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.text import neutralize, split_text
from adapters.discord.voice import VoiceManager
from adapters.discord.voice_message import fit_waveform
from tests.adapters.discord.tone_speech import ToneSpeech, dominant_freq, freq_for


class StandInVoice:
    """Plays a source like discord.py's AudioPlayer (a thread calling read() until b''), without pacing."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.channel = SimpleNamespace(members=[SimpleNamespace(bot=False)])
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def play(self, source: discord.AudioSource, *, after) -> None:  # noqa: ANN001
        assert not self.is_playing(), "discord.py refuses a second source while playing"
        assert isinstance(source, discord.AudioSource) and not source.is_opus()
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                data = source.read()
                if not data:
                    break
                assert len(data) == FRAME_BYTES
                self.frames.append(data)
                self._stop.wait(0.001)
            after(None)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def is_playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_connected(self) -> bool:
        return True

    def stop(self) -> None:
        self._stop.set()

    async def disconnect(self, force: bool = False) -> None:
        self.stop()


def segments(frames: list[bytes]) -> list[tuple[str, int]]:
    """Run-length of frames: ('silence', n) or (dominant Hz, n)."""
    out: list[tuple[str, int]] = []
    for frame in frames:
        label = "silence" if frame == SILENCE else str(int(round(dominant_freq(frame))))
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1] + 1)
        else:
            out.append((label, 1))
    return out


def after_lead_in(segs: list[tuple[str, int]], lead: int) -> list[tuple[str, int]]:
    """Drop the leading silence: the lead-in, plus underrun frames played while the first sentence synthesizes."""
    if segs and segs[0][0] == "silence":
        assert segs[0][1] >= lead
        return segs[1:]
    assert lead == 0
    return segs


async def until(pred, timeout: float = 5.0) -> None:  # noqa: ANN001
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_queue_plays_clips_in_order_with_silence_and_guilds_do_not_mix() -> None:
    speech = ToneSpeech(per_sentence_s=0.2)
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=100, gap_frames=5))
    a, b = StandInVoice(), StandInVoice()
    manager.attach(1, a, None)
    manager.attach(2, b, None)
    manager.say(1, "One.")
    manager.say(1, "Second clip.")
    manager.say(2, "Guild two speaking.")
    manager.say(1, "The third one here.")
    await until(lambda: not a.is_playing() and not len(manager.sessions[1].queue) and len(a.frames) > 40)
    await until(lambda: not b.is_playing() and len(b.frames) > 10)
    f = lambda s: str(int(freq_for(s)))  # noqa: E731
    assert after_lead_in(segments(a.frames), 5) == [(f("One."), 10), ("silence", 5), (f("Second clip."), 10),
                                  ("silence", 5), (f("The third one here."), 10), ("silence", 5)]
    assert after_lead_in(segments(b.frames), 5) == [(f("Guild two speaking."), 10), ("silence", 5)]


async def test_skip_drops_the_playing_clip_and_the_next_plays() -> None:
    speech = ToneSpeech(per_sentence_s=2.0)
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0, gap_frames=5))
    vc = StandInVoice()
    manager.attach(7, vc, None)
    manager.say(7, "A long first clip that will be skipped.")
    manager.say(7, "Next.")
    await until(lambda: len(vc.frames) > 5)
    assert manager.skip(7)
    await until(lambda: not vc.is_playing() and not len(manager.sessions[7].queue))
    segs = after_lead_in(segments(vc.frames), 0)
    assert segs[0][0] == str(int(freq_for("A long first clip that will be skipped."))) and segs[0][1] < 100
    assert segs[1:] == [("silence", 5), (str(int(freq_for("Next."))), 100), ("silence", 5)]


async def test_streamed_reply_first_sentence_plays_before_the_reply_is_complete() -> None:
    speech = ToneSpeech(per_sentence_s=0.1)
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0))
    vc = StandInVoice()
    manager.attach(3, vc, None)
    manager.stream_piece(3, "r1", "Hello there. Still")
    await until(lambda: len(vc.frames) >= 5)  # the first sentence plays while the reply is unfinished
    assert speech.sentences == ["Hello there."]
    manager.stream_piece(3, "r1", " thinking.")
    manager.finish(3, "r1", "Hello there. Still thinking.")
    await until(lambda: speech.sentences == ["Hello there.", "Still thinking."] and not vc.is_playing())
    tones = [s for s in segments(vc.frames) if s[0] != "silence"]
    assert [t[0] for t in tones] == [str(int(freq_for(x))) for x in ("Hello there.", "Still thinking.")]
    assert await manager.leave(3) and not manager.sessions


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
