"""Listening in a voice channel: the contract between an adapter that receives speakers' audio and the
layer that turns it into utterances (the ``voice.listening`` package implements it).

An adapter that receives audio (Discord's voice receive path) calls :meth:`Hearing.feed` with each
speaker's decoded PCM, 20 ms at a time, and :meth:`Hearing.forget` when a speaker leaves or stops being
listened to. The hearing layer segments each speaker's speech into utterances (voice activity detection),
transcribes them and hands each one to the ``on_utterance`` callback it was built with; it reports the
start of speech at once through ``on_speech_start`` so the adapter can stop its own playback (barge-in).
Audio is never kept after its utterance is transcribed.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.lifecycle import Resource

#: the PCM format fed in: signed 16-bit little-endian, 48 kHz, 2 channels (Discord's Opus decode output)
SAMPLE_RATE = 48_000
CHANNELS = 2
SAMPLE_WIDTH = 2
#: one 20 ms frame of that PCM, in bytes
FRAME_BYTES = SAMPLE_RATE // 50 * CHANNELS * SAMPLE_WIDTH


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who is speaking, and where.

    Attributes:
        user_id: the platform's user id, as a string.
        room: where the voice is heard (a Discord guild id, as a string); one conversation per room.
        name: a display name for logs and the text chat (may be empty).
    """

    user_id: str
    room: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech, transcribed.

    Attributes:
        speaker: who said it.
        text: the words (never empty).
        language: the detected (or forced) language, a BCP 47 base tag such as ``en``.
        duration_s: how long the speech lasted.
        ended_at: ``time.monotonic()`` when the speech ended (the start of voice-to-voice latency).
        truncated: the speaker went on past the longest utterance allowed; this is its first part.
    """

    speaker: Speaker
    text: str
    language: str
    duration_s: float
    ended_at: float
    truncated: bool = False


UtteranceHandler = Callable[[Utterance], Awaitable[None]]
SpeechStartHandler = Callable[[Speaker], None]


class Hearing(Resource, abc.ABC):
    """Turns speakers' PCM into :class:`Utterance` objects.

    Implementations never block the event loop in :meth:`feed` (it is called for every 20 ms frame of
    every speaker) and never raise from it: a failed transcription is logged and dropped.
    """

    @abc.abstractmethod
    def feed(self, speaker: Speaker, pcm: bytes) -> None:
        """Take ``pcm`` (a whole number of 20 ms frames in the format above) that ``speaker`` sent."""

    @abc.abstractmethod
    def forget(self, speaker: Speaker) -> None:
        """Drop everything held for ``speaker`` (left the channel, muted, opted out, listening turned off)."""
