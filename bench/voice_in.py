"""Voice-in benchmark: speech-to-text speed and accuracy, and the whole voice-note loop on Telegram.

Figures (real Piper speech, OGG/Opus voice notes, faster-whisper tiny.en int8 on CPU):

* model load (cold, first in this process) and resident memory before/after;
* STT latency and real-time factor for about 3 s, 10 s and 30 s notes (decode + transcribe), p50/p99;
* word error rate over the Piper sentences;
* the whole loop on the fake Bot API: voice note injected -> getFile/download -> transcribe ->
  knowledge-base answer -> Piper synthesis -> OGG/Opus encoding -> ``sendVoice`` arrives, p50/p99
  (the TTS cache is cleared each time, so every reply is synthesized).

Run: ``.venv/bin/python bench/voice_in.py [--loops 20]`` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile
from core.speech import VoiceSettings
from tests.spoken import SENTENCES, wer, words
from voice.config import CacheConfig, VoiceConfig
from voice.service import VoiceService, build_speech
from voice.stt.config import SttConfig
from voice.stt.service import ListenService, build_listener

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "3 s": "Hello there. What are your opening hours on a Monday?",
    "10 s": (
        "Hello, I bought the pro plan last week and I would like to know how to cancel my subscription "
        "before the next payment, because I no longer need it. Can I still use it until the end of the month?"
    ),
    "30 s": (
        "Good morning. I have been a customer for about two years and I am generally happy with the service. "
        "Last week I noticed that my invoices are sent to an old email address that I no longer use. "
        "I tried to change it in the settings, but the page keeps showing an error after I press save. "
        "Could you please tell me how to update the billing address, and whether I need to verify the new one? "
        "I would also like to know whether the old address will still receive the receipts for last month. "
        "Thank you very much for your help, and have a nice day."
    ),
}


def rss_mb() -> float:
    """Current resident memory of this process, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f} ms"


async def note(speech: VoiceService, text: str) -> bytes:
    return (await speech.voice_note(text, VoiceSettings(enabled=True))).data


async def stt_figures(speech: VoiceService, listener: ListenService, runs: int) -> None:
    for label, text in TEXTS.items():
        data = await note(speech, text)
        await listener.transcribe(data)  # warm
        times, duration, errors = [], 0.0, []
        for _ in range(runs):
            t = await listener.transcribe(data)
            times.append(t.elapsed_s)
            duration = t.duration_s
            errors.append(wer(text, t.text))
        rtf = percentile(times, 50) / duration
        print(f"stt {label:5} ({duration:4.1f} s audio): p50 {ms(times, 50)}  p99 {ms(times, 99)}  RTF {rtf:.3f}  "
              f"WER {sum(errors) / len(errors):.1%}")
    total = errs = 0.0
    for sentence in SENTENCES + tuple(TEXTS.values()):
        t = await listener.transcribe(await note(speech, sentence))
        n = len(words(sentence))
        errs += wer(sentence, t.text) * n
        total += n
    print(f"WER over {len(SENTENCES) + len(TEXTS)} Piper voice notes ({total:.0f} words): {errs / total:.1%}")


async def loop_figures(speech: VoiceService, listener: ListenService, loops: int) -> None:
    from adapters.telegram.adapter import TelegramAdapter
    from core.bus import InProcessBus
    from core.engine import Persona
    from core.engines.faq import FaqEngine
    from core.pipeline.context import BotServices
    from core.pipeline.pipeline import Pipeline
    from core.pipeline.settings import FloodLimits, PipelineSettings
    from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
    from tests.adapters.telegram.conftest import make_config
    from tests.adapters.telegram.fake_bot_api import FakeBotApi

    data = await note(speech, TEXTS["3 s"])
    faq = FaqEngine(ROOT / "examples" / "support_faq.yaml", threshold=0.45)
    await faq.start()
    latencies: list[float] = []
    async with FakeBotApi() as api:
        bus = InProcessBus()
        await bus.start()
        services = BotServices(
            "bench", Persona(), faq, MemoryConversationStore(), MemorySettingsStore(), MemoryDedupeStore(),
            MemoryRateCounter(), speech=speech, listener=listener,
            config=PipelineSettings(flood=FloodLimits(per_user=0, per_chat=0)),
        )
        pipeline = Pipeline(services, bus)
        adapter = TelegramAdapter("tg", bus, make_config(api, chat_action_delay_s=0))
        await pipeline.start()
        await adapter.start()
        try:
            for i in range(loops + 1):
                chat = 900 + i
                api.add_file(f"N{i}", data, f"voice/n{i}.oga")
                started = time.perf_counter()
                api.inject_message(chat, None, voice={"file_id": f"N{i}", "file_unique_id": f"u{i}", "duration": 3,
                                                      "mime_type": "audio/ogg", "file_size": len(data)})
                await api.wait_for(lambda c=chat: api.answered("sendVoice", c), timeout=60)
                if i:  # the first one warms caches and connections
                    latencies.append(time.perf_counter() - started)
            answer = api.texts(900 + loops)[-1]
        finally:
            await pipeline.idle()
            await adapter.stop()
            await pipeline.stop()
            await bus.stop()
    print(f"whole loop, 3 s voice note in -> voice note out ({loops} runs, Telegram fake Bot API): "
          f"p50 {ms(latencies, 50)}  p99 {ms(latencies, 99)}")
    print(f"  answer: {answer[:70]}...")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    before = rss_mb()
    listener = build_listener(SttConfig())
    started = time.perf_counter()
    await listener.start()
    load_s = time.perf_counter() - started
    print(f"model load (tiny.en int8, cold): {load_s * 1000:.0f} ms; RSS {before:.0f} -> {rss_mb():.0f} MiB "
          f"(+{rss_mb() - before:.0f} MiB)")
    # no TTS cache: every reply is synthesized and encoded (a repeated FAQ answer would otherwise be cached)
    speech = build_speech(VoiceConfig(cache=CacheConfig(memory_bytes=0)))
    await speech.start()
    if True:
        try:
            await stt_figures(speech, listener, args.runs)
            await loop_figures(speech, listener, args.loops)
        finally:
            await speech.stop()
            await listener.stop()
    print(f"RSS at the end (Piper + Whisper + bot): {rss_mb():.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="transcriptions per note length")
    parser.add_argument("--loops", type=int, default=20, help="voice notes through the whole loop")
    asyncio.run(main(parser.parse_args()))
