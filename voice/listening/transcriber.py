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
import functools
import logging
from dataclasses import dataclass, field

import numpy as np

from core.hearing import Speaker, Utterance, UtteranceHandler
from core.stt import NoSpeech, SpeechToText, TranscriptionError
from voice.listening.signal import TARGET_RATE

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One utterance waiting for (or in) transcription; mutable because its audio is let go early.

    A job made from a finished utterance is confirmed at once; one started tentatively (at a pause, see
    ``ListeningConfig.eager_ms``) is confirmed with :meth:`Transcriber.confirm` or dropped with
    :meth:`Transcriber.discard`.
    """

    speaker: Speaker
    samples: np.ndarray | None
    speech_s: float
    ended_at: float
    truncated: bool
    tentative: bool = False
    holds_slot: bool = False  # counted in its room's running transcriptions
    previous: asyncio.Future[None] | None = None  # the same speaker's previous job, delivered first
    delivered: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    #: set when the utterance is known to be over; a tentative job (started early) waits for it to be handed on
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.tentative:
            self.confirmed.set()

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
        self.discarded = 0  # tentative transcriptions thrown away because the speaker went on

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

    def confirm(self, job: Job) -> None:
        """The utterance ``job`` was started for tentatively is over: hand it on when transcribed."""
        job.confirmed.set()

    def discard(self, job: Job) -> None:
        """The tentative ``job`` is void (the speaker went on): drop it, queued or running."""
        self.discarded += 1
        room = self._rooms.get(job.speaker.room)
        if room is not None and job in room.waiting:
            room.waiting.remove(job)
            self._settle(job)
            return
        for task, running in list(self._tasks.items()):
            if running is job:
                task.cancel()

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
        job.holds_slot = True
        task = asyncio.create_task(self._run(room, job), name=f"hearing-{job.speaker.room}-{job.speaker.user_id}")
        self._tasks[task] = job
        # cleanup in a callback, not only in _run: a task cancelled before it started never runs its finally
        task.add_done_callback(functools.partial(self._done, room, job))

    def _done(self, room: _Room, job: Job, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._release(room, job)
        self._settle(job)

    def _release(self, room: _Room, job: Job) -> None:
        """The slot is free: the audio goes, the next waiting utterance starts (once per job)."""
        job.samples = None
        if not job.holds_slot:
            return
        job.holds_slot = False
        room.running -= 1
        if room.waiting:
            self._start(room, room.waiting.popleft())
        elif room.running == 0 and self._rooms.get(job.speaker.room) is room:
            del self._rooms[job.speaker.room]

    async def _run(self, room: _Room, job: Job) -> None:
        try:
            utterance = await self._transcribe(job)
        finally:
            self._release(room, job)
        await job.confirmed.wait()
        if job.previous is not None:
            await asyncio.shield(job.previous)  # shielded: our cancellation must not cancel theirs
        if utterance is not None:
            try:
                await self.on_utterance(utterance)
            except Exception:
                log.exception("listening: the utterance handler failed for %s", _who(job.speaker))

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
