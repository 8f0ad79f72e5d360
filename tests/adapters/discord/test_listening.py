"""``/listen`` as a slash and a typed command, who may switch it, and a bot that cannot listen."""

from __future__ import annotations

from typing import Any

from adapters.discord.listen_state import ListenPolicy
from tests.adapters.discord.conftest import ALICE, GENERAL, GUILD, VOICE, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.listen_world import RecordingHearing, joined_with_dave, slash
from voice.service import VoiceService


def _recording(on_utterance: Any, on_speech_start: Any) -> RecordingHearing:
    return RecordingHearing(on_utterance, on_speech_start)


async def typed(fake: FakeDiscord, text: str) -> str:
    before = len(fake.messages(GENERAL))
    await fake.message(GENERAL, ALICE, text, guild_id=GUILD)
    await fake.wait_for(lambda: len(fake.messages(GENERAL)) > before)
    return str(fake.messages(GENERAL)[-1].json["content"])


async def test_typed_listen_commands_answer_in_the_channel_and_switching_needs_manage_server(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = room
    bot = await start_bot(fake, speech=speech, hearing=_recording, listening=ListenPolicy(wake_words=("Joe",)))
    try:
        (sync,) = [s for s in fake.sent if s.method == "PUT"]
        assert "listen" in {c["name"] for c in sync.json}
        status = await typed(fake, "/listen")
        refused = await typed(fake, "/listen on")
        unknown = await typed(fake, "/listen loudly")
        await joined_with_dave(fake, server)
        assert not bot.adapter._receivers, "off until someone turns it on"
        on = await slash(fake, "listen", setting="on", permissions=str(1 << 3))  # administrator
        receiving = GUILD in bot.adapter._receivers
        status_on = await typed(fake, "/listen status")
        optout = await typed(fake, "/listen optout")
        opted = await bot.adapter.listen_store.opted_out(int(ALICE["id"]))
    finally:
        await bot.stop()
    assert status == "Listening is off here (mode: wake word)."
    assert refused == "Only members who can manage this server can turn listening on or off."
    assert unknown == "Use /listen on, off, always, wake, optout, optin or status."
    assert on.startswith("🎙 I'm listening in lounge: start with “Joe” to talk to me.") and receiving
    assert status_on == "Listening is on here (mode: wake word)."
    assert optout.startswith("I won't listen to you") and opted


async def test_a_bot_without_speech_recognition_offers_no_slash_listen_and_says_why(fake: FakeDiscord) -> None:
    bot = await start_bot(fake)
    try:
        (sync,) = [s for s in fake.sent if s.method == "PUT"]
        answer = await typed(fake, "/listen on")
    finally:
        await bot.stop()
    assert "listen" not in {c["name"] for c in sync.json}
    assert answer == "I can't listen in voice channels: speech recognition is not set up for this bot."


async def test_listen_off_deafens_the_bot_by_op_4_and_on_undeafens_it_on_the_same_voice_connection(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = room
    bot = await start_bot(fake, speech=speech, hearing=_recording,
                          listening=ListenPolicy(enabled=True, wake_words=("Joe",)))
    try:
        await joined_with_dave(fake, server)
        join = fake.voice_requests[-1]
        session, grant = server.live(GUILD), server.grants[GUILD]
        guild = bot.adapter.client.get_guild(GUILD)
        before = len(fake.voice_requests)
        off = await slash(fake, "listen", setting="off", permissions=str(1 << 3))
        await fake.wait_for(lambda: guild.me.voice is not None and guild.me.voice.self_deaf, timeout=10)
        deafen = fake.voice_requests[before:]
        receiving_off = GUILD in bot.adapter._receivers
        on = await slash(fake, "listen", setting="on", permissions=str(1 << 3))
        await fake.wait_for(lambda: guild.me.voice is not None and not guild.me.voice.self_deaf, timeout=10)
        undeafen = fake.voice_requests[before + len(deafen):]
        vc = bot.adapter.voice.active(GUILD).vc
        same_link = server.live(GUILD) is session and server.grants[GUILD] is grant and vc.is_connected()
        receiving_on = GUILD in bot.adapter._receivers
        remembered = GUILD in bot.adapter.voice.deafened
    finally:
        await bot.stop()
    assert join["self_deaf"] is False, "a bot that listens joins undeafened"
    assert off == "I've stopped listening in voice channels here." and not receiving_off
    assert [(int(r["channel_id"]), r["self_deaf"], r["self_mute"]) for r in deafen] == [(VOICE, True, False)]
    assert on.startswith("🎙 I'm listening in lounge") and receiving_on and not remembered
    assert [(int(r["channel_id"]), r["self_deaf"], r["self_mute"]) for r in undeafen] == [(VOICE, False, False)]
    assert same_link, "a deafen is a voice state update, not a new voice connection"


async def test_a_guild_where_listening_is_off_by_default_gets_a_deafened_bot_and_listen_on_undeafens_it(
    room: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = room
    bot = await start_bot(fake, speech=speech, hearing=_recording, listening=ListenPolicy(wake_words=("Joe",)))
    try:
        before = len(fake.voice_requests)
        await joined_with_dave(fake, server)
        guild = bot.adapter.client.get_guild(GUILD)
        await fake.wait_for(lambda: guild.me.voice is not None and guild.me.voice.self_deaf, timeout=10)
        requests = fake.voice_requests[before:]
        remembered = GUILD in bot.adapter.voice.deafened
        on = await slash(fake, "listen", setting="on", permissions=str(1 << 3))
        await fake.wait_for(lambda: guild.me.voice is not None and not guild.me.voice.self_deaf, timeout=10)
        receiving = GUILD in bot.adapter._receivers
    finally:
        await bot.stop()
    assert [r["self_deaf"] for r in requests] == [False, True], "joined (able to listen), then deafened"
    assert remembered, "later connects of this guild join deafened"
    assert on.startswith("🎙 I'm listening in lounge") and receiving
