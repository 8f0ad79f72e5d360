"""Talking to the bot in a Discord voice channel, through the fake Discord and its fake voice server.

The bot is the real one (discord.py's client, our receive path, the hearing of ``voice.listening``:
Silero VAD and faster-whisper tiny.en; the companion's default engine chain from ``config.yaml``;
Piper); the fake's members speak Piper-synthesized speech into the channel (Opus, DAVE, transport
encryption, 50 packets/s) and the bot's answer is measured where a listener hears it, at the fake.

1. Voice-to-voice latency: from the end of the user's speech (the end of the last 20 ms frame with
   sound in what the member sent) to the first packet of the bot's answer with sound at the fake
   voice server; p50/p99 over ``RUNS`` questions. Where the time goes, each from the end of speech: the
   hearing's end of the utterance (``end_silence_ms`` of silence), its transcript ready (transcription
   starts at an ``eager_ms`` pause, so it is often ready before the end), the message published, the
   engine's first piece of the answer, its first frame of speech (Piper's first clip, polished), the first
   packet with sound (after the ``lead_in_ms`` silence and the player).
2. Barge-in: the bot speaks a long text, a member starts speaking; from the member's first packet with
   sound to the bot's last packet with sound at the fake, and from the adapter's barge-in (the hearing's
   start of speech) to that last packet.
3. CPU per minute of listening (process CPU: receive, decryption, decoding, VAD, transcription) with one
   and with four members speaking at once, in ``wake_word`` mode without the wake word (heard and
   transcribed, never answered); the members' packets are encoded before the measured window. Then
   the same four speakers while the bot speaks a long text (barge-in off): the gaps between the bot's
   packets at the fake (its playback must not stutter while it listens).

Run: .venv/bin/python -m bench.voice_channel   (``--runs N``, ``--end-silence-ms MS``, ``--latency-only``,
``--whisper-window-30`` for faster-whisper's standard 30 s window; about 4 minutes with the defaults)
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from adapters.discord.listen_state import ListenPolicy
from bench.stats import percentile
from bots.config import load_config
from bots.engines import build_chain
from core.engine import Conversation, DialogueEngine
from core.hearing import Hearing, SpeechStartHandler, UtteranceHandler
from core.speech import VoiceSettings
from core.stt import SpeechToText, Transcript
from tests.adapters.discord.conftest import ALICE, ANSWERS, GENERAL, GUILD, KIM, SAM, VOICE, start_bot
from tests.adapters.discord.fake_dave import EXTRA_MEMBER_IDS
from tests.adapters.discord.fake_discord import FakeDiscord, user
from tests.adapters.discord.fake_speaker import FakeMember
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.voice_world import LOUD, hook_answer, loud, peak, reference
from voice.config import VoiceConfig
from voice.listening import ListeningConfig, SileroHearing, build_hearing
from voice.listening.transcriber import Job
from voice.service import VoiceService, build_speech
from voice.stt.config import SttConfig, WhisperSttConfig
from voice.stt.service import build_listener

ROOT = Path(__file__).resolve().parents[1]
LEE, MAX = user(EXTRA_MEMBER_IDS[1], "lee"), user(EXTRA_MEMBER_IDS[2], "max")
SPEAKERS = [SAM, KIM, LEE, MAX]
QUESTIONS = ["how are you today", "what is your favourite colour", "do you like music", "tell me about your day",
             "what are you doing this weekend", "where do you live", "do you have any pets", "what makes you happy",
             "what did you eat for breakfast", "can you recommend a good book", "what is the weather like",
             "do you like to travel"]
CHATTER = ["The museum opens its new wing next spring.", "We walked along the river until the sun went down.",
           "My brother repaired the old bicycle last night.", "The train to the coast was full this morning."]


class Marks:
    """When each stage of the latest answers happened (``time.monotonic()``), for the latency breakdown."""

    def __init__(self) -> None:
        self.ended: list[float] = []  # the hearing's end of an utterance (a Segment, or a tentative one confirmed)
        self.transcribed: list[float] = []  # a transcription finished
        self.answered: list[float] = []  # the engine's first piece of an answer
        self.synthesized: list[float] = []  # the first frame of an answer's speech (Piper's first clip, lead-in first)

    @staticmethod
    def after(times: list[float], start: float) -> float | None:
        return next((t for t in times if t >= start), None)


class _TimedStt(SpeechToText):
    def __init__(self, inner: SpeechToText, marks: Marks) -> None:
        self.inner, self.marks = inner, marks

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         max_duration_s: float | None = None) -> Transcript:
        return await self.inner.transcribe(audio, language=language, max_duration_s=max_duration_s)

    async def transcribe_pcm(self, pcm: bytes, sample_rate: int, *, language: str | None = None,
                             max_duration_s: float | None = None) -> Transcript:
        transcript = await self.inner.transcribe_pcm(pcm, sample_rate, language=language,
                                                     max_duration_s=max_duration_s)
        self.marks.transcribed.append(time.monotonic())
        return transcript


class _TimedEngine(DialogueEngine):
    def __init__(self, inner: DialogueEngine, marks: Marks) -> None:
        self.inner, self.marks, self.name = inner, marks, inner.name

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def reply(self, conversation: Conversation) -> Any:
        first = True
        async for piece in self.inner.reply(conversation):
            if first:
                self.marks.answered.append(time.monotonic())
                first = False
            yield piece


def _mark_speech(speech: VoiceService, marks: Marks) -> None:
    """Record when each spoken answer's first frame is ready (its first clip synthesized and polished)."""
    frames = speech.voice_channel_frames

    async def timed(text: Any, settings: VoiceSettings) -> Any:
        first = True
        async for frame in frames(text, settings):
            if first:
                marks.synthesized.append(time.monotonic())
                first = False
            yield frame

    speech.voice_channel_frames = timed  # type: ignore[method-assign]


def _mark_ends(hearing: Hearing, marks: Marks) -> None:
    """Record the hearing's ends of utterances: a finished one submitted, or a tentative one confirmed."""
    assert isinstance(hearing, SileroHearing)
    transcriber = hearing.transcriber
    submit, confirm = transcriber.submit, transcriber.confirm

    def submitted(job: Job) -> None:
        if not job.tentative:
            marks.ended.append(time.monotonic())
        submit(job)

    def confirmed(job: Job) -> None:
        marks.ended.append(time.monotonic())
        confirm(job)

    transcriber.submit = submitted  # type: ignore[method-assign]
    transcriber.confirm = confirmed  # type: ignore[method-assign]


async def _pcm(speech: VoiceService, text: str) -> bytes:
    return b"".join(await reference(speech, text, VoiceSettings(enabled=True)))


def _speech_end(pcm: bytes, started_at: float) -> float:
    """When the last frame with sound of ``pcm`` was sent (the member's packets go out every 20 ms)."""
    frames = [pcm[i:i + 3840] for i in range(0, len(pcm), 3840)]
    last = max(i for i, f in enumerate(frames) if peak(f) > LOUD)
    return started_at + (last + 1) * 0.02


async def _world() -> tuple[FakeDiscord, FakeVoiceServer]:
    fake = FakeDiscord()
    fake.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, voice={VOICE: "lounge"},
                   members=[ALICE, *SPEAKERS], voice_states=[(int(m["id"]), VOICE) for m in (ALICE, *SPEAKERS)])
    server = FakeVoiceServer(members=4)
    await fake.start()
    await server.start()
    server.trust()
    fake.voice_server = server
    return fake, server


async def bench(runs: int, end_silence_ms: int, latency_only: bool, fitted_window: bool = True) -> None:
    fake, server = await _world()
    app = load_config(ROOT / "config.yaml")
    companion = app.bots[0]
    marks = Marks()
    engine = _TimedEngine(build_chain(companion, ROOT), marks)
    await engine.start()
    speech = build_speech(VoiceConfig())
    stt = build_listener(SttConfig(engines=[WhisperSttConfig(fitted_window=fitted_window)]))
    await speech.start()
    await stt.start()
    _mark_speech(speech, marks)
    listening = ListeningConfig(enabled=True, end_silence_ms=end_silence_ms)

    def hearing(on_utterance: UtteranceHandler, on_speech_start: SpeechStartHandler) -> Hearing:
        built = build_hearing(listening, _TimedStt(stt, marks), on_utterance, on_speech_start)
        _mark_ends(built, marks)
        return built

    bot = await start_bot(fake, speech=speech, engine=engine, hearing=hearing,
                          listening=ListenPolicy(enabled=True, wake_words=(companion.persona.name,)))
    try:
        join = await fake.interaction("join", {}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        assert (await hook_answer(fake, join)).startswith("Joined")
        await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s.dave is not None and s.dave.active
                              and all(m.ready for m in s.dave.extra.values()) and bool(s.dave.transitions), 30)
        await asyncio.sleep(0.2)
        members = {int(m["id"]): FakeMember(server, int(m["id"])) for m in SPEAKERS}
        print(f"faster-whisper window: {'fitted to the recording' if fitted_window else '30 s (standard)'}")
        await _latency(bot, server, speech, members[int(SAM["id"])], runs, end_silence_ms, marks)
        if not latency_only:
            await _barge_in(bot, server, speech, members[int(KIM["id"])])
            await _cpu(bot, server, speech, members)
    finally:
        await bot.stop()
        await stt.stop()
        await speech.stop()
        await engine.stop()
        await server.stop()
        await fake.stop()


async def _quiet(bot: Any) -> None:
    voice = bot.adapter.voice
    while voice.speaking(GUILD):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


async def _latency(bot: Any, server: FakeVoiceServer, speech: VoiceService, sam: FakeMember, runs: int,
                   end_silence_ms: int, marks: Marks) -> None:
    totals: list[float] = []
    heard: list[float] = []
    stages: dict[str, list[float]] = {"utterance ended": [], "transcript ready": [], "published": [],
                                      "engine's first piece": [], "first frame synthesized": []}
    for run in range(runs + 1):  # the first run warms up (VAD model, first transcription)
        pcm = await _pcm(speech, f"Joe, {QUESTIONS[run % len(QUESTIONS)]}?")
        before_audio, before_heard = len(server.audio(GUILD)), len(bot.adapter.heard)
        await sam.announce(GUILD)
        packets = sam.prepare(GUILD, pcm)
        spoken = await sam.play(GUILD, packets)
        end = _speech_end(pcm, spoken.started_at)
        published_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if published_at is None and len(bot.adapter.heard) > before_heard:
                published_at = time.monotonic()
            sound = [p for p in loud(server.audio(GUILD)[before_audio:]) if p.at > end]
            if sound:
                if run:
                    totals.append((sound[0].at - end) * 1000)
                    heard.append(((published_at or sound[0].at) - end) * 1000)
                    ended = Marks.after(marks.ended, end)
                    # the transcription that was used: the last one finished before the end, or the first after
                    ready = max((t for t in marks.transcribed if end <= t <= (ended or end)), default=None) \
                        or Marks.after(marks.transcribed, ended or end)
                    for name, at in (("utterance ended", ended), ("transcript ready", ready),
                                     ("published", published_at),
                                     ("engine's first piece", Marks.after(marks.answered, end)),
                                     ("first frame synthesized", Marks.after(marks.synthesized, end))):
                        if at is not None:
                            stages[name].append((at - end) * 1000)
                break
            await asyncio.sleep(0.005)
        else:
            print(f"  run {run}: no answer in 30 s", file=sys.stderr)
        await _quiet(bot)
    print(f"voice-to-voice (end of the user's speech -> first packet of the answer with sound at the fake), "
          f"{len(totals)} questions, end_silence_ms {end_silence_ms}, load average {os.getloadavg()[0]:.1f}:")
    print(f"  p50 {percentile(totals, 50):.0f} ms, p99 {percentile(totals, 99):.0f} ms (target p50 <= 1200 ms); "
          f"of which until the utterance was published (VAD end of speech + transcription): "
          f"p50 {percentile(heard, 50):.0f} ms, p99 {percentile(heard, 99):.0f} ms")
    print("  from the end of speech: " + ", ".join(
        f"{name} p50 {percentile(values, 50):.0f} / p99 {percentile(values, 99):.0f} ms"
        for name, values in stages.items()) + f", first packet with sound p50 {percentile(totals, 50):.0f} ms")


async def _barge_in(bot: Any, server: FakeVoiceServer, speech: VoiceService, kim: FakeMember, runs: int = 5) -> None:
    from_speech: list[float] = []
    from_start: list[float] = []
    interruption = await _pcm(speech, "Joe, wait a moment please.")
    lead = next(i for i in range(0, len(interruption), 3840) if peak(interruption[i:i + 3840]) > LOUD) // 3840
    for run in range(runs):
        text = f"{CHATTER[run % len(CHATTER)]} " * 6
        bot.adapter.voice.say(GUILD, text)
        before = len(server.audio(GUILD))
        while len(loud(server.audio(GUILD)[before:])) < 50:
            await asyncio.sleep(0.02)
        barges = len(bot.adapter.barge_ins)
        await kim.announce(GUILD)
        spoken = await kim.play(GUILD, kim.prepare(GUILD, interruption))
        await asyncio.sleep(0.5)
        bot_sound = loud(server.audio(GUILD)[before:])
        if len(bot.adapter.barge_ins) > barges:
            first_voice = spoken.started_at + lead * 0.02
            # where the bot fell silent: the last packet with sound before a 300 ms gap (what follows is its
            # answer to the interruption, which can start within this window now)
            stop = next((a for a, b in itertools.pairwise(bot_sound) if a.at > first_voice and b.at - a.at > 0.3),
                        bot_sound[-1])
            from_speech.append((stop.at - first_voice) * 1000)
            from_start.append((stop.at - bot.adapter.barge_ins[barges]) * 1000)
        await _quiet(bot)
        await asyncio.sleep(2.0)  # the interruption's own (wake-word) answer, if any, is over
        await _quiet(bot)
    print(f"barge-in ({len(from_speech)} of {runs} runs): the bot's last packet with sound came "
          f"p50 {percentile(from_speech, 50):.0f} ms / max {max(from_speech, default=0):.0f} ms after the member "
          f"started speaking, p50 {percentile(from_start, 50):.0f} ms / max {max(from_start, default=0):.0f} ms "
          f"after the hearing's start of speech (target <= 200 ms)")


async def _cpu(bot: Any, server: FakeVoiceServer, speech: VoiceService, members: dict[int, FakeMember],
               seconds: float = 30.0) -> None:
    chatter = [await _pcm(speech, text) for text in CHATTER]
    for count in (1, 4):
        speakers = list(members.values())[:count]
        plans = []
        for i, member in enumerate(speakers):
            pcm = b""
            k = i
            while len(pcm) < seconds * 50 * 3840:
                pcm += chatter[k % len(chatter)] + bytes(3840 * 25)  # half a second between sentences
                k += 1
            await member.announce(GUILD)
            plans.append(member.prepare(GUILD, pcm[: int(seconds * 50) * 3840]))
        heard = len(bot.adapter.heard) + bot.adapter.ignored_utterances
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.gather(*(m.play(GUILD, p) for m, p in zip(speakers, plans, strict=True)))
        await asyncio.sleep(2.0)  # the last utterances end and are transcribed
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        utterances = len(bot.adapter.heard) + bot.adapter.ignored_utterances - heard
        print(f"CPU while listening to {count} speaker(s) for {seconds:.0f} s ({utterances} utterances): "
              f"{cpu / wall * 60:.1f} s of CPU per minute ({cpu / wall * 100:.0f}% of one core)")
        await _quiet(bot)
    # the bot speaks while four people talk: its packets must keep their 20 ms pace
    policy = bot.adapter.listen_policy
    bot.adapter.listen_policy = dataclasses.replace(policy, barge_in="ignore")
    plans = []
    for member in members.values():
        await member.announce(GUILD)
        plans.append(member.prepare(GUILD, (chatter[0] + bytes(3840 * 25)) * 4))
    bot.adapter.voice.say(GUILD, " ".join(CHATTER) * 3)
    before = len(server.audio(GUILD))
    while len(server.audio(GUILD)) - before < 10:
        await asyncio.sleep(0.02)
    start = len(server.audio(GUILD))
    await asyncio.gather(*(m.play(GUILD, p) for m, p in zip(members.values(), plans, strict=True)))
    sent = server.audio(GUILD)[start:]
    gaps = [(b.at - a.at) * 1000 for a, b in itertools.pairwise(sent)]
    print(f"the bot speaking while 4 people talk ({len(sent)} packets): gap between its packets at the fake "
          f"p50 {percentile(gaps, 50):.1f} ms, p99 {percentile(gaps, 99):.1f} ms, max {max(gaps):.1f} ms; "
          f"{sum(g > 60 for g in gaps)} gaps over 60 ms")
    bot.adapter.listen_policy = policy
    await _quiet(bot)
    print(f"load average {os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 10
    silence = int(sys.argv[sys.argv.index("--end-silence-ms") + 1]) if "--end-silence-ms" in sys.argv \
        else ListeningConfig().end_silence_ms
    np.seterr(all="ignore")
    asyncio.run(bench(runs, silence, "--latency-only" in sys.argv, "--whisper-window-30" not in sys.argv))
