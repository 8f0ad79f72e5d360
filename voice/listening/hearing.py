"""The hearing layer: :class:`core.hearing.Hearing` with Silero VAD per speaker and the STT service.

Threads::

    event loop                         VAD thread (one per Hearing)           event loop
    feed(speaker, pcm) ──inbox──▶ 48k stereo → 16k mono, Silero, segmenter ──▶ on_speech_start(speaker)
      (appends bytes, no math)         (all of a speaker's waiting audio         Transcriber: per-room slots
                                        in one ONNX call)                        and queue → on_utterance

``feed`` only appends to the speaker's inbox and wakes the thread, so the event loop (and the audio
sender on it) never waits for the model. The ONNX run releases the GIL. Events come back to the loop
with ``call_soon_threadsafe``; an event of a speaker forgotten meanwhile is dropped there.

``feed`` and ``forget`` may be called from any thread (discord.py runs voice socket listeners in its
socket reader thread); ``start``, ``stop`` and ``settled`` belong to the event loop.

Discord clients stop sending when their user stops talking (a few silent frames, then nothing), so
"no audio" must count as silence: when a speaker in the middle of speech has sent nothing for
:data:`GAP_S`, the thread appends silence up to the present; and it wakes at the very moment silence
completes a quiet speaker's pause (``eager_ms``) or end (``end_silence_ms``), so the utterance ends on time
to the sample, not at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.hearing import FRAME_BYTES, SAMPLE_RATE, Hearing, Speaker, SpeechStartHandler, UtteranceHandler
from core.stt import SpeechToText
from voice.listening.config import ListeningConfig
from voice.listening.segmenter import Event, Resumed, Segment, Segmenter, SpeechStarted, Tentative
from voice.listening.signal import FACTOR, TARGET_RATE, Downsampler
from voice.listening.transcriber import Job, Transcriber
from voice.listening.vad import VadStream, load_model

log = logging.getLogger(__name__)

#: audio a speaker may have waiting for the VAD thread before the oldest is dropped (the thread is starved)
MAX_BACKLOG_S = 10.0
_BACKLOG_BYTES = int(MAX_BACKLOG_S * 50) * FRAME_BYTES
_SAMPLE_BYTES = FRAME_BYTES // (SAMPLE_RATE // 50)  # one 48 kHz stereo sample
_BYTES_PER_SECOND = SAMPLE_RATE * _SAMPLE_BYTES
#: a speaker in the middle of speech who sent nothing for this long is treated as silent since then
GAP_S = 0.1
#: a speaker whose pending silence would end their utterance (or reach ``eager_ms``) gets it exactly on time,
#: unless a packet of theirs came in this recently (then more are on the way and carry the silence themselves)
LATE_S = 0.04
_TICK_S = 0.05


@dataclass(eq=False)
class _Track:
    """One speaker's state; ``inbox`` and ``gone`` are shared with the VAD thread under the hearing's lock."""

    speaker: Speaker
    segmenter: Segmenter
    downsample: Downsampler = field(default_factory=Downsampler)
    inbox: list[bytes] = field(default_factory=list)
    inbox_bytes: int = 0
    arrived: float = 0.0  # monotonic time the newest inbox bytes arrived
    produced: int = 0  # 16 kHz samples produced so far (VAD thread only)
    produced_at: float = 0.0  # the monotonic time the end of those samples stands for (VAD thread only)
    gone: bool = False
    dropped_backlog: bool = False
    due_at: float | None = None  # when silence would complete the speaker's next event (VAD thread only)
    tentative: Job | None = None  # transcription started at a pause, not yet confirmed (event loop only)


class _Barrier:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()


class SileroHearing(Hearing):
    """Per-speaker Silero VAD and segmentation, transcription through a :class:`core.stt.SpeechToText`.

    Args:
        config: thresholds, durations and limits.
        stt: the speech-to-text service (its owner starts and stops it).
        on_utterance: receives each transcribed utterance.
        on_speech_start: called on the event loop as soon as someone starts speaking (barge-in).
    """

    def __init__(
        self,
        config: ListeningConfig,
        stt: SpeechToText,
        on_utterance: UtteranceHandler,
        on_speech_start: SpeechStartHandler,
    ) -> None:
        self.config = config
        self.on_speech_start = on_speech_start
        self.transcriber = Transcriber(
            stt,
            on_utterance,
            max_concurrent=config.max_concurrent,
            queue=config.queue,
            language=config.language or None,
            max_duration_s=config.max_utterance_s + 1.0,
        )
        self._model: Any = None
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[_Track | _Barrier | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_stopped = False
        self.vad_seconds = 0.0  # CPU time the VAD thread spent (conversion, model, segmentation)
        self.vad_audio_s = 0.0  # audio it analysed

    async def start(self) -> None:
        """Load the Silero model (once per process) and start the VAD thread."""
        if self._thread is not None:
            return
        self._model = await asyncio.to_thread(load_model)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._serve, name="hearing-vad", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread, cancel transcriptions and drop every speaker's audio."""
        thread, self._thread = self._thread, None
        with self._lock:
            for track in self._tracks.values():
                track.gone = True
                track.inbox.clear()
            self._tracks.clear()
        if thread is not None:
            self._work.put(None)
            await asyncio.to_thread(thread.join)
        await self.transcriber.stop()
        self._loop = None

    def feed(self, speaker: Speaker, pcm: bytes) -> None:
        """Queue ``speaker``'s PCM for the VAD thread; returns at once."""
        if self._thread is None:
            if not self._warned_stopped:
                self._warned_stopped = True
                log.warning("listening: audio fed while hearing is not started; dropped")
            return
        if not pcm:
            return
        key = (speaker.room, speaker.user_id)
        now = time.monotonic()
        with self._lock:
            track = self._tracks.get(key)
            if track is None:
                track = _Track(speaker, Segmenter(VadStream(self._model), self.config))
                self._tracks[key] = track
            wake = not track.inbox
            track.inbox.append(pcm)
            track.inbox_bytes += len(pcm)
            track.arrived = now
            while track.inbox_bytes > _BACKLOG_BYTES and len(track.inbox) > 1:
                track.inbox_bytes -= len(track.inbox.pop(0))
                if not track.dropped_backlog:
                    track.dropped_backlog = True
                    log.warning("listening: the VAD thread is %.0f s behind for %s; dropping the oldest audio",
                                MAX_BACKLOG_S, speaker.name or speaker.user_id)
        if wake:
            self._work.put(track)

    def forget(self, speaker: Speaker) -> None:
        """Drop ``speaker``'s audio, VAD state, utterance in progress and pending transcriptions."""
        with self._lock:
            track = self._tracks.pop((speaker.room, speaker.user_id), None)
            if track is not None:
                track.gone = True
                track.inbox.clear()
                track.inbox_bytes = 0
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self.transcriber.cancel(speaker)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing of theirs can run any more
                loop.call_soon_threadsafe(self.transcriber.cancel, speaker)

    @property
    def speakers(self) -> int:
        """Speakers with state held now."""
        return len(self._tracks)

    async def settled(self) -> None:
        """Wait until all audio fed so far has been analysed and its events handled on the loop."""
        if self._thread is None:
            return
        barrier = _Barrier(asyncio.get_running_loop())
        self._work.put(barrier)
        await barrier.future

    # --- the VAD thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        next_tick = time.monotonic() + _TICK_S
        while True:
            wake = min(next_tick, self._next_due())
            try:
                item = self._work.get(timeout=max(0.0, wake - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if item is None:
                    return
                if isinstance(item, _Barrier):
                    with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                        item.loop.call_soon_threadsafe(_resolve, item.future)
                else:
                    self._guarded(self._analyse, item)
            with self._lock:
                tracks = list(self._tracks.values())
            now = time.monotonic()
            for track in tracks:
                if track.due_at is not None and now >= track.due_at:
                    self._guarded(self._fill_due, track)
            if now >= next_tick:
                next_tick = now + _TICK_S
                for track in tracks:
                    self._guarded(self._fill_gap, track)

    def _next_due(self) -> float:
        """When the earliest speaker's pending silence completes their next event (inf: none pending)."""
        with self._lock:
            dues = [track.due_at for track in self._tracks.values() if track.due_at is not None and not track.inbox]
        return min(dues, default=math.inf)

    def _guarded(self, step: Callable[[_Track], None], track: _Track) -> None:
        try:
            step(track)
        except Exception:
            log.exception("listening: VAD failed for %s; their audio is dropped", track.speaker.user_id)
            track.due_at = None  # no retry at once (the next packet of theirs sets it again)
            with self._lock:
                track.inbox.clear()
                track.inbox_bytes = 0

    def _analyse(self, track: _Track) -> None:
        with self._lock:
            if track.gone or not track.inbox:
                return
            chunks, track.inbox, track.inbox_bytes = track.inbox, [], 0
            arrived = track.arrived
        pcm = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._push(track, pcm[: len(pcm) - len(pcm) % 4], arrived)

    def _fill_gap(self, track: _Track) -> None:
        """Silence for a speaker who stopped sending in the middle of speech, up to now."""
        now = time.monotonic()
        if track.segmenter.idle or track.gone or track.inbox or now - track.produced_at < GAP_S:
            return
        frames = int((now - track.produced_at) * 50)
        self._push(track, bytes(frames * FRAME_BYTES), track.produced_at + frames / 50)

    def _fill_due(self, track: _Track) -> None:
        """Silence for a quiet speaker up to the moment it completes their next event (pause or end)."""
        due = track.segmenter.silence_due()
        if due is None or track.gone or track.inbox:
            track.due_at = None
            return
        if time.monotonic() - track.arrived < LATE_S:  # their packets still come: the next one decides
            track.due_at = track.arrived + LATE_S
            return
        # 48 kHz stereo samples: 3 per 16 kHz sample, one more 16 kHz sample for the resampler's phase
        count = max(FACTOR * (due + 1), int((time.monotonic() - track.produced_at) * SAMPLE_RATE))
        self._push(track, bytes(count * _SAMPLE_BYTES), track.produced_at + count / SAMPLE_RATE)

    def _push(self, track: _Track, pcm: bytes, at: float) -> None:
        """Run ``pcm`` (whole stereo samples) ending at monotonic time ``at`` through the speaker's VAD."""
        started = time.thread_time()
        samples = track.downsample(pcm)
        track.produced += samples.size
        track.produced_at = at
        events = track.segmenter.push(samples)
        due = track.segmenter.silence_due()
        track.due_at = None if due is None else max(at + due / TARGET_RATE, track.arrived + LATE_S)
        self.vad_seconds += time.thread_time() - started
        self.vad_audio_s += len(pcm) / _BYTES_PER_SECOND
        loop = self._loop
        if events and loop is not None:
            try:
                loop.call_soon_threadsafe(self._deliver, track, events, at, track.produced)
            except RuntimeError:  # the loop was closed without stopping us: nobody is listening any more
                track.gone = True

    # --- back on the event loop -------------------------------------------------------------------

    def _deliver(self, track: _Track, events: list[Event], arrived: float, produced: int) -> None:
        if track.gone:
            return
        for event in events:
            if isinstance(event, SpeechStarted):
                try:
                    self.on_speech_start(track.speaker)
                except Exception:
                    log.exception("listening: the speech-start handler failed for %s", track.speaker.user_id)
            elif isinstance(event, Tentative):  # a pause: start transcribing what it would be
                track.tentative = self._job(track, event.segment, arrived, produced, tentative=True)
                self.transcriber.submit(track.tentative)
            elif isinstance(event, Resumed):
                if track.tentative is not None:
                    self.transcriber.discard(track.tentative)
                    track.tentative = None
            elif track.tentative is not None:  # the pause was the end: the early transcription stands
                self.transcriber.confirm(track.tentative)
                track.tentative = None
            else:
                self.transcriber.submit(self._job(track, event, arrived, produced))

    @staticmethod
    def _job(track: _Track, segment: Segment, arrived: float, produced: int, *, tentative: bool = False) -> Job:
        ended_at = arrived - (produced - segment.end) / TARGET_RATE
        return Job(track.speaker, segment.samples, segment.speech_s, ended_at, segment.truncated, tentative)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
