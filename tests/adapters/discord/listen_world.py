"""Shared pieces of the listening tests: a hearing that records what it is fed, speech to say into the
channel, commands (the guild where the fake's members sit in the lounge is conftest's ``room`` fixture)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from core.hearing import FRAME_BYTES, Hearing, Speaker, SpeechStartHandler, UtteranceHandler
from core.speech import VoiceSettings
from tests.adapters.discord.conftest import ALICE, GENERAL, GUILD, KIM, ROBOT, SAM
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.voice_world import _whisper, hook_answer, reference
from voice.service import VoiceService

__all__ = ["KIM", "ROBOT", "SAM"]


class RecordingHearing(Hearing):
    """A hearing that keeps what it is fed (frames per speaker) and what it is told to forget."""

    def __init__(self, on_utterance: UtteranceHandler, on_speech_start: SpeechStartHandler) -> None:
        self.on_utterance, self.on_speech_start = on_utterance, on_speech_start
        self.fed: dict[Speaker, bytearray] = {}
        self.forgotten: list[Speaker] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def feed(self, speaker: Speaker, pcm: bytes) -> None:
        assert len(pcm) % FRAME_BYTES == 0, "whole 20 ms frames only"
        self.fed.setdefault(speaker, bytearray()).extend(pcm)

    def forget(self, speaker: Speaker) -> None:
        self.forgotten.append(speaker)

    def frames(self, user_id: int) -> int:
        return sum(len(pcm) for s, pcm in self.fed.items() if s.user_id == str(user_id)) // FRAME_BYTES

    def pcm(self, user_id: int) -> bytes:
        return b"".join(bytes(pcm) for s, pcm in self.fed.items() if s.user_id == str(user_id))


async def slash(fake: FakeDiscord, name: str, member: dict[str, Any] = ALICE, timeout: float = 40.0,
                permissions: str | None = None, **options: str) -> str:
    data = await fake.interaction(name, options, guild_id=GUILD, channel_id=GENERAL, member=member,
                                  permissions=permissions)
    return await hook_answer(fake, data, timeout)


async def joined_with_dave(fake: FakeDiscord, server: FakeVoiceServer) -> None:
    """``/join``, then wait until the fake's members are in the bot's DAVE group (they can speak)."""
    assert (await slash(fake, "join")).startswith("Joined lounge")
    await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s.dave is not None and s.dave.active
                          and all(m.ready for m in s.dave.extra.values()) and bool(s.dave.transitions), timeout=30)
    await asyncio.sleep(0.1)  # the bot executes the transition (op 22) it was just sent


async def say_pcm(speech: VoiceService, text: str) -> bytes:
    """``text`` synthesized by Piper, as 48 kHz stereo PCM (what a member says into the channel)."""
    frames = await reference(speech, text, VoiceSettings(enabled=True))
    return b"".join(frames)


def heard_text(pcm: bytes) -> str:
    """What faster-whisper (tiny.en) hears in 48 kHz stereo PCM."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    mono = samples.reshape(-1, 2).mean(axis=1)
    mono = mono[: len(mono) // 3 * 3].reshape(-1, 3).mean(axis=1)  # 48 -> 16 kHz, averaged against aliasing
    segments, _ = _whisper().transcribe(mono, language="en", beam_size=1, vad_filter=True)
    return " ".join(s.text for s in segments).lower()


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)
