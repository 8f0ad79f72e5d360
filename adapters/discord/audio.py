"""Voice-channel audio: clips of 20 ms PCM frames, one queue per guild, played as a ``discord.AudioSource``.

A :class:`Clip` is filled ahead of playback by a task on the event loop (synthesis runs
there, sentence by sentence) and drained by discord.py's player thread, so the two meet
in a thread-safe queue. :class:`QueueSource` follows discord.py's ``AudioSource``
contract: ``read()`` returns one 20 ms frame of 48 kHz stereo 16-bit PCM (3,840 bytes)
and ``b''`` when the queue is done. It adds a short lead-in, ``gap_frames`` of silence
between clips, and plays silence (rather than ending) while a clip's next sentence is
still being synthesized.

The player starts only once the head clip has a frame ready (:attr:`Clip.ready`, announced
through :attr:`Clip.on_ready`): a player started earlier only sends silence, and its Opus
encoding, encryption and sending compete with the synthesis of the first sentence for the
CPU. The lead-in counts the clip's own leading silence, so a clip that opens quietly (the
voice layer gives every reply a lead-in) is sent from the player's first packet on.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable

import discord
import numpy as np

log = logging.getLogger(__name__)

FRAME_BYTES = 3840  # 20 ms * 48 kHz * 2 channels * 2 bytes
FRAME_MS = 20
SILENCE = bytes(FRAME_BYTES)
_END = object()


async def rechunk(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield exactly 3,840-byte frames from any chunking of PCM (the last one zero-padded)."""
    buffer = bytearray()
    async for chunk in frames:
        buffer += chunk
        while len(buffer) >= FRAME_BYTES:
            yield bytes(buffer[:FRAME_BYTES])
            del buffer[:FRAME_BYTES]
    if buffer:
        yield bytes(buffer) + bytes(FRAME_BYTES - len(buffer))


class Clip:
    """One utterance: frames arrive from synthesis and leave to the player thread.

    Args:
        label: what is spoken (for logs and tests).
    """

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._frames: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._finished = False
        self.skipped = False
        self.played = 0
        self.produced = 0
        self.first_frame_at: float | None = None  # loop time the first frame was ready
        self.task: asyncio.Task[None] | None = None
        self.on_ready: Callable[[], None] | None = None  # called on the loop once the clip is ready
        self._filled = False

    @property
    def ready(self) -> bool:
        """True once the player has something to do with the clip: a frame is ready, or it ended or was skipped."""
        return self.produced > 0 or self._filled or self.skipped

    def _announce(self) -> None:
        callback, self.on_ready = self.on_ready, None
        if callback is not None:
            callback()

    async def fill(self, frames: AsyncIterator[bytes]) -> None:
        """Consume ``frames`` (synthesis) into the clip; always marks the clip finished."""
        loop = asyncio.get_running_loop()
        try:
            async for frame in rechunk(frames):
                if self.skipped:
                    break
                if self.first_frame_at is None:
                    self.first_frame_at = loop.time()
                self.produced += 1
                self._frames.put(frame)
                if self.produced == 1:
                    self._announce()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failed synthesis ends the clip, never the queue
            log.exception("voice clip %r failed", self.label[:40])
        finally:
            self._frames.put(_END)
            self._filled = True
            self._announce()

    def next_frame(self) -> bytes | None:
        """The next frame, or None when none is ready yet or the clip is over (see :attr:`finished`)."""
        if self._finished:
            return None
        try:
            item = self._frames.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self._finished = True
            return None
        assert isinstance(item, bytes)
        return item

    @property
    def finished(self) -> bool:
        """True once every frame has been read (or the clip was skipped)."""
        return self._finished or self.skipped


class SpeechQueue:
    """The clips of one guild, in order.

    Args:
        lead_in_frames: silence frames at the start of each playback burst.
        gap_frames: silence frames after each clip.
        max_clips: clips allowed to wait.
    """

    def __init__(self, lead_in_frames: int = 5, gap_frames: int = 5, max_clips: int = 50) -> None:
        self.lead_in_frames = lead_in_frames
        self.gap_frames = gap_frames
        self.max_clips = max_clips
        self.lock = threading.Lock()
        self.clips: collections.deque[Clip] = collections.deque()
        self.underruns = 0
        self.volume = 1.0  # below 1: ducked while someone speaks over the bot (barge-in "duck")

    def __len__(self) -> int:
        with self.lock:
            return len(self.clips)

    def add(self, clip: Clip) -> bool:
        """Append ``clip``; False when the queue is full."""
        with self.lock:
            if len(self.clips) >= self.max_clips:
                return False
            self.clips.append(clip)
            return True

    def head(self) -> Clip | None:
        """The clip that plays next (or now)."""
        with self.lock:
            return self.clips[0] if self.clips else None

    def skip(self) -> Clip | None:
        """Skip the clip playing now (or the next one); returns it."""
        with self.lock:
            for clip in self.clips:
                if not clip.skipped:
                    clip.skipped = True
                    if clip.task is not None:
                        clip.task.get_loop().call_soon_threadsafe(clip.task.cancel)
                    return clip
        return None

    def clear(self) -> None:
        """Drop every clip (``/leave``)."""
        with self.lock:
            clips = list(self.clips)
            self.clips.clear()
        for clip in clips:
            clip.skipped = True
            if clip.task is not None:
                clip.task.get_loop().call_soon_threadsafe(clip.task.cancel)

    def source(self) -> QueueSource:
        """A fresh audio source that plays the queue until it is empty."""
        return QueueSource(self)


class QueueSource(discord.AudioSource):
    """Plays a :class:`SpeechQueue` through discord.py's player (PCM; discord.py encodes Opus)."""

    def __init__(self, speech_queue: SpeechQueue) -> None:
        self.q = speech_queue
        self._lead = speech_queue.lead_in_frames
        self._gap = 0
        self._held: bytes | None = None  # the head clip's first sound, waiting for the lead-in to end

    def is_opus(self) -> bool:
        return False

    def read(self) -> bytes:
        frame = self._read()
        volume = self.q.volume
        if volume != 1.0 and frame and frame != SILENCE:
            frame = (np.frombuffer(frame, dtype=np.int16) * volume).astype(np.int16).tobytes()
        return frame

    def _read(self) -> bytes:
        q = self.q
        with q.lock:
            while True:
                if self._gap > 0:
                    self._gap -= 1
                    return SILENCE
                if self._held is not None:  # the first sound waits for the rest of the lead-in
                    if self._lead > 0:
                        self._lead -= 1
                        return SILENCE
                    held, self._held = self._held, None
                    if q.clips and not q.clips[0].skipped:
                        return held
                    continue
                if not q.clips:
                    return b""
                clip = q.clips[0]
                frame = None if clip.skipped else clip.next_frame()
                if frame is not None:
                    clip.played += 1
                    if self._lead > 0:
                        self._lead -= 1
                        if frame != SILENCE:  # the clip's own leading silence serves as lead-in
                            self._held = frame
                            return SILENCE
                    return frame
                if clip.finished:
                    q.clips.popleft()
                    self._gap = q.gap_frames if clip.played else 0
                    continue
                q.underruns += 1  # synthesis is behind: keep time with silence
                self._lead = max(0, self._lead - 1)
                return SILENCE

    def cleanup(self) -> None:
        return None


