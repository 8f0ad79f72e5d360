"""Real speech as a Discord voice channel delivers it (48 kHz stereo s16le, 20 ms frames) and ears to catch
what the hearing layer reports."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest

from core.hearing import FRAME_BYTES, SAMPLE_RATE, Speaker, Utterance
from core.speech import VoiceSettings
from core.stt import SpeechToText
from tests.spoken import ffmpeg
from voice.listening import ListeningConfig, SileroHearing, build_hearing
from voice.service import VoiceService

FRAME_S = 0.02
_SPOKEN: dict[str, bytes] = {}


async def _text(text: str) -> AsyncIterator[str]:
    yield text


async def spoken(speech: VoiceService, text: str) -> bytes:
    """``text`` spoken by Piper exactly as the bot would play it into a channel (48 kHz stereo, whole frames)."""
    if text not in _SPOKEN:
        frames = [f async for f in speech.voice_channel_frames(_text(text), VoiceSettings(enabled=True))]
        _SPOKEN[text] = b"".join(frames)
    return _SPOKEN[text]


def silence(seconds: float) -> bytes:
    return bytes(FRAME_BYTES * round(seconds / FRAME_S))


def noise(kind: str, seconds: float, amplitude: float) -> bytes:
    """ffmpeg's noise source (``pink``, ``white``, ``brown``) as channel PCM."""
    source = f"anoisesrc=r={SAMPLE_RATE}:c={kind}:a={amplitude}:d={seconds}:s=1"  # seeded: the same noise every run
    raw = ffmpeg(["-f", "lavfi", "-i", source, "-ac", "2", "-f", "s16le", "pipe:1"])
    return raw[: len(raw) - len(raw) % FRAME_BYTES]


def frames(raw: bytes) -> list[bytes]:
    assert len(raw) % FRAME_BYTES == 0
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]


def onset_s(raw: bytes, dbfs: float = -40.0) -> float:
    """Where the sound in ``raw`` starts: the first sample louder than ``dbfs``."""
    samples = np.abs(np.frombuffer(raw, dtype="<i2").astype(np.float32)) / 32768
    loud = np.flatnonzero(samples > 10 ** (dbfs / 20))
    assert loud.size, "no sound at all"
    return float(loud[0] // 2) / SAMPLE_RATE


class Ears:
    """Collects what a hearing layer reports."""

    def __init__(self) -> None:
        self.utterances: list[Utterance] = []
        self.starts: list[Speaker] = []
        self.start_times: list[float] = []
        self.threads: set[int] = set()  # where the callbacks ran

    async def on_utterance(self, utterance: Utterance) -> None:
        self.threads.add(threading.get_ident())
        self.utterances.append(utterance)

    def on_speech_start(self, speaker: Speaker) -> None:
        self.threads.add(threading.get_ident())
        self.starts.append(speaker)
        self.start_times.append(time.monotonic())

    async def wait_for(self, count: int, timeout: float = 60.0) -> list[Utterance]:
        deadline = time.monotonic() + timeout
        while len(self.utterances) < count:
            assert time.monotonic() < deadline, f"{len(self.utterances)} of {count} utterances after {timeout} s"
            await asyncio.sleep(0.01)
        return self.utterances


async def play(hearing: SileroHearing, speaker: Speaker, raw: bytes, *, settle: bool = False) -> None:
    """Feed ``raw`` frame by frame; with ``settle`` wait for the VAD after each frame (audio-time checks)."""
    for index, frame in enumerate(frames(raw), 1):
        hearing.feed(speaker, frame)
        if settle or index % 50 == 0:  # never let the VAD thread fall far behind (its backlog is capped)
            await hearing.settled()
    await hearing.settled()


async def quiet(hearing: SileroHearing, seconds: float = 0.3) -> None:
    """Wait until nothing is being transcribed or queued, then a little longer."""
    await hearing.settled()
    deadline = time.monotonic() + 60
    while hearing.transcriber.running or hearing.transcriber.waiting:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await asyncio.sleep(seconds)


@pytest.fixture
def ears() -> Ears:
    return Ears()


@pytest.fixture
async def make_hearing(ears: Ears) -> AsyncIterator[Callable[..., Awaitable[SileroHearing]]]:
    """Build started hearing layers (stopped at the end of the test)."""
    made: list[SileroHearing] = []

    async def make(stt: SpeechToText, **config: object) -> SileroHearing:
        hearing = build_hearing(ListeningConfig(enabled=True, **config), stt, ears.on_utterance, ears.on_speech_start)
        assert isinstance(hearing, SileroHearing)
        await hearing.start()
        made.append(hearing)
        return hearing

    yield make
    for hearing in made:
        await hearing.stop()
