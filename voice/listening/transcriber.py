"""Utterances' audio -> text, at most ``max_concurrent`` at once per room, the rest in a bounded queue.

Each room (guild) has its own slots and queue, so a crowded guild cannot starve another. A full queue
drops its oldest waiting utterance (logged): in a conversation the newest speech matters most. The
audio of an utterance is released as soon as its transcription has finished, whatever the outcome.
A speaker's utterances are handed on in the order they were spoken, even when a short one is
transcribed before a longer one that came first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np

from core.hearing import Speaker, Utterance, UtteranceHandler
from core.stt import NoSpeech, SpeechToText, TranscriptionError
from voice.listening.signal import TARGET_RATE

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One utterance waiting for (or in) transcription; mutable because its audio is let go early."""

    speaker: Speaker
    samples: np.ndarray | None
    speech_s: float
    ended_at: float
    truncated: bool
    previous: asyncio.Future[None] | None = None  # the same speaker's previous job, delivered first
    delivered: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def pcm(self) -> bytes:
        """The audio as 16-bit mono PCM at 16 kHz."""
        assert self.samples is not None
        return (np.clip(self.samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


@dataclass
class _Room:
    running: int = 0
    waiting: collections.deque[Job] = field(default_factory=collections.deque)


def _key(speaker: Speaker) -> tuple[str, str]:
    return speaker.room, speaker.user_id


class Transcriber:
    """Transcribes utterances and hands them to ``on_utterance``.

    Args:
        stt: the speech-to-text service (started by its owner).
        on_utterance: called with each transcribed utterance (errors are logged, never raised here).
        max_concurrent: transcriptions at once per room.
        queue: utterances waiting per room.
        language: forced language, or None to detect it.
        max_duration_s: the longest audio handed to ``stt``.
    """

    def __init__(
        self,
        stt: SpeechToText,
        on_utterance: UtteranceHandler,
        *,
        max_concurrent: int,
        queue: int,
        language: str | None,
        max_duration_s: float,
    ) -> None:
        self.stt = stt
        self.on_utterance = on_utterance
        self.max_concurrent = max_concurrent
        self.queue = queue
        self.language = language
        self.max_duration_s = max_duration_s
        self._rooms: dict[str, _Room] = {}
        self._tasks: dict[asyncio.Task[None], Job] = {}
        self._last: dict[tuple[str, str], Job] = {}
        self.dropped = 0  # utterances pushed out of a full queue
        self.failed = 0  # transcriptions that failed (not counting "no speech")

    def submit(self, job: Job) -> None:
        """Transcribe ``job`` now if its room has a free slot, else queue it (dropping the oldest when full)."""
        key = _key(job.speaker)
        last = self._last.get(key)
        job.previous = last.delivered if last is not None else None
        self._last[key] = job
        room = self._rooms.setdefault(job.speaker.room, _Room())
        if room.running < self.max_concurrent:
            self._start(room, job)
            return
        if len(room.waiting) >= self.queue:
            oldest = room.waiting.popleft()
            self.dropped += 1
            log.warning(
                "listening: room %s: %d utterances already waiting for transcription; dropped the oldest "
                "(%.1f s from %s)", job.speaker.room, self.queue, oldest.speech_s, oldest.speaker.name or oldest.speaker.user_id,
            )
            self._settle(oldest)
        room.waiting.append(job)

    def cancel(self, speaker: Speaker) -> None:
        """Drop every queued and running transcription of ``speaker`` (nothing of theirs is delivered)."""
        key = _key(speaker)
        room = self._rooms.get(speaker.room)
        if room is not None:
            for job in [j for j in room.waiting if _key(j.speaker) == key]:
                room.waiting.remove(job)
                self._settle(job)
        for task, job in list(self._tasks.items()):
            if _key(job.speaker) == key:
                task.cancel()
        self._last.pop(key, None)

    async def stop(self) -> None:
        """Drop the queues and cancel every transcription."""
        for room in self._rooms.values():
            while room.waiting:
                self._settle(room.waiting.popleft())
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._rooms.clear()
        self._last.clear()

    @property
    def running(self) -> int:
        """Transcriptions running now, all rooms together."""
        return sum(room.running for room in self._rooms.values())

    @property
    def waiting(self) -> int:
        """Utterances queued now, all rooms together."""
        return sum(len(room.waiting) for room in self._rooms.values())

    def _start(self, room: _Room, job: Job) -> None:
        room.running += 1
        task = asyncio.create_task(self._run(room, job), name=f"hearing-{job.speaker.room}-{job.speaker.user_id}")
        self._tasks[task] = job
        task.add_done_callback(self._tasks.pop)

    def _release(self, room: _Room, job: Job) -> None:
        """The slot is free: the audio goes, the next waiting utterance starts."""
        job.samples = None
        room.running -= 1
        if room.waiting:
            self._start(room, room.waiting.popleft())
        elif room.running == 0:
            self._rooms.pop(job.speaker.room, None)

    async def _run(self, room: _Room, job: Job) -> None:
        utterance: Utterance | None = None
        try:
            try:
                utterance = await self._transcribe(job)
            finally:
                self._release(room, job)
            if job.previous is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(job.previous)
            if utterance is not None:
                try:
                    await self.on_utterance(utterance)
                except Exception:
                    log.exception("listening: the utterance handler failed for %s", _who(job.speaker))
        finally:
            self._settle(job)

    async def _transcribe(self, job: Job) -> Utterance | None:
        who = _who(job.speaker)
        try:
            transcript = await self.stt.transcribe_pcm(
                job.pcm(), TARGET_RATE, language=self.language, max_duration_s=self.max_duration_s
            )
        except NoSpeech as exc:
            log.debug("listening: no words in %.1f s from %s: %s", job.speech_s, who, exc)
            return None
        except TranscriptionError as exc:
            self.failed += 1
            log.warning("listening: cannot transcribe %.1f s of speech from %s: %s: %s",
                        job.speech_s, who, type(exc).__name__, exc)
            return None
        except Exception:  # the contract says TranscriptionError only; a bug must not stop hearing
            self.failed += 1
            log.exception("listening: transcription of %.1f s from %s failed unexpectedly", job.speech_s, who)
            return None
        return Utterance(
            speaker=job.speaker,
            text=transcript.text,
            language=transcript.language,
            duration_s=job.speech_s,
            ended_at=job.ended_at,
            truncated=job.truncated,
        )

    def _settle(self, job: Job) -> None:
        job.samples = None
        if not job.delivered.done():
            job.delivered.set_result(None)
        key = _key(job.speaker)
        if self._last.get(key) is job:
            del self._last[key]


def _who(speaker: Speaker) -> str:
    return f"{speaker.name or speaker.user_id} in {speaker.room}"
