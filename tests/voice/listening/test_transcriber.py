"""Per-room transcription slots and queue, error handling, order and release of audio."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import wave
import weakref

import numpy as np
import pytest

from core.hearing import Speaker, Utterance
from core.stt import NoSpeech, SpeechToText, SttFailed, Transcript, UnreadableAudio
from voice.listening.transcriber import Job, Transcriber


class ScriptedStt(SpeechToText):
    """A speech-to-text service whose answers the test controls: the text is the first PCM sample's value.

    Each transcription waits for ``gate`` (set it to let them all through); ``fail`` maps a value to an error.
    It only implements ``transcribe`` (a WAV file), so it also exercises ``transcribe_pcm``'s default.
    """

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.running = 0
        self.most = 0
        self.heard: list[int] = []
        self.fail: dict[int, Exception] = {}
        self.release: dict[int, asyncio.Event] = {}

    async def transcribe(self, audio: bytes, *, language=None, max_duration_s=None) -> Transcript:
        with wave.open(io.BytesIO(audio)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16_000, 1, 2)
            first = int(np.frombuffer(w.readframes(1), dtype="<i2")[0])
            duration = w.getnframes() / 16_000
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
            if first in self.release:
                await self.release[first].wait()
            self.heard.append(first)
            if first in self.fail:
                raise self.fail[first]
            return Transcript(f"said {first}", language or "en", duration, 0.01, "scripted")
        finally:
            self.running -= 1


def job(speaker: Speaker, value: int, seconds: float = 0.5) -> Job:
    samples = np.full(int(16_000 * seconds), value / 32767, dtype=np.float32)
    return Job(speaker, samples, speech_s=seconds, ended_at=123.0, truncated=False)


def ann(room: str = "g1") -> Speaker:
    return Speaker("1", room, "Ann")


def bob(room: str = "g1") -> Speaker:
    return Speaker("2", room, "Bob")


class Collected:
    def __init__(self) -> None:
        self.items: list[Utterance] = []

    async def __call__(self, utterance: Utterance) -> None:
        self.items.append(utterance)

    def texts(self) -> list[str]:
        return [u.text for u in self.items]


def transcriber(stt: SpeechToText, out: Collected, max_concurrent: int = 2, queue: int = 8) -> Transcriber:
    return Transcriber(stt, out, max_concurrent=max_concurrent, queue=queue, language=None, max_duration_s=16.0)


async def settle(t: Transcriber) -> None:
    for _ in range(200):
        if not t.running and not t.waiting:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)


async def test_at_most_max_concurrent_per_room_and_rooms_do_not_share_slots() -> None:
    stt, out = ScriptedStt(), Collected()
    stt.gate.clear()
    t = transcriber(stt, out, max_concurrent=2)
    for value in range(1, 6):
        t.submit(job(Speaker(str(value), "g1"), value))
    t.submit(job(Speaker("9", "g2"), 9))
    await asyncio.sleep(0.05)
    assert (t.running, t.waiting, stt.running) == (3, 3, 3), "2 in g1 + 1 in g2 running, 3 waiting in g1"
    stt.gate.set()
    await settle(t)
    assert stt.most == 3 and sorted(out.texts()) == sorted(f"said {v}" for v in (1, 2, 3, 4, 5, 9))
    assert (t.running, t.waiting) == (0, 0)


async def test_a_full_queue_drops_the_oldest_waiting_utterance_with_a_log_line(caplog) -> None:
    stt, out = ScriptedStt(), Collected()
    stt.gate.clear()
    t = transcriber(stt, out, max_concurrent=1, queue=2)
    with caplog.at_level(logging.WARNING):
        for value in (1, 2, 3, 4):
            t.submit(job(Speaker(str(value), "g1", f"user{value}"), value))
    assert t.dropped == 1
    assert "g1: 2 utterances already waiting for transcription; dropped the oldest (0.5 s from user2)" in caplog.text
    stt.gate.set()
    await settle(t)
    assert out.texts() == ["said 1", "said 3", "said 4"]


async def test_no_speech_is_dropped_quietly_and_other_errors_are_logged_and_do_not_stop_the_next(caplog) -> None:
    stt, out = ScriptedStt(), Collected()
    stt.fail = {1: NoSpeech("only a cough"), 2: SttFailed("every speech-to-text engine failed: boom"),
                3: UnreadableAudio("bad"), 4: RuntimeError("a bug in an engine")}
    t = transcriber(stt, out, max_concurrent=1)
    with caplog.at_level(logging.DEBUG, logger="voice.listening"):
        for value in (1, 2, 3, 4, 5):
            t.submit(job(ann(), value))
        await settle(t)
    assert out.texts() == ["said 5"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in warnings] == ["WARNING", "WARNING", "ERROR"]
    assert "cannot transcribe 0.5 s of speech from Ann in g1: SttFailed: every speech-to-text engine failed: boom" in (
        warnings[0].getMessage())
    assert "UnreadableAudio" in warnings[1].getMessage()
    assert "failed unexpectedly" in warnings[2].getMessage() and warnings[2].exc_info is not None
    assert any("no words in 0.5 s from Ann" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    assert t.failed == 3


async def test_a_speakers_utterances_are_delivered_in_the_order_spoken() -> None:
    stt, out = ScriptedStt(), Collected()
    stt.release = {1: asyncio.Event()}
    t = transcriber(stt, out, max_concurrent=2)
    t.submit(job(ann(), 1, seconds=3.0))  # long: finishes last
    t.submit(job(ann(), 2))
    t.submit(job(bob(), 3))  # another speaker is not held back
    await asyncio.sleep(0.05)
    assert out.texts() == ["said 3"] and stt.heard == [2, 3]
    stt.release[1].set()
    await settle(t)
    assert out.texts() == ["said 3", "said 1", "said 2"]


async def test_a_failing_handler_is_logged_and_the_next_utterance_is_delivered(caplog) -> None:
    stt, seen = ScriptedStt(), []

    async def handler(utterance: Utterance) -> None:
        seen.append(utterance.text)
        if utterance.text == "said 1":
            raise RuntimeError("handler bug")

    t = Transcriber(stt, handler, max_concurrent=1, queue=4, language=None, max_duration_s=16.0)
    with caplog.at_level(logging.ERROR):
        t.submit(job(ann(), 1))
        t.submit(job(ann(), 2))
        await settle(t)
    assert seen == ["said 1", "said 2"] and "the utterance handler failed for Ann in g1" in caplog.text


async def test_audio_is_released_as_soon_as_transcription_finished() -> None:
    stt, out = ScriptedStt(), Collected()
    handler_saw_audio: list[bool] = []
    t = transcriber(stt, out)
    one = job(ann(), 7)
    samples = weakref.ref(one.samples)

    async def handler(utterance: Utterance) -> None:
        gc.collect()
        handler_saw_audio.append(samples() is not None)

    t.on_utterance = handler
    t.submit(one)
    del one
    await settle(t)
    assert handler_saw_audio == [False], "the audio was gone before the utterance was handed on"
    gc.collect()
    assert samples() is None


async def test_cancel_drops_queued_and_running_work_of_that_speaker_only() -> None:
    stt, out = ScriptedStt(), Collected()
    stt.gate.clear()
    t = transcriber(stt, out, max_concurrent=1)
    t.submit(job(ann(), 1))
    t.submit(job(ann(), 2))
    t.submit(job(bob(), 3))
    await asyncio.sleep(0.02)
    t.cancel(ann())
    stt.gate.set()
    await settle(t)
    assert out.texts() == ["said 3"]


async def test_stop_cancels_everything() -> None:
    stt, out = ScriptedStt(), Collected()
    stt.gate.clear()
    t = transcriber(stt, out, max_concurrent=1)
    for value in (1, 2, 3):
        t.submit(job(ann(), value))
    await asyncio.sleep(0.02)
    await t.stop()
    assert (t.running, t.waiting, stt.running) == (0, 0, 0) and out.items == []


@pytest.mark.parametrize("language", [None, "de"])
async def test_the_utterance_carries_what_the_job_knew(language) -> None:
    stt, out = ScriptedStt(), Collected()
    t = Transcriber(stt, out, max_concurrent=1, queue=1, language=language, max_duration_s=16.0)
    j = job(ann(), 5, seconds=1.0)
    j.truncated = True
    t.submit(j)
    await settle(t)
    [u] = out.items
    assert (u.speaker, u.text, u.duration_s, u.ended_at, u.truncated) == (ann(), "said 5", 1.0, 123.0, True)
    assert u.language == (language or "en")


def tentative(speaker: Speaker, value: int) -> Job:
    j = job(speaker, value)
    return Job(j.speaker, j.samples, j.speech_s, j.ended_at, j.truncated, tentative=True)


async def test_a_tentative_job_is_transcribed_at_once_but_handed_on_only_when_confirmed() -> None:
    stt, out = ScriptedStt(), Collected()
    t = transcriber(stt, out)
    early = tentative(ann(), 1)
    t.submit(early)
    await asyncio.sleep(0.05)
    assert stt.heard == [1] and out.items == [] and t.running == 0, "transcribed, slot free, held back"
    t.confirm(early)
    await settle(t)
    assert out.texts() == ["said 1"]


async def test_a_discarded_tentative_job_is_never_handed_on_queued_running_or_done() -> None:
    stt, out = ScriptedStt(), Collected()
    t = transcriber(stt, out, max_concurrent=1)
    done = tentative(ann(), 1)
    t.submit(done)
    await asyncio.sleep(0.05)  # transcribed, waiting for confirmation
    stt.gate.clear()
    running, queued = tentative(bob(), 2), tentative(Speaker("3", "g1"), 3)
    t.submit(running)
    t.submit(queued)
    await asyncio.sleep(0.02)
    assert (t.running, t.waiting) == (1, 1)
    for j in (done, running, queued):
        t.discard(j)
    t.submit(job(ann(), 4))  # Ann's next utterance is not held back by the void guess
    stt.gate.set()
    await settle(t)
    assert out.texts() == ["said 4"] and t.discarded == 3


async def test_regression_a_job_dropped_before_its_task_ran_frees_its_slot_and_does_not_block_the_next() -> None:
    """Cancelling a task that never started skips its ``finally``: the slot and the order chain leaked."""
    stt, out = ScriptedStt(), Collected()
    t = transcriber(stt, out, max_concurrent=1)
    early = tentative(ann(), 1)
    t.submit(early)
    t.discard(early)  # same tick: the task has not run yet
    t.submit(job(bob(), 2))
    t.cancel(bob())  # same for forget()
    t.submit(job(ann(), 3))
    await settle(t)
    assert out.texts() == ["said 3"] and (t.running, t.waiting) == (0, 0) and t._rooms == {}


async def test_regression_cancel_while_waiting_for_the_earlier_utterance_delivers_nothing() -> None:
    stt, out = ScriptedStt(), Collected()
    stt.release = {1: asyncio.Event()}
    t = transcriber(stt, out, max_concurrent=2)
    t.submit(job(ann(), 1, seconds=2.0))
    t.submit(job(ann(), 2))
    await asyncio.sleep(0.05)  # 2 is transcribed and waits for 1 to be handed on first
    t.cancel(ann())
    stt.release[1].set()
    await settle(t)
    assert out.items == [] and (t.running, t.waiting) == (0, 0)
