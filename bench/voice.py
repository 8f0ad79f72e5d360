"""Voice benchmark: real-time factor, encoding time, text-to-voice-note latency, time to first
voice-channel frame (sentence streaming against whole-reply synthesis), cache hits, peak memory.

Run: ``.venv/bin/python bench/voice.py [--runs N]``. Not a test; prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import resource
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench.stats import percentile  # noqa: E402
from core.errors import SpeechError
from core.speech import VoiceSettings
from voice import audio
from voice.cache import MemoryLru
from voice.config import VoiceConfig
from voice.service import VoiceService, build_speech

SENTENCES = [
    "The weather today is mild with a light breeze from the west.",
    "Most trains are running on time, but the northern line has delays.",
    "Your package was handed to the courier this morning.",
    "It should arrive before six in the evening tomorrow.",
    "The museum opens at nine and closes at five on weekdays.",
    "Tickets for students cost half the regular price.",
    "Remember to bring an umbrella if you go out after lunch.",
    "The meeting has moved to the second floor conference room.",
    "Dinner reservations are confirmed for two people at eight.",
    "Let me know if there is anything else I can help you with.",
]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1)."""
    return percentile(values, q * 100)


def fmt(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    return f"p50 {pct(values, 0.5) * scale:7.1f} {unit}  p99 {pct(values, 0.99) * scale:7.1f} {unit}"


async def feed(text: str, sentence_done: dict[str, float]):
    """Stream text in 4-character tokens at 2 ms each; note when the first sentence is complete."""
    # a sentence is complete once the next non-space char is in (or the text has ended)
    first_end = text.index(". ") + 3 if ". " in text else len(text)
    for i in range(0, len(text), 4):
        if "t" not in sentence_done and i + 4 >= first_end:
            sentence_done["t"] = time.perf_counter()
        yield text[i : i + 4]
        await asyncio.sleep(0.002)


async def bench_engine(service: VoiceService, n: int, runs: int) -> None:
    text = " ".join(SENTENCES[:n])
    engine = service.engines[-1]
    voice = engine.voices()[0].name
    rtf, enc, note, stream_ttfa, whole_ttfa, hit = [], [], [], [], [], []
    duration = 0.0
    for run in range(runs):
        rate = 1.0 + run * 0.001  # a fresh cache key each run: every run synthesizes
        settings = VoiceSettings(rate=rate)
        t0 = time.perf_counter()
        pcm = await engine.synthesize(text, voice, rate)
        t1 = time.perf_counter()
        rtf.append((t1 - t0) / pcm.duration_s)
        polished = await asyncio.to_thread(audio.polish, pcm, -19.0, 150)
        await audio.encode_voice_note(service.ffmpeg, polished, 32, 1_000_000)
        enc.append(time.perf_counter() - t1)

        t0 = time.perf_counter()
        clip = await service.voice_note(text, settings)
        note.append(time.perf_counter() - t0)
        duration = clip.duration_s
        t0 = time.perf_counter()
        await service.voice_note(text, settings)
        hit.append(time.perf_counter() - t0)

        service.cache.memory = MemoryLru(service.config.cache.memory_bytes)  # streamed sentences: cold
        done: dict[str, float] = {}
        t0 = time.perf_counter()
        async for _frame in service.voice_channel_frames(feed(text, done), VoiceSettings(rate=rate + 0.0005)):
            stream_ttfa.append(time.perf_counter() - done.get("t", t0))
            break
        # whole-reply: wait for all text, synthesize it whole, convert, first frame
        done = {}
        chunks = [c async for c in feed(text, done)]
        t0 = time.perf_counter()
        whole = await engine.synthesize("".join(chunks), voice, rate + 0.0007)
        raw = await asyncio.to_thread(audio.to_channel_pcm, audio.polish(whole, -19.0, 150))
        _ = audio.frames(raw)[0]
        whole_ttfa.append(time.perf_counter() - t0 + (t0 - done["t"]))
    ratio = statistics.median(stream_ttfa) / statistics.median(whole_ttfa)
    print(f"  {n:2d} sentence(s), {duration:5.1f} s of audio, {runs} runs")
    print(f"     synthesis RTF           p50 {pct(rtf, 0.5):.3f}  p99 {pct(rtf, 0.99):.3f}")
    print(f"     encoding (polish+opus)  {fmt(enc)}")
    print(f"     text -> voice note      {fmt(note)}   = {pct(note, 0.5) / duration:.3f} x audio (target <= 0.1)")
    print(f"     first frame, streamed   {fmt(stream_ttfa)}   (from first sentence complete; target 150 ms)")
    print(f"     first frame, whole      {fmt(whole_ttfa)}   (from first sentence complete)")
    print(f"     streamed / whole ratio  {ratio:.3f}")
    print(f"     cache hit               {fmt(hit)}   (target 5 ms)")


async def probe_edge() -> None:
    config = VoiceConfig.model_validate({"engines": [{"kind": "edge", "timeout_s": 5}]})
    service = build_speech(config)
    async with service:
        t0 = time.perf_counter()
        try:
            await service.voice_note(SENTENCES[0], VoiceSettings())
            print(f"  edge: reachable, voice note in {(time.perf_counter() - t0) * 1000:.0f} ms")
        except SpeechError as exc:
            print(f"  edge: unreachable here, failed in {(time.perf_counter() - t0) * 1000:.1f} ms ({exc})"[:200])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = VoiceConfig()
    service = build_speech(config)
    t0 = time.perf_counter()
    async with service:
        print(f"piper model load: {(time.perf_counter() - t0) * 1000:.0f} ms; ffmpeg {service.ffmpeg}")
        await service.engines[0].synthesize("Warm up.", "joe")
        print("engine piper (voice joe)")
        for n in (1, 3, 10):
            await bench_engine(service, n, args.runs if n < 10 else max(2, args.runs // 2))
    await probe_edge()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
