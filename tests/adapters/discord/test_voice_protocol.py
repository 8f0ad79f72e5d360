"""Voice channels through the real protocol: discord.py's VoiceClient against the fake voice server.

The fake main gateway answers the bot's op 4 with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE
pointing at :class:`~tests.adapters.discord.fake_voice.FakeVoiceServer` (voice gateway v8 over
TLS with a certificate made for the test and trusted by the client, UDP, DAVE). What the bot
says is checked at the server: RTP packets opened (transport and end-to-end encryption),
decoded from Opus and transcribed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.http import Route

from adapters.discord import voice as voice_module
from adapters.discord.errors import DAVE_HELP
from adapters.discord.voice import voice_of_store
from core.engines.echo import EchoEngine
from tests.adapters.discord.conftest import ALICE, ANSWERS, GENERAL, GUILD, VOICE, Bot, start_bot
from tests.adapters.discord.fake_discord import BOT_ID, FakeDiscord, user
from tests.adapters.discord.fake_voice import MODE, FakeVoiceServer
from tests.adapters.discord.voice_world import (
    hook_answer,
    loud,
    loud_frames,
    packets_per_second,
    reference,
    rtp_in_step,
    running,
    transcribe,
    until,
)
from tests.spoken import wer
from voice.config import PiperEngineConfig, VoiceConfig
from voice.service import VoiceService, build_speech

VOICE2 = 402
BOT = user(BOT_ID, "voicebot", True)


@pytest.fixture
async def world(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeDiscord, FakeVoiceServer]]:
    """The fake Discord (one guild, Alice in the lounge) and its voice server (DAVE on unless marked)."""
    options: dict[str, Any] = getattr(request, "param", {})
    fake = FakeDiscord()
    fake.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, voice={VOICE: "lounge", VOICE2: "studio"},
                   members=[ALICE], voice_states=[(500, VOICE)])
    server = FakeVoiceServer(**options)
    async with running(fake, server) as both:
        yield both


async def command(fake: FakeDiscord, name: str, timeout: float = 40.0, **options: str) -> str:
    data = await fake.interaction(name, options, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
    return await hook_answer(fake, data, timeout)


async def joined(fake: FakeDiscord, server: FakeVoiceServer) -> None:
    assert await command(fake, "join") == "Joined lounge: I'll speak my replies there."
    session = server.live(GUILD)
    assert session is not None and session.selected["mode"] == MODE


async def played(bot: Bot, server: FakeVoiceServer, after: int = 0, timeout: float = 40.0) -> list[Any]:
    """Wait until the guild's queue is empty and the player idle; the packets received after ``after``."""
    voice = bot.adapter.voice

    def idle() -> bool:
        session = voice.sessions.get(GUILD)
        return session is not None and not len(session.queue) and not session.vc.is_playing() \
            and len(server.audio(GUILD)) > after
    await until(idle, timeout)
    await asyncio.sleep(0.3)  # the five trailing silence frames
    return server.audio(GUILD)[after:]


async def test_say_reaches_the_voice_server_as_real_speech_through_dave(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        text = "The weather is calm today, and rain may come this evening."
        assert await command(fake, "say", text=text) == "🔊 queued"
        packets = await played(bot, server)
        session = server.live(GUILD)
        assert session is not None
    finally:
        await bot.stop()
    # the handshake: v8 over TLS, IDENTIFY with the bot's session, DAVE offered and run
    assert session.identify["max_dave_protocol_version"] == 1 and session.identify["user_id"] == str(BOT_ID)
    assert session.dave_version == 1 and session.dave.active and session.dave.transitions == [1]
    assert [s["speaking"] for s in session.speaking][:2] == [0, 1]
    assert server.discoveries >= 1 and server.bad_packets == 0
    # RTP: one stream, +1 / +960 / nonce +1 per packet, 50 packets a second
    rtp_in_step(packets)
    assert 45 <= packets_per_second(packets) <= 56
    sound = loud(packets)
    assert sound and all(p.e2ee for p in sound), "every packet with sound was end-to-end encrypted (DAVE)"
    assert packets[-1].opus == b"\xf8\xff\xfe", "five Opus silence frames close the burst"
    # the audio: as long as the synthesized clip, and it says the text
    expected = loud_frames(await reference(speech, text, bot.adapter.voice.settings))
    assert abs(len(sound) - expected) <= max(3, expected // 10), (len(sound), expected)
    heard = transcribe(packets)
    # tiny.en now and then mishears one word of Piper's voice ("rain" as "ring"): a word error rate bound
    assert wer(text, heard) <= 0.2 and "weather" in heard and "evening" in heard, heard


@pytest.mark.parametrize("world", [{"dave_flow": "welcome"}], indirect=True)
async def test_dave_welcome_flow_joining_a_channel_where_someone_already_is(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        await command(fake, "say", text="Joined by welcome.")
        packets = await played(bot, server)
        session = server.live(GUILD)
        assert session is not None
    finally:
        await bot.stop()
    assert session.dave.welcomes_sent == 1 and session.dave.transitions == [1]
    sound = loud(packets)
    assert sound and all(p.e2ee for p in sound) and server.bad_packets == 0
    assert "welcome" in transcribe(packets)


async def test_dave_invalid_commit_is_recovered_with_a_new_key_package(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    server.corrupt_commits = 1
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        session = server.live(GUILD)
        assert session is not None and session.dave is not None
        await server.wait_for(lambda: session.dave.active and session.dave.transitions)
        await command(fake, "say", text="Recovered after a bad commit.")
        packets = await played(bot, server)
    finally:
        await bot.stop()
    assert [d["transition_id"] for d in session.dave.invalid_commits] == [1]  # op 31 for the damaged one
    assert session.dave.bot_key_packages == 2 and session.dave.transitions == [2]
    sound = loud(packets)
    assert sound and all(p.e2ee for p in sound) and server.bad_packets == 0


async def test_dave_member_who_leaves_cannot_open_what_the_bot_says_next(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        session = server.live(GUILD)
        assert session is not None and session.dave is not None
        await server.wait_for(lambda: session.dave.active and session.dave.transitions == [1])
        await session.dave.remove_listener()  # the bot commits the external Remove (op 27 -> 28 -> 29 -> 23 -> 22)
        await server.wait_for(lambda: session.dave.transitions == [1, 2])
        before = len(server.audio(GUILD))
        await command(fake, "say", text="Only members may hear this.")
        await server.wait_for(lambda: len(server.sealed.get(GUILD, [])) > 50, timeout=30)
    finally:
        await bot.stop()
    assert not loud(server.audio(GUILD)[before:]), "nothing the removed member could open carries sound"
    assert all(f.endswith(b"\xfa\xfa") for f in server.sealed[GUILD]) and server.bad_packets == 0


async def test_dave_revoked_proposal_is_withdrawn_and_the_new_one_committed(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    server.revoke_proposals = 1
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        session = server.live(GUILD)
        assert session is not None and session.dave is not None
        await server.wait_for(lambda: session.dave.active and session.dave.transitions)
        await command(fake, "say", text="The weather is calm today.")
        packets = await played(bot, server)
    finally:
        await bot.stop()
    # the first commit was withdrawn (op 27 revoke with the proposal's reference; a wrong reference makes
    # davey fail), the second one, of the new proposal, is the group the listener joined
    assert session.dave.revoked == 1 and session.dave.commits == 2 and session.dave.transitions == [1]
    sound = loud(packets)
    assert sound and all(p.e2ee for p in sound) and server.bad_packets == 0
    assert "weather" in transcribe(packets)


async def test_dave_downgrade_to_passthrough_and_upgrade_back_to_end_to_end_encryption(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        session = server.live(GUILD)
        assert session is not None and session.dave is not None
        await server.wait_for(lambda: session.dave.active and session.dave.transitions == [1])
        # downgrade: op 21 (protocol_version 0) -> the bot's op 23 -> op 22; the bot sends plain Opus frames
        downgrade = await session.dave.downgrade()
        await server.wait_for(lambda: session.dave.transitions == [1, downgrade])
        before = len(server.audio(GUILD))
        await command(fake, "say", text="Good morning to everyone.")
        plain = await played(bot, server, before)
        # upgrade: op 24 (epoch 1) -> a new group: key package, the listener's addition committed, transition
        await session.dave.upgrade()
        await server.wait_for(lambda: len(session.dave.transitions) == 3 and session.dave.active, timeout=20)
        before = len(server.audio(GUILD))
        await command(fake, "say", text="The weather is calm today.")
        sealed = await played(bot, server, before)
    finally:
        await bot.stop()
    assert session.dave.protocol_version == 1 and session.dave.bot_key_packages == 2
    assert loud(plain) and not any(p.e2ee for p in plain), "passthrough: transport encryption only"
    assert "morning" in transcribe(plain)
    assert loud(sealed) and all(p.e2ee for p in loud(sealed)), "end-to-end encrypted again"
    assert "weather" in transcribe(sealed) and server.bad_packets == 0


@pytest.mark.parametrize("world", [{"dave": False}], indirect=True)
async def test_dave_protocol_version_0_is_transport_encryption_only(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        await command(fake, "say", text="The weather is calm today.")  # words tiny.en hears reliably
        packets = await played(bot, server)
    finally:
        await bot.stop()
    session = server.sessions[-1]
    assert session.dave_version == 0 and session.dave is None
    assert loud(packets) and not any(p.e2ee for p in packets)
    assert "weather" in transcribe(packets)


async def test_spoken_reply_streams_first_packet_before_the_reply_is_synthesized(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech, engine=EchoEngine(pieces=8))
    try:
        await joined(fake, server)
        reply = ("Hello there, this is the first sentence. The second sentence follows it closely. "
                 "A third sentence makes the reply longer. The fourth one talks about the weather outside. "
                 "The fifth one says that rain may come this evening. The sixth one suggests an umbrella. "
                 "The seventh one is almost the last of them all. And the eighth one ends the whole reply.")
        await fake.message(ANSWERS, ALICE, reply, guild_id=GUILD)
        session = bot.adapter.voice.sessions[GUILD]
        clip = await until(lambda: session.queue.clips[0] if session.queue.clips else None)
        loop = asyncio.get_running_loop()
        synthesized: list[float] = []
        assert clip.task is not None
        clip.task.add_done_callback(lambda _: synthesized.append(loop.time()))
        await until(lambda: synthesized and len(loud(server.audio(GUILD))) > 100, 40)  # 2 s of speech heard
        bot.adapter.voice.skip(GUILD)  # the rest of the long reply is not needed
        packets = await played(bot, server)
    finally:
        await bot.stop()
    first_sound = loud(packets)[0]
    assert synthesized and first_sound.at < synthesized[0], "the first sentence plays while the rest is synthesized"
    heard = transcribe(packets)
    assert "first sentence" in heard and "eighth" not in heard, heard


async def test_queue_plays_in_order_skip_skips_and_leave_disconnects(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        long = ("Apples are red and they grow on trees in the orchard, far away from the city, "
                "where nobody ever hears them fall.")
        await command(fake, "say", text=long)
        await command(fake, "say", text="Then comes the blue bicycle.")
        await command(fake, "say", text="Last is the green garden.")
        await server.wait_for(lambda: len(loud(server.audio(GUILD))) > 10)
        assert await command(fake, "skip") == "Skipped."
        packets = await played(bot, server)
        heard = transcribe(packets)
        assert "apple" in heard and "orchard" not in heard, heard
        assert "bicycle" in heard and "garden" in heard, heard
        assert heard.index("bicycle") < heard.index("garden"), heard
        assert await command(fake, "leave") == "Bye!"
        await server.wait_for(lambda: server.live(GUILD) is None)
        assert fake.voice_requests[-1]["channel_id"] is None
        assert await command(fake, "say", text="anyone?") == "I'm not in a voice channel here. Use /join first."
    finally:
        await bot.stop()


async def test_bot_leaves_an_empty_channel(world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech, voice={"empty_leave_s": 0.5})
    bot.adapter.voice.tick_s = 0.1
    try:
        await joined(fake, server)
        await asyncio.sleep(1.0)
        assert server.live(GUILD) is not None, "Alice is still there"
        await fake.move_voice(GUILD, ALICE, None)
        await server.wait_for(lambda: server.live(GUILD) is None, timeout=10)
        assert GUILD not in bot.adapter.voice.sessions and fake.voice_requests[-1]["channel_id"] is None
    finally:
        await bot.stop()


async def test_kick_4014_ends_the_session_without_rejoining(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice_module, "REJOIN_AFTER_S", 0.3)
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    try:
        await joined(fake, server)
        connects = server.connects
        await fake.move_voice(GUILD, BOT, None)  # someone disconnects the bot: Discord says so and closes 4014
        await server.close(GUILD, 4014)
        await until(lambda: GUILD not in bot.adapter.voice.sessions)
        await asyncio.sleep(1.0)
        assert server.connects == connects and server.live(GUILD) is None, "a kicked bot does not come back"
        notes = [m.json["content"] for m in fake.messages(GENERAL)]
        assert notes == ["I was disconnected from the voice channel. Use /join to bring me back."]
        assert await command(fake, "say", text="hello") == "I'm not in a voice channel here. Use /join first."
    finally:
        await bot.stop()


@pytest.mark.parametrize("how", ["4006", "4009", "reset"])
async def test_unexpected_drop_rejoins_and_speaks_again(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """discord.py disconnects itself (reconnect=False) and Discord echoes the leave: not a kick."""
    monkeypatch.setattr(voice_module, "REJOIN_AFTER_S", 0.3)
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    try:
        await joined(fake, server)
        first = server.live(GUILD)
        if how == "reset":
            await server.reset(GUILD)
        else:
            await server.close(GUILD, int(how))
        await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s is not first and s.selected
                              and bot.adapter.voice.sessions[GUILD].vc.is_connected(), timeout=30)
        assert any(r["channel_id"] is None for r in fake.voice_requests), "discord.py left, Discord echoed it"
        before = len(server.audio(GUILD))
        assert await command(fake, "say", text="I am back in the channel.") == "🔊 queued"
        packets = await played(bot, server, after=before)
        assert "back" in transcribe(packets)
    finally:
        await bot.stop()


async def test_voice_reader_that_died_while_connected_is_noticed_and_the_bot_rejoins(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression (test_unexpected_drop_rejoins_and_speaks_again[4006] failed under load): a 4006 close
    landing as discord.py answered a DAVE proposal made its commit meet a closing transport; the reader died
    of ClientConnectionResetError, the link still said connected, and nothing ever rejoined."""
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    caplog.set_level(logging.WARNING, logger="adapters.discord.voice")
    try:
        await joined(fake, server)
        first = server.live(GUILD)
        await server.send_unparsable(GUILD)  # REJOIN_AFTER_S stays 5 s: a dead reader is rejoined at once
        await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s is not first and s.selected
                              and bot.adapter.voice.sessions[GUILD].vc.is_connected(), timeout=30)
        assert any("stopped reading the voice connection" in r.getMessage() for r in caplog.records)
        before = len(server.audio(GUILD))
        assert await command(fake, "say", text="I am back in the channel.") == "🔊 queued"
        assert "back" in transcribe(await played(bot, server, after=before))
    finally:
        await bot.stop()


async def test_voice_server_crash_4015_rejoins_with_the_old_client_released(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(voice_module, "REJOIN_AFTER_S", 1.0)
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    caplog.set_level(logging.INFO, logger="adapters.discord.voice")
    try:
        await joined(fake, server)
        first = server.live(GUILD)
        await server.close(GUILD, 4015)
        # discord.py resumes (op 4 again, RESUME) and then waits for a key RESUMED never brings;
        # the watchdog releases that client and connects afresh
        await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s is not first and s.selected
                              and not s.resumed and bot.adapter.voice.sessions[GUILD].vc.is_connected(), timeout=30)
        assert not any("Already connected" in r.getMessage() for r in caplog.records)
        before = len(server.audio(GUILD))
        await command(fake, "say", text="The server came back.")
        assert "came back" in transcribe(await played(bot, server, after=before))
    finally:
        await bot.stop()


async def test_dropped_udp_path_is_noticed_and_the_bot_rejoins(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice_module, "UDP_PROBE_S", 0.3)
    monkeypatch.setattr(voice_module, "UDP_PROBE_TIMEOUT_S", 0.5)
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    try:
        await joined(fake, server)
        first = server.live(GUILD)
        await server.move_udp()  # the media path dies: packets to the old port are refused
        await server.wait_for(lambda: (s := server.live(GUILD)) is not None and s is not first and s.selected
                              and bot.adapter.voice.sessions[GUILD].vc.is_connected(), timeout=30)
        before = len(server.audio(GUILD))
        await command(fake, "say", text="Media flows again.")
        assert "again" in transcribe(await played(bot, server, after=before))
    finally:
        await bot.stop()


async def test_join_in_another_channel_moves_quickly(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        await joined(fake, server)
        await fake.move_voice(GUILD, ALICE, VOICE2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await command(fake, "join") == "Joined studio: I'll speak my replies there."
        assert loop.time() - started < 10, "discord.py's move_to would wait out its 30 s timeout"
        session = server.live(GUILD)
        assert session is not None and session.grant.channel_id == VOICE2
        assert fake.voice_channels[(GUILD, BOT_ID)] == VOICE2
        before = len(server.audio(GUILD))
        await command(fake, "say", text="Hello from the studio.")
        assert "studio" in transcribe(await played(bot, server, after=before))
    finally:
        await bot.stop()


async def test_join_with_an_untrusted_voice_certificate_answers(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    fake, server = world
    server.untrust()  # the client now meets a certificate it cannot verify
    bot = await start_bot(fake, speech=speech)
    try:
        answer = await command(fake, "join")
        assert answer.startswith("I can't join: cannot reach Discord's voice server:") and "certificate" in answer
        assert GUILD not in bot.adapter.voice.sessions
    finally:
        await bot.stop()


@pytest.mark.parametrize("world", [{"require_dave": True}], indirect=True)
async def test_server_refusing_clients_without_dave_4017_answers_with_install_advice(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discord.voice_state import VoiceConnectionState

    monkeypatch.setattr(VoiceConnectionState, "max_dave_protocol_version", property(lambda self: 0))  # an old client
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    try:
        assert await command(fake, "join") == f"I can't join: {DAVE_HELP}"
        assert GUILD not in bot.adapter.voice.sessions and not server.sessions
    finally:
        await bot.stop()


@pytest.fixture
async def patient_speech(tmp_path: Path) -> AsyncIterator[VoiceService]:
    """Piper with a 300 s budget per sentence: 41 sentences queue for its one slot at once, and under CPU
    load the last ones waited past the default 30 s (slot wait included) and were skipped."""
    service = build_speech(VoiceConfig(engines=[PiperEngineConfig(timeout_s=300)]), cache_dir=tmp_path / "voice-cache")
    async with service:
        yield service


async def test_twenty_guilds_at_once_keep_their_own_queues_and_release_played_clips(
    patient_speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bot in 20 guilds' voice channels at once; per-guild state stays bounded as clips play."""
    # The fake server decodes 20 guilds' audio on the bot's own event loop: under CPU load its UDP probe
    # answers came later than 2 s twice and all 20 guilds rejoined mid-test. The probe has its own test.
    monkeypatch.setattr(voice_module, "UDP_PROBE_S", 3600.0)
    speech = patient_speech
    base, gateway = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake, server = FakeDiscord(), FakeVoiceServer()
    guilds = [2000 + i for i in range(20)]
    for g in guilds:
        fake.add_guild(g, {g + 1000: "general"}, voice={g + 2000: f"lounge-{g}"}, members=[ALICE],
                       voice_states=[(500, g + 2000)])
    await fake.start()
    await server.start()
    server.trust()
    fake.voice_server = server
    bot = await start_bot(fake, speech=speech, dev_guild_ids=[str(guilds[0])])
    texts = ["Every guild has its own queue.", "This is the second clip."]
    try:
        joins = [await fake.interaction("join", {}, guild_id=g, channel_id=g + 1000, member=ALICE) for g in guilds]
        answers = await asyncio.gather(*(hook_answer(fake, data, 60) for data in joins))
        assert all(a.startswith("Joined lounge-") for a in answers), answers
        voice = bot.adapter.voice
        clips = []
        for g in guilds:
            clips += [voice.say(g, text) for text in texts]
        clips.append(voice.say(guilds[0], "One more for the first guild."))
        refs = [weakref.ref(c) for c in clips]
        del clips

        def all_played() -> bool:
            return all(not len(voice.sessions[g].queue) and not voice.sessions[g].vc.is_playing() for g in guilds)
        await until(all_played, 120)
        await asyncio.sleep(0.5)
        ssrcs = {server.audio(g)[0].ssrc for g in guilds}
        assert len(ssrcs) == 20 and len({server.live(g).grant.channel_id for g in guilds}) == 20  # type: ignore[union-attr]
        lengths = {g: len(loud(server.audio(g))) for g in guilds}
        two = [loud_frames(await reference(speech, t, voice.settings)) for t in texts]
        for g in guilds:
            rtp_in_step(server.audio(g))  # no packet lost or reordered
        for g in guilds[1:]:
            assert abs(lengths[g] - sum(two)) <= max(6, sum(two) // 10), (g, lengths[g], sum(two))
            assert all(p.e2ee for p in loud(server.audio(g)))
        assert lengths[guilds[0]] > lengths[guilds[1]] + 20, "the first guild's extra clip played in its own queue"
        for g in guilds:
            session = voice.sessions[g]
            assert not session.streams and not session.queue.clips
        gc.collect()
        assert not any(r() for r in refs), "played clips are released: memory does not grow with clips played"
    finally:
        await bot.stop()
        await server.stop()
        await fake.stop()
        Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


async def test_voice_channel_speech_uses_the_users_voice_choice(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService
) -> None:
    """``/voice rate 1.6`` (stored by the pipeline) makes the bot speak faster in the voice channel too."""
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    # what bots/adapters.py wires in: the pipeline's settings store
    bot.adapter.voice.voice_of = voice_of_store(bot.pipeline.services.settings, bot.pipeline.services.name)
    text = "My voice follows the choice you made with the voice command."
    try:
        assert await command(fake, "voice", setting="rate 1.6") == "I'll speak to you at rate 1.6."
        await joined(fake, server)
        await command(fake, "say", text=text)
        packets = await played(bot, server)
    finally:
        await bot.stop()
    base = bot.adapter.voice.settings
    normal = loud_frames(await reference(speech, text, base))
    fast = loud_frames(await reference(speech, text, replace(base, rate=1.6)))
    assert fast < normal * 0.8
    assert abs(len(loud(packets)) - fast) <= max(3, fast // 10), (len(loud(packets)), fast, normal)


async def test_rejoin_refused_4017_leaves_and_explains_in_the_channel(
    world: tuple[FakeDiscord, FakeVoiceServer], speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discord.voice_state import VoiceConnectionState

    monkeypatch.setattr(voice_module, "REJOIN_AFTER_S", 0.3)
    fake, server = world
    bot = await start_bot(fake, speech=speech)
    bot.adapter.voice.tick_s = 0.1
    try:
        await joined(fake, server)
        server.require_dave = True  # Discord now insists on DAVE, and the client (as if old) offers none
        monkeypatch.setattr(VoiceConnectionState, "max_dave_protocol_version", property(lambda self: 0))
        await server.close(GUILD, 4006)
        await until(lambda: GUILD not in bot.adapter.voice.sessions, 30)
        notes = await fake.wait_for(lambda: [m.json["content"] for m in fake.messages(GENERAL)])
        expected = f"I lost the voice connection and could not rejoin: {DAVE_HELP.rstrip('.')}. Use /join to try again."
        assert notes == [expected]
        assert server.live(GUILD) is None
    finally:
        await bot.stop()
