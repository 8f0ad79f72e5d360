"""Discord adapter benchmark through the fake Discord (tests/adapters/discord/fake_discord.py).

1. Reply latency (MESSAGE_CREATE dispatched -> reply POST received by the fake) p50/p99 and
   messages per second, with the instant EchoEngine, real discord.py client, real pipeline.
   The bench waits for each reply on the fake's request event (no polling), so the
   sequential msg/s is the adapter's round trip, not a polling interval.
2. Voice channel, with the real voice layer (``voice.service``, Piper voice "joe"): time from
   the first complete sentence of a 3-sentence reply to the first audio frame ready for the
   player. The reply arrives word by word like an engine's output, a word every ``WORD_S``
   (a sentence about every 300 ms). Compared:
   - streamed: the words go to the adapter as ``stream_piece`` calls while they arrive; the
     voice service speaks each sentence as soon as its last word arrives (the stream is
     word-aligned), and the first sentence in two parts (``first_clip_chars``), so the first
     audio can come before the first sentence is complete (a negative time);
   - whole-reply synthesis: the adapter gets the finished reply and the service synthesizes it
     as one unit (``min_sentence_chars`` above the reply's length, so nothing is split);
   - whole reply, sentence-split (for reference): the finished reply, with the default service,
     which still synthesizes it sentence by sentence.
   Each run uses a fresh service (empty cache), so every run really synthesizes.
3. Voice channel through the real protocol: discord.py's ``VoiceClient`` connected to the fake
   voice server (``tests/adapters/discord/fake_voice.py``: voice gateway v8 over TLS, UDP, DAVE
   end-to-end encryption, Opus decoded at the server). Measured at the server:
   - first voice packet with sound after the first sentence of a streamed reply is complete
     (p50/p99 over ``PROTOCOL_RUNS`` replies, each with new words so every run synthesizes;
     ``--first-clip-chars N`` sets the streamed replies' ``first_clip_chars``, 0: off);
   - the same for whole-reply synthesis (the reply queued once complete, synthesized as one
     unit), and the ratio;
   - CPU per second of speech played (cached clips: Opus encoding, DAVE and transport
     encryption, the player thread), the fake server's own share (opening and decoding the
     packets) measured apart and taken out.

Run: .venv/bin/python -m bench.discord_bench   (or PYTHONPATH=. .venv/bin/python bench/discord_bench.py)
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import statistics
import sys
import time
from typing import Any

# run as a script, bench/ comes first on sys.path and bench/voice.py would shadow the voice package
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from adapters.discord.audio import Clip
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.voice import VoiceManager
from bench.stats import percentile
from core.speech import VoiceSettings
from tests.adapters.discord.conftest import ALICE, ANSWERS, GENERAL, GUILD, VOICE, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.stand_in_voice import StandInVoice
from tests.adapters.discord.voice_world import LOUD, hook_answer, loud, peak, reference
from voice.config import PiperEngineConfig, VoiceConfig
from voice.service import VoiceService, build_speech

N = 300
RUNS = 5
SENTENCES = ["The weather is calm today.", "Rain may come this evening.", "Take an umbrella to be safe."]
WORD_S = 0.06  # the engine produces a word every 60 ms: a 5-word sentence every 300 ms
WHOLE_UNIT = VoiceConfig(min_sentence_chars=200, first_clip_chars=0)  # nothing is split: the reply is one unit


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
        await fake.wait_for(lambda c=channel: fake.messages(c), timeout=30)  # woken by the fake's request event
        latencies.append((fake.messages(channel)[0].at - sent_at) * 1000)
    sequential_s = time.perf_counter() - started
    # throughput: a burst of N messages at once
    burst_start = time.monotonic()
    for i in range(N):
        await fake.message(40_000 + i, {**ALICE, "id": str(60_000 + i)}, f"burst {i}")
    burst_replies: list[float] = []
    scanned = 0

    def burst_answered() -> bool:  # runs on every request the fake records: look at new ones only
        nonlocal scanned
        new, scanned = fake.sent[scanned:], len(fake.sent)
        burst_replies.extend(s.at for s in new if s.method == "POST" and s.path.startswith("/channels/4")
                             and s.path.endswith("/messages") and not s.rate_limited)
        return len(burst_replies) >= N

    await fake.wait_for(burst_answered, timeout=120)
    last = max(burst_replies)
    await bot.stop()
    await fake.stop()
    print(f"reply latency over {N} sequential messages: p50 {percentile(latencies, 50):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms ({N / sequential_s:.0f} msg/s sequential)")
    print(f"burst of {N} messages: {N / (last - burst_start):.0f} replies/s")


def words() -> list[tuple[str, bool]]:
    """The reply as engine pieces (a word each), and whether the piece completes sentence 1."""
    pieces: list[tuple[str, bool]] = []
    for s_index, sentence in enumerate(SENTENCES):
        for w_index, word in enumerate(sentence.split()):
            last_of_first = s_index == 0 and w_index == len(sentence.split()) - 1
            pieces.append(((" " if pieces else "") + word, last_of_first))
    return pieces


async def first_audio_ms(speech: VoiceService, mode: str) -> float:
    """Milliseconds from the first complete sentence to the first frame of the reply's clip."""
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0))
    manager.attach(1, StandInVoice(), None)
    loop = asyncio.get_running_loop()
    first_done = 0.0
    clip: Clip | None = None
    for i, (piece, completes_first) in enumerate(words()):
        if i:
            await asyncio.sleep(WORD_S)
        if mode == "streamed":
            manager.stream_piece(1, "r", piece)
            clip = clip or manager.sessions[1].queue.clips[0]
        if completes_first:
            first_done = loop.time()
    text = " ".join(SENTENCES)
    if mode == "streamed":
        manager.finish(1, "r", text)
    else:
        clip = manager.say(1, text)  # the finished reply, queued whole (the adapter's non-streamed path)
    assert clip is not None
    while clip.first_frame_at is None:
        await asyncio.sleep(0.001)
    ms = (clip.first_frame_at - first_done) * 1000
    if clip.task is not None:
        await clip.task  # let the rest of the reply synthesize before the service stops
    await manager.leave(1)
    return ms


async def voice_channel() -> None:
    t0 = time.perf_counter()
    async with build_speech(VoiceConfig()) as warm:
        load_ms = (time.perf_counter() - t0) * 1000
        await warm.voice_note("Warm up the voice.", VoiceSettings())
    results: dict[str, list[float]] = {"streamed": [], "whole": [], "split": []}
    configs = {"streamed": VoiceConfig(), "whole": WHOLE_UNIT, "split": VoiceConfig()}
    for _ in range(RUNS):
        for mode, config in configs.items():
            async with build_speech(config) as speech:  # fresh memory cache: every run synthesizes
                results[mode].append(await first_audio_ms(speech, mode))
    med = {mode: statistics.median(values) for mode, values in results.items()}
    spread = {mode: f"{min(v):.0f}-{max(v):.0f}" for mode, v in results.items()}
    print(f"voice channel (real voice layer: Piper 'joe', model load {load_ms:.0f} ms), 3-sentence reply streamed "
          f"a word every {WORD_S * 1000:.0f} ms; first complete sentence -> first audio frame, "
          f"median of {RUNS}:")
    # a short first clip can be ready before sentence 1 is complete (a negative time): no ratio then
    ratio = f"{med['whole'] / med['streamed']:.1f}x" if med["streamed"] > 0 else "n/a (streamed starts before)"
    print(f"  streamed {med['streamed']:.0f} ms (range {spread['streamed']}), whole-reply synthesis "
          f"{med['whole']:.0f} ms (range {spread['whole']}), ratio {ratio}")
    print(f"  whole reply given at once, service splits sentences: {med['split']:.0f} ms (range {spread['split']})")
    print("  (a word-aligned stream ends a sentence at its last word; the first clip is cut at a clause or after "
          "about 16 characters, so its audio can come before the sentence is complete)")


PROTOCOL_RUNS = 20


def streamed_config() -> VoiceConfig:
    """The voice config of the streamed replies: the default, ``--first-clip-chars N``, ``--piper-threads N``."""
    options: dict[str, Any] = {}
    if "--first-clip-chars" in sys.argv:
        options["first_clip_chars"] = int(sys.argv[sys.argv.index("--first-clip-chars") + 1])
    if "--piper-threads" in sys.argv:
        threads = int(sys.argv[sys.argv.index("--piper-threads") + 1])
        options["engines"] = [PiperEngineConfig(threads=threads)]
    return VoiceConfig(**options)
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
           "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "zero"]


def protocol_words(run: int) -> list[tuple[str, bool]]:
    """A reply whose words differ per run (no cache hit), as pieces, marking the end of sentence 1."""
    n = NUMBERS[run % len(NUMBERS)]
    sentences = [f"Day {n} is calm today.", f"Rain may come {n} times tonight.",  # sentence 1 as long as above
                 f"Take {n} umbrellas to be safe."]
    pieces: list[tuple[str, bool]] = []
    for s_index, sentence in enumerate(sentences):
        ws = sentence.split()
        for w_index, word in enumerate(ws):
            pieces.append(((" " if pieces else "") + word, s_index == 0 and w_index == len(ws) - 1))
    return pieces


async def protocol_first_packet(bot, server: FakeVoiceServer, run: int,  # type: ignore[no-untyped-def]
                                mode: str) -> tuple[float, float, float]:
    """Seconds from sentence 1 complete to the first packet of the reply's audio at the fake voice
    server, from the clip's first synthesized frame to that packet (what the voice path itself adds),
    and from sentence 1 complete to the first packet with sound."""
    voice = bot.adapter.voice
    before = len(server.audio(GUILD))
    first_done = 0.0
    pieces = protocol_words(run)
    for i, (piece, completes_first) in enumerate(pieces):
        if i:
            await asyncio.sleep(WORD_S)
        if mode == "streamed":
            voice.stream_piece(GUILD, f"r{run}", piece)
        if completes_first:
            first_done = time.monotonic()
    text = "".join(p for p, _ in pieces)
    session = voice.sessions[GUILD]
    if mode == "streamed":
        clip = session.queue.clips[0]
        voice.finish(GUILD, f"r{run}", text)
    else:
        clip = voice.say(GUILD, text)
    sound = await server.wait_for(lambda: loud(server.audio(GUILD)[before:]), timeout=60)
    voice.skip(GUILD)  # the first packet is what is measured: skip the rest of the reply
    await server.wait_for(lambda: not len(session.queue) and not session.vc.is_playing(), timeout=60)
    assert clip.first_frame_at is not None
    # the clip opens with quiet frames (the voice layer's lead-in, Piper's onset): the packet that
    # carries the clip's first frame left that many frames before the first one with sound
    unit = text if mode == "whole" else text[: text.index(".") + 1]
    frames = await reference(voice.speech, unit, voice.settings)
    quiet = next(i for i, f in enumerate(frames) if peak(f) > LOUD)
    first_packet = sound[0].at - quiet * 0.02
    return float(first_packet - first_done), float(first_packet - clip.first_frame_at), float(sound[0].at - first_done)


async def voice_protocol() -> None:
    fake = FakeDiscord()
    fake.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, voice={VOICE: "lounge"}, members=[ALICE],
                   voice_states=[(500, VOICE)])
    server = FakeVoiceServer()
    await fake.start()
    await server.start()
    server.trust()
    fake.voice_server = server
    speech = build_speech(streamed_config())
    whole_speech = build_speech(WHOLE_UNIT)
    await speech.start()
    await whole_speech.start()
    bot = await start_bot(fake, speech=speech)
    try:
        join = await fake.interaction("join", {}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        assert (await hook_answer(fake, join)).startswith("Joined"), "the bot joined the fake voice server"
        await protocol_first_packet(bot, server, 99, "streamed")  # warm up
        results: dict[str, list[float]] = {"streamed": [], "whole": []}
        path: list[float] = []
        sounds: list[float] = []
        for run in range(PROTOCOL_RUNS):
            bot.adapter.voice.speech = speech
            total, added, sound_s = await protocol_first_packet(bot, server, run, "streamed")
            results["streamed"].append(total)
            path.append(added * 1000)
            sounds.append(sound_s * 1000)
            bot.adapter.voice.speech = whole_speech
            results["whole"].append((await protocol_first_packet(bot, server, run + PROTOCOL_RUNS, "whole"))[0])
        bot.adapter.voice.speech = speech
        # CPU per second of speech: clips from the cache, so synthesis is not counted
        text = " ".join(SENTENCES) * 3
        first = bot.adapter.voice.say(GUILD, text)
        assert first.task is not None
        await first.task
        session = bot.adapter.voice.sessions[GUILD]
        await server.wait_for(lambda: not len(session.queue) and not session.vc.is_playing(), timeout=120)
        before, fake_cpu = len(server.audio(GUILD)), server.media_cpu_s
        cpu0, wall0 = time.process_time(), time.monotonic()
        bot.adapter.voice.say(GUILD, text)
        await asyncio.sleep(0.1)
        await server.wait_for(lambda: not len(session.queue) and not session.vc.is_playing(), timeout=120)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        played_s = (len(server.audio(GUILD)) - before) * 0.02
        server_cpu = server.media_cpu_s - fake_cpu
        dave = server.live(GUILD)
        assert dave is not None and dave.dave is not None and dave.dave.active
    finally:
        await bot.stop()
        await speech.stop()
        await whole_speech.stop()
        await server.stop()
        await fake.stop()
    ms = {m: [v * 1000 for v in vals] for m, vals in results.items()}
    p50 = {m: percentile(v, 50) for m, v in ms.items()}
    print(f"voice channel through the protocol (discord.py VoiceClient -> fake voice server, TLS, UDP, DAVE on), "
          f"{PROTOCOL_RUNS} replies streamed a word every {WORD_S * 1000:.0f} ms (first_clip_chars "
          f"{speech.config.first_clip_chars}, {' '.join(sys.argv[1:])}), from the first complete sentence:")
    print(f"  streamed: first packet of the reply's audio p50 {p50['streamed']:.0f} ms, "
          f"p99 {percentile(ms['streamed'], 99):.0f} ms (target <= 150 ms); first packet with sound "
          f"p50 {percentile(sounds, 50):.0f} ms, p99 {percentile(sounds, 99):.0f} ms")
    print(f"  of which the voice path (first synthesized frame -> its packet at the server): "
          f"p50 {percentile(path, 50):.0f} ms, p99 {percentile(path, 99):.0f} ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ratio = f"{p50['whole'] / p50['streamed']:.1f}x" if p50["streamed"] > 0 else "n/a (streamed starts before)"
    print(f"  whole-reply synthesis: p50 {p50['whole']:.0f} ms, p99 {percentile(ms['whole'], 99):.0f} ms; "
          f"ratio whole/streamed {ratio}")
    print(f"  CPU per second of speech played (cached clip, {played_s:.1f} s in {wall:.1f} s): "
          f"{(cpu - server_cpu) / played_s * 1000:.1f} ms bot side (Opus encode, DAVE, transport encryption, "
          f"player), {server_cpu / played_s * 1000:.1f} ms at the fake server (open + decode), process total "
          f"{cpu / played_s * 1000:.1f} ms")


async def main() -> None:
    if "--protocol-only" not in sys.argv:
        await reply_latency()
        await voice_channel()
    await voice_protocol()


if __name__ == "__main__":
    asyncio.run(main())
