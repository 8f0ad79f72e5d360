"""Spoken conversations in a voice channel, end to end through the real protocol and the real stack.

The fake's members speak Piper-synthesized questions into the channel (Opus, DAVE, transport
encryption); discord.py's client with our receive path hears them; the bot's hearing (Silero VAD and
faster-whisper tiny.en, :mod:`voice.listening`) turns them into utterances; the pipeline answers from the
knowledge base; the answer is spoken back (Piper, Opus, DAVE) and checked where a listener hears it: the
packets the fake voice server received, decoded and transcribed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from adapters.discord.listen_state import ListenPolicy
from core.engines.faq import FaqEngine
from core.hearing import Hearing, SpeechStartHandler, UtteranceHandler
from tests.adapters.discord.conftest import GENERAL, GUILD, KIM, Bot, start_bot
from tests.adapters.discord.fake_dave import LISTENER_ID
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.fake_speaker import FakeMember
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.listen_world import joined_with_dave, say_pcm, settle, slash
from tests.adapters.discord.voice_world import loud, loud_frames, reference, transcribe, until
from voice.listening import ListeningConfig, build_hearing
from voice.service import VoiceService
from voice.stt.service import ListenService

FAQ = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"
HOURS = "Support is staffed Monday to Friday, 9:00 to 18:00 (UTC). Outside those hours this bot answers."
MANAGE_GUILD = str(1 << 5)


async def talking_bot(fake: FakeDiscord, speech: VoiceService, listener: ListenService,
                      **policy: Any) -> Bot:
    """The bot answering from the support knowledge base, listening with the real hearing."""

    def hearing(on_utterance: UtteranceHandler, on_speech_start: SpeechStartHandler) -> Hearing:
        return build_hearing(ListeningConfig(enabled=True), listener, on_utterance, on_speech_start)

    engine = FaqEngine(FAQ, threshold=0.3)
    await engine.start()
    return await start_bot(fake, speech=speech, engine=engine, hearing=hearing,
                           listening=ListenPolicy(**{"enabled": True, "wake_words": ("Joe",), **policy}))


def replies(fake: FakeDiscord) -> list[str]:
    return [str(s.json.get("content")) for s in fake.messages(GENERAL) if isinstance(s.json, dict)]


async def test_a_spoken_question_is_answered_in_speech_from_the_knowledge_base(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    fake, server = room
    bot = await talking_bot(fake, speech, listener)
    try:
        await joined_with_dave(fake, server)
        await until(lambda: any("listening in lounge" in r for r in replies(fake)), timeout=10)  # announced
        before = len(server.audio(GUILD))
        spoken = await FakeMember(server, LISTENER_ID).speak(GUILD, await say_pcm(speech, "Joe, what are your opening hours?"))
        await until(lambda: HOURS in replies(fake), timeout=60)
        await until(lambda: len(loud(server.audio(GUILD)[before:])) > 50, timeout=60)
        voice = bot.adapter.voice
        await until(lambda: not voice.speaking(GUILD), timeout=60)
        await settle(0.3)
        packets = server.audio(GUILD)[before:]
        heard = bot.adapter.heard[-1]
    finally:
        await bot.stop()
    assert heard.text.lower().startswith("what are your opening"), heard.text
    assert heard.author.id == str(LISTENER_ID) and heard.chat.id == str(GENERAL)
    sound = loud(packets)
    assert all(p.e2ee for p in sound) and sound[0].at > spoken.speech_end_at
    expected = loud_frames(await reference(speech, HOURS, bot.adapter.voice.settings))
    assert abs(len(sound) - expected) <= max(5, expected // 8), (len(sound), expected)
    said = transcribe(packets)
    assert "monday" in said and "friday" in said, said


async def test_wake_word_mode_ignores_an_utterance_without_the_name_and_always_mode_answers_it(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    fake, server = room
    bot = await talking_bot(fake, speech, listener)
    sam = FakeMember(server, LISTENER_ID)
    try:
        await joined_with_dave(fake, server)
        question = await say_pcm(speech, "What are your opening hours?")
        await sam.speak(GUILD, question)
        await until(lambda: bot.adapter.ignored_utterances == 1, timeout=60)
        await settle(1.0)
        assert HOURS not in replies(fake) and not bot.adapter.heard
        refused = await slash(fake, "listen", setting="always")
        answer = await slash(fake, "listen", setting="always", permissions=MANAGE_GUILD)
        await sam.speak(GUILD, question)
        await until(lambda: HOURS in replies(fake), timeout=60)
    finally:
        await bot.stop()
    assert refused == "Only members who can manage this server can turn listening on or off."
    assert answer.startswith("🎙 I'm listening in lounge: everything said there is answered"), answer


async def test_two_members_speaking_at_once_are_both_answered(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    fake, server = room
    bot = await talking_bot(fake, speech, listener, mode="always")  # the wake word is not what this tests
    try:
        await joined_with_dave(fake, server)
        one = await say_pcm(speech, "Joe, what are your opening hours?")
        two = await say_pcm(speech, "Joe, how do I reset my password?")
        await asyncio.gather(FakeMember(server, LISTENER_ID).speak(GUILD, one),
                             FakeMember(server, int(KIM["id"])).speak(GUILD, two))
        await until(lambda: len(bot.adapter.heard) >= 2, timeout=90)
        await until(lambda: HOURS in replies(fake), timeout=60)
    finally:
        await bot.stop()
    by = {m.author.id: m.text.lower() for m in bot.adapter.heard}
    assert "opening hours" in by[str(LISTENER_ID)] and "password" in by[KIM["id"]], by


async def test_barge_in_stops_the_bots_speech_within_200_ms_of_the_speech_start(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    fake, server = room
    bot = await talking_bot(fake, speech, listener)
    try:
        await joined_with_dave(fake, server)
        long_text = " ".join(["The museum opens its new wing next spring, with paintings from four centuries."] * 4)
        assert await slash(fake, "say", text=long_text) == "🔊 queued"
        await until(lambda: len(loud(server.audio(GUILD))) > 50, timeout=60)  # the bot is speaking
        interruption = await say_pcm(speech, "Joe, stop for a moment please.")
        talk = asyncio.create_task(FakeMember(server, LISTENER_ID).speak(GUILD, interruption))
        await until(lambda: bot.adapter.barge_ins, timeout=20)
        barge_in = bot.adapter.barge_ins[0]
        await talk
        await settle(0.5)
        bot_sound = [p for p in loud(server.audio(GUILD))]
        voice = bot.adapter.voice
        queued = len(voice.sessions[GUILD].queue)
    finally:
        await bot.stop()
    last = bot_sound[-1].at
    assert last - barge_in <= 0.2, f"the bot's audio went on {last - barge_in:.3f} s after the barge-in"
    assert queued == 0
    expected = loud_frames(await reference(speech, long_text, voice.settings))
    assert len(bot_sound) < expected / 2, "the rest of the reply was dropped"


async def test_listen_off_stops_everything_and_an_opted_out_member_is_not_heard(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    fake, server = room
    bot = await talking_bot(fake, speech, listener, enabled=False)
    sam = FakeMember(server, LISTENER_ID)
    try:
        await joined_with_dave(fake, server)
        question = await say_pcm(speech, "Joe, what are your opening hours?")
        await sam.speak(GUILD, question)  # listening is off by default
        await settle(2.0)
        off_by_default = (list(bot.adapter.heard), dict(bot.adapter._receivers))
        announced = await slash(fake, "listen", setting="on", permissions=MANAGE_GUILD)
        opted_out = await slash(fake, "listen", member=KIM, setting="optout")
        await FakeMember(server, int(KIM["id"])).speak(GUILD, question)
        await settle(3.0)
        kim_heard = len(bot.adapter.heard)
        await sam.speak(GUILD, question)
        await until(lambda: HOURS in replies(fake), timeout=60)
        assert await slash(fake, "listen", setting="off", permissions=MANAGE_GUILD) == \
            "I've stopped listening in voice channels here."
        answered = len(bot.adapter.heard)
        await sam.speak(GUILD, question)
        await settle(3.0)
        after_off = (len(bot.adapter.heard), dict(bot.adapter._receivers))
    finally:
        await bot.stop()
    assert off_by_default == ([], {})
    assert announced.startswith("🎙 I'm listening in lounge: start with “Joe” to talk to me"), announced
    assert opted_out.startswith("I won't listen to you") and kim_heard == 0
    assert answered == 1 and after_off == (1, {})


async def test_barge_in_duck_lowers_the_bots_voice_while_someone_speaks_and_restores_it(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, listener: ListenService
) -> None:
    import statistics

    from tests.adapters.discord.voice_world import peak

    fake, server = room
    bot = await talking_bot(fake, speech, listener, barge_in="duck", duck_volume=0.25)
    try:
        await joined_with_dave(fake, server)
        long_text = " ".join(["The museum opens its new wing next spring, with paintings from four centuries."] * 5)
        assert await slash(fake, "say", text=long_text) == "🔊 queued"
        await until(lambda: len(loud(server.audio(GUILD))) > 50, timeout=60)
        before = len(server.audio(GUILD))
        talk = asyncio.create_task(FakeMember(server, LISTENER_ID).speak(
            GUILD, await say_pcm(speech, "Joe, one moment please.")))
        await until(lambda: bot.adapter.barge_ins, timeout=20)
        ducked_from = len(server.audio(GUILD))
        await until(lambda: bot.adapter.voice.sessions[GUILD].queue.volume == 1.0, timeout=30)  # heard: restored
        ducked_to = len(server.audio(GUILD))
        await talk
        playing = bot.adapter.voice.speaking(GUILD)
        packets = server.audio(GUILD)
    finally:
        await bot.stop()
    loudness = [peak(p.pcm) for p in loud(packets[:before])]
    ducked = [peak(p.pcm) for p in packets[ducked_from + 5:ducked_to]]
    assert playing, "ducking does not stop the bot"
    assert ducked and statistics.median(ducked) < 0.5 * statistics.median(loudness), (ducked[:10], loudness[:10])
