"""The real discord.py client against the fake Discord: messages in, replies out, faults."""

from __future__ import annotations

import asyncio
import base64
import subprocess

import imageio_ffmpeg

from adapters.discord.voice_message import IS_VOICE_MESSAGE, fit_waveform
from core.speech import VoiceSettings
from tests.adapters.discord.conftest import ALICE, ANSWERS, DM, GENERAL, GUILD, OTHER_BOT, THREAD, start_bot
from tests.adapters.discord.fake_discord import BOT_ID, FakeDiscord, user
from voice.service import VoiceService

MENTION = user(BOT_ID, "voicebot", True)


def texts(fake: FakeDiscord, channel: int) -> list[str]:
    return [s.json["content"] for s in fake.messages(channel) if s.json and s.json.get("content")]


async def test_mention_gets_text_reply_and_real_voice_message(fake: FakeDiscord, speech: VoiceService) -> None:
    bot = await start_bot(fake, speech=speech, voice_by_default=True)
    try:
        msg = await fake.message(GENERAL, ALICE, f"<@{BOT_ID}> hello there @everyone", guild_id=GUILD, mentions=[MENTION])
        await fake.wait_for(lambda: len(fake.messages(GENERAL)) >= 2, timeout=20)
        text, voice = fake.messages(GENERAL)[:2]
        assert text.json["content"] == "hello there @\u200beveryone"
        assert text.json["allowed_mentions"]["parse"] == []
        assert str(text.json["message_reference"]["message_id"]) == msg["id"]
        assert voice.json["flags"] == IS_VOICE_MESSAGE and "content" not in voice.json
        assert any(s.path == f"/channels/{GENERAL}/typing" for s in fake.sent)
    finally:
        await bot.stop()
    clip = await speech.voice_note("hello there @everyone", VoiceSettings())  # the same clip, from the cache
    assert clip.engine == "piper" and clip.voice == "joe"
    (att,) = voice.json["attachments"]
    (field, name, ctype, data) = voice.files[0]
    assert field == "files[0]" and name == "voice-message.ogg" and ctype == "audio/ogg"
    assert data == clip.data, "the voice message carries the synthesized clip unchanged"
    assert data[:4] == b"OggS" and b"OpusHead" in data[:100]
    assert abs(att["duration_secs"] - clip.duration_s) < 0.001 and 0.8 < clip.duration_s < 5.0
    points = base64.b64decode(att["waveform"])
    assert points == fit_waveform(clip.waveform, clip.duration_s)  # the clip's own peaks, <= 1 per 100 ms
    assert 0 < len(points) <= min(256, int(clip.duration_s * 10)) and max(points) == 255 and min(points) < 200
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]
    probe = await asyncio.to_thread(subprocess.run, cmd, input=data, capture_output=True, check=False)
    assert probe.returncode == 0 and "Audio: opus" in probe.stderr.decode()
    assert abs(len(probe.stdout) / 2 / 48000 - att["duration_secs"]) < 0.1, "duration_secs matches the decoded audio"


async def test_voice_message_refused_falls_back_to_audio_file(fake: FakeDiscord, speech: VoiceService) -> None:
    fake.refuse_voice_messages = True
    bot = await start_bot(fake, speech=speech, voice_by_default=True)
    try:
        await fake.message(DM, ALICE, "speak")
        await fake.wait_for(lambda: any(s.files for s in fake.messages(DM) if s.json and not s.json.get("flags")),
                            timeout=20)
        fallback = [s for s in fake.messages(DM) if s.files][-1]
        assert fallback.files[0][1] == "reply.ogg" and fallback.files[0][3][:4] == b"OggS"
    finally:
        await bot.stop()


async def test_dm_thread_configured_channel_reply_and_ignored(fake: FakeDiscord) -> None:
    bot = await start_bot(fake)
    try:
        await fake.message(DM, ALICE, "in a dm")
        await fake.message(THREAD, ALICE, f"<@{BOT_ID}> in a thread", guild_id=GUILD, mentions=[MENTION])
        await fake.message(ANSWERS, ALICE, "no mention needed here", guild_id=GUILD)
        await fake.message(GENERAL, ALICE, "just chatting", guild_id=GUILD)
        await fake.message(GENERAL, OTHER_BOT, f"<@{BOT_ID}> bot talk", guild_id=GUILD, mentions=[MENTION])
        mine = await fake.message(GENERAL, user(BOT_ID, "voicebot", True), "my own words", guild_id=GUILD)
        mine["author"] = user(BOT_ID, "voicebot", True)
        await fake.message(GENERAL, ALICE, "replying to you", guild_id=GUILD, reply_to=mine)
        await fake.wait_for(lambda: texts(fake, DM) and texts(fake, THREAD) and texts(fake, ANSWERS)
                            and texts(fake, GENERAL))
        await asyncio.sleep(0.3)
        assert texts(fake, DM) == ["in a dm"]
        assert texts(fake, THREAD) == ["in a thread"]
        assert texts(fake, ANSWERS) == ["no mention needed here"]
        assert texts(fake, GENERAL) == ["replying to you"]  # not the chatter, the bot, or itself
    finally:
        await bot.stop()
