"""Hearing benchmark: listening in a voice channel (Silero VAD per speaker + faster-whisper tiny.en).

Figures (real Piper speech as Discord delivers it: 48 kHz stereo, 20 ms frames, nothing sent between
utterances, in real time):

* VAD cost per 20 ms frame (48 kHz stereo -> 16 kHz mono, Silero, segmentation), one frame at a time and
  batched, and ``feed``'s own cost on the event loop;
* transcription of typical 2-4 s utterances by tiny.en: time p50/p99 and real-time factor;
* listening for ``--seconds`` with 1 and with 4 people talking at once (each: a sentence, a pause, the next):
  CPU per minute of listening (VAD thread, and the whole process: VAD + transcription + event loop),
  end of speech -> utterance delivered p50/p99 (the ``end_silence_ms`` wait included), utterances dropped,
  and how late a 20 ms tick comes on the event loop and in a thread paced like discord.py's
  ``AudioPlayer`` (which sends the bot's own speech): a late tick is an audible gap.

Run: ``.venv/bin/python bench/hearing.py [--seconds 60]`` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.stats import percentile  # noqa: E402
from core.hearing import FRAME_BYTES, Speaker, Utterance  # noqa: E402
from core.speech import VoiceSettings  # noqa: E402
from core.stt import SpeechToText, Transcript  # noqa: E402
from voice.config import VoiceConfig  # noqa: E402
from voice.listening import ListeningConfig, SileroHearing, build_hearing  # noqa: E402
from voice.listening.config import ListeningConfig as _Config  # noqa: E402
from voice.listening.segmenter import Segmenter  # noqa: E402
from voice.listening.signal import Downsampler  # noqa: E402
from voice.listening.vad import VadStream, load_model  # noqa: E402
from voice.service import build_speech  # noqa: E402
from voice.stt.config import SttConfig  # noqa: E402
from voice.stt.service import build_listener  # noqa: E402

SENTENCES = (
    "Joe, what are your opening hours?",
    "How do I reset my password?",
    "Can you tell me a joke about cats?",
    "What is the weather like tomorrow in London?",
    "I would like to cancel my subscription, please.",
    "Thanks, that was really helpful.",
)
PAUSE_S = 1.5  # between one speaker's utterances; nothing is sent meanwhile, as Discord clients do


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f} ms"


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def _one(text: str) -> AsyncIterator[str]:
    yield text


async def synthesize() -> list[bytes]:
    """Each sentence as channel PCM, without Piper's trailing silence frames (a client would not send them)."""
    speech = build_speech(VoiceConfig(), cache_dir=Path(tempfile.mkdtemp()))
    clips = []
    async with speech:
        for text in SENTENCES:
            frames = [f async for f in speech.voice_channel_frames(_one(text), VoiceSettings(enabled=True))]
            while frames and not any(frames[-1]):
                frames.pop()
            clips.append(b"".join(frames))
    return clips


def vad_cost(clips: list[bytes]) -> None:
    audio = b"".join(clips)
    frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    model = load_model()
    costs = []
    downsample, segmenter = Downsampler(), Segmenter(VadStream(model), _Config())
    for frame in frames:
        started = time.thread_time()
        segmenter.push(downsample(frame))
        costs.append(time.thread_time() - started)
    started = time.thread_time()
    downsample, segmenter = Downsampler(), Segmenter(VadStream(model), _Config())
    for i in range(0, len(frames), 5):  # what the VAD thread does when 100 ms piled up
        segmenter.push(downsample(b"".join(frames[i : i + 5])))
    batched = (time.thread_time() - started) / len(frames)
    print(f"VAD per 20 ms frame ({len(frames)} frames, CPU time): one at a time p50 {percentile(costs, 50) * 1e6:.0f} us"
          f"  p99 {percentile(costs, 99) * 1e6:.0f} us  mean {statistics.fmean(costs) * 1e6:.0f} us;"
          f"  5 frames at once {batched * 1e6:.0f} us/frame  ({statistics.fmean(costs) / 0.02 * 100:.2f}% of one core)")


async def feed_cost(listener: SpeechToText, clips: list[bytes]) -> None:
    async def nothing(_: Utterance) -> None:
        pass

    hearing = build_hearing(ListeningConfig(enabled=True), listener, nothing, lambda _: None)
    async with hearing:
        assert isinstance(hearing, SileroHearing)
        frames = [clips[0][i : i + FRAME_BYTES] for i in range(0, len(clips[0]), FRAME_BYTES)]
        costs = []
        for index, frame in enumerate(frames * 3):
            started = time.perf_counter()
            hearing.feed(Speaker("1", "g"), frame)
            costs.append(time.perf_counter() - started)
            if index % 25 == 0:
                await hearing.settled()
        await hearing.settled()
    print(f"feed() on the event loop: p50 {percentile(costs, 50) * 1e6:.0f} us  p99 {percentile(costs, 99) * 1e6:.0f} us")


async def stt_cost(listener: SpeechToText, clips: list[bytes], runs: int) -> None:
    pcms = []
    for clip in clips:
        samples = Downsampler()(clip)
        pcms.append((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    await listener.transcribe_pcm(pcms[0], 16_000)  # warm
    times, ratios, lengths = [], [], []
    for _ in range(runs):
        for pcm in pcms:
            started = time.perf_counter()
            t = await listener.transcribe_pcm(pcm, 16_000)
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            ratios.append(elapsed / t.duration_s)
            lengths.append(t.duration_s)
    print(f"tiny.en on {min(lengths):.1f}-{max(lengths):.1f} s utterances ({len(times)} runs): p50 {ms(times, 50)}"
          f"  p99 {ms(times, 99)}  RTF p50 {percentile(ratios, 50):.3f}  p99 {percentile(ratios, 99):.3f}")


class PlayerTicks:
    """A thread paced every 20 ms the way discord.py's ``AudioPlayer`` sends frames; records how late each tick is."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        loops = 0
        while not self._stop.is_set():
            loops += 1
            due = start + 0.02 * loops
            time.sleep(max(0.0, due - time.perf_counter()))
            self.lateness.append(max(0.0, time.perf_counter() - due))


class TimedStt(SpeechToText):
    """The real listener, timing each transcription."""

    def __init__(self, inner: SpeechToText) -> None:
        self.inner = inner
        self.times: list[float] = []

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         max_duration_s: float | None = None) -> Transcript:
        return await self.inner.transcribe(audio, language=language, max_duration_s=max_duration_s)

    async def transcribe_pcm(self, pcm: bytes, sample_rate: int, *, language: str | None = None,
                             max_duration_s: float | None = None) -> Transcript:
        started = time.perf_counter()
        try:
            return await self.inner.transcribe_pcm(pcm, sample_rate, language=language, max_duration_s=max_duration_s)
        finally:
            self.times.append(time.perf_counter() - started)


async def listening(listener: SpeechToText, clips: list[bytes], speakers: int, seconds: float, eager_ms: int) -> None:
    delivered: list[float] = []
    utterances = 0

    async def on_utterance(u: Utterance) -> None:
        nonlocal utterances
        utterances += 1
        delivered.append(time.monotonic() - u.ended_at)

    timed = TimedStt(listener)
    hearing = build_hearing(ListeningConfig(enabled=True, eager_ms=eager_ms), timed, on_utterance, lambda _: None)
    assert isinstance(hearing, SileroHearing)
    people = [Speaker(str(n), "guild", f"p{n}") for n in range(speakers)]
    # each speaker's schedule: sentence, pause, next sentence (offset so they overlap differently)
    plans: list[list[bytes | None]] = []
    for n in range(speakers):
        plan: list[bytes | None] = [None] * (n * 17)  # stagger starts by 340 ms
        k = n
        while len(plan) < seconds * 50:
            clip = clips[k % len(clips)]
            plan += [clip[i : i + FRAME_BYTES] for i in range(0, len(clip), FRAME_BYTES)]
            plan += [None] * int(PAUSE_S * 50)
            k += 1
        plans.append(plan[: int(seconds * 50)])
    lateness: list[float] = []
    spoken_frames = sum(1 for plan in plans for f in plan if f is not None)
    async with hearing:
        player = PlayerTicks()
        player.start()
        cpu0, vad0 = cpu_s(), hearing.vad_seconds
        start = time.monotonic()
        for index in range(int(seconds * 50)):
            due = start + index * 0.02
            now = time.monotonic()
            if now < due:
                await asyncio.sleep(due - now)
            lateness.append(max(0.0, time.monotonic() - due))
            for person, plan in zip(people, plans, strict=True):
                if plan[index] is not None:
                    hearing.feed(person, plan[index])
        await asyncio.sleep(2.5)  # the last utterances end and are transcribed
        while hearing.transcriber.running or hearing.transcriber.waiting:
            await asyncio.sleep(0.05)
        cpu = cpu_s() - cpu0
        vad = hearing.vad_seconds - vad0
        dropped = hearing.transcriber.dropped
        discarded = hearing.transcriber.discarded
        player.stop()
    minutes = seconds / 60
    ticks = player.lateness
    if not speakers:
        print(f"nobody talking, {seconds:.0f} s (CPU {cpu / minutes:.1f} s per minute):")
        print(f"  20 ms tick lateness: event loop p50 {ms(lateness, 50)}  p99 {ms(lateness, 99)}  max {ms(lateness, 100)};"
              f"  player thread p50 {ms(ticks, 50)}  p99 {ms(ticks, 99)}  max {ms(ticks, 100)}")
        return
    print(f"{speakers} speaker(s), {seconds:.0f} s of listening ({spoken_frames * 0.02:.0f} s of speech in all), "
          f"{utterances} utterances, {dropped} dropped, {discarded} early transcriptions thrown away:")
    print(f"  CPU per minute of listening: whole process {cpu / minutes:.1f} s, VAD thread {vad / minutes:.2f} s")
    print(f"  end of speech -> utterance delivered: p50 {ms(delivered, 50)}  p99 {ms(delivered, 99)}"
          f"  (the 600 ms end-of-speech silence included; eager transcription from {eager_ms} ms)")
    print(f"  transcription: p50 {ms(timed.times, 50)}  p99 {ms(timed.times, 99)}")
    print(f"  20 ms tick lateness: event loop p50 {ms(lateness, 50)}  p99 {ms(lateness, 99)}  max {ms(lateness, 100)};"
          f"  player thread p50 {ms(ticks, 50)}  p99 {ms(ticks, 99)}  max {ms(ticks, 100)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="listening time per scenario")
    parser.add_argument("--runs", type=int, default=3, help="transcriptions of each sentence for the STT figures")
    parser.add_argument("--eager-ms", type=int, default=ListeningConfig().eager_ms,
                        help="start transcribing after this much silence (0: only at the end of speech)")
    parser.add_argument("--speakers", default="0,1,4", help="scenarios: how many people talk at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    clips = await synthesize()
    vad_cost(clips)
    listener = build_listener(SttConfig())
    async with listener:
        await feed_cost(listener, clips)
        await stt_cost(listener, clips, args.runs)
        for speakers in (int(n) for n in args.speakers.split(",")):  # 0: the machine's own tick lateness
            await listening(listener, clips, speakers, args.seconds, args.eager_ms)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
