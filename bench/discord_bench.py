"""Discord adapter benchmark through the fake Discord (tests/adapters/discord/fake_discord.py).

1. Reply latency (MESSAGE_CREATE dispatched -> reply POST received by the fake) p50/p99 and
   messages per second, with the instant EchoEngine, real discord.py client, real pipeline.
2. Voice channel: time from the first complete sentence of a 3-sentence reply to the first
   audio frame ready for the player, sentence-streamed vs whole-reply synthesis. The speech is
   the tests' ToneSpeech with a MODELED synthesis cost of 150 ms per sentence and replies
   generated at one sentence per 300 ms (no real TTS engine is used here).

Run: .venv/bin/python -m bench.discord_bench   (or PYTHONPATH=. .venv/bin/python bench/discord_bench.py)
"""

from __future__ import annotations

import asyncio
import statistics
import time

from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.voice import VoiceManager
from tests.adapters.discord.conftest import ALICE, GUILD, GENERAL, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.test_voice_channel import StandInVoice
from tests.adapters.discord.tone_speech import ToneSpeech

N = 300
SENTENCES = ["The weather is calm today.", "Rain may come this evening.", "Take an umbrella to be safe."]
SYNTH_S = 0.15
GEN_S = 0.3


async def reply_latency() -> None:
    fake = FakeDiscord()
    fake.add_guild(GUILD, {GENERAL: "general"}, members=[ALICE])
    await fake.start()
    bot = await start_bot(fake)
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(N):
        channel = 10_000 + i  # a DM channel per user keeps flood control out of the figure
        author = {**ALICE, "id": str(20_000 + i)}
        sent_at = time.monotonic()
        await fake.message(channel, author, f"ping {i}")
        await fake.wait_for(lambda c=channel: fake.messages(c), timeout=30)
        latencies.append((fake.messages(channel)[0].at - sent_at) * 1000)
    sequential_s = time.perf_counter() - started
    # throughput: a burst of N messages at once
    burst_start = time.monotonic()
    for i in range(N):
        await fake.message(40_000 + i, {**ALICE, "id": str(60_000 + i)}, f"burst {i}")
    await fake.wait_for(lambda: sum(1 for s in fake.messages() if s.path.startswith("/channels/4")) >= N, timeout=120)
    last = max(s.at for s in fake.messages() if s.path.startswith("/channels/4"))
    await bot.stop()
    await fake.stop()
    q = statistics.quantiles(latencies, n=100)
    print(f"reply latency over {N} sequential messages: p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {q[98]:.1f} ms ({N / sequential_s:.0f} msg/s sequential)")
    print(f"burst of {N} messages: {N / (last - burst_start):.0f} replies/s")


async def first_audio(streamed: bool) -> float:
    speech = ToneSpeech(per_sentence_s=0.5, delay_s=SYNTH_S)
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0))
    vc = StandInVoice()
    manager.attach(1, vc, None)
    loop = asyncio.get_running_loop()
    first_sentence_at = loop.time()  # the engine has just produced sentence 1
    if streamed:
        manager.stream_piece(1, "r", SENTENCES[0] + " ")
        for s in SENTENCES[1:]:
            await asyncio.sleep(GEN_S)
            manager.stream_piece(1, "r", s + " ")
        manager.finish(1, "r", " ".join(SENTENCES))
    else:
        await asyncio.sleep(GEN_S * (len(SENTENCES) - 1))  # wait for the whole reply
        whole = ToneSpeech(per_sentence_s=1.5, delay_s=SYNTH_S * len(SENTENCES))  # one unit, 3x the work
        manager.speech = whole
        manager.say(1, " ".join(s.rstrip(".") for s in SENTENCES) + ".")
    clip = manager.sessions[1].queue.clips[0]
    while clip.first_frame_at is None:
        await asyncio.sleep(0.001)
    ms = (clip.first_frame_at - first_sentence_at) * 1000
    await manager.leave(1)
    return ms


async def main() -> None:
    await reply_latency()
    streamed = [await first_audio(True) for _ in range(3)]
    whole = [await first_audio(False) for _ in range(3)]
    s, w = statistics.median(streamed), statistics.median(whole)
    print(f"voice channel, 3-sentence reply, first complete sentence -> first audio frame (median of 3): "
          f"streamed {s:.0f} ms, whole-reply {w:.0f} ms, ratio {w / s:.1f}x "
          f"(modeled: {SYNTH_S*1000:.0f} ms synthesis per sentence, a sentence generated every {GEN_S*1000:.0f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
