"""A private chat end to end: text in, text out, a real (Piper) voice note out that decodes as OGG/Opus."""

from __future__ import annotations

import logging
import subprocess

import imageio_ffmpeg

from core.speech import VoiceSettings
from tests.adapters.telegram.conftest import PacedEngine
from tests.adapters.telegram.fake_bot_api import BOT_ID


def ogg_duration(data: bytes) -> float:
    """Duration of an OGG/Opus stream from its last page's granule position (48 kHz) minus pre-skip."""
    assert data[:4] == b"OggS"
    head = data.find(b"OpusHead")
    assert head > 0
    pre_skip = int.from_bytes(data[head + 10 : head + 12], "little")
    last = data.rfind(b"OggS")
    granule = int.from_bytes(data[last + 6 : last + 14], "little")
    return (granule - pre_skip) / 48000


def decode_pcm_seconds(data: bytes) -> float:
    """Decode with ffmpeg to 48 kHz mono s16 and measure the PCM's length."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1"]
    pcm = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
    return len(pcm) / 2 / 48000


async def test_start_registers_commands_and_logs_in(bot_factory, api):
    async with bot_factory() as h:
        assert h.adapter.me is not None and h.adapter.me.id == BOT_ID
        commands = api.answered("setMyCommands")[0].params["commands"]
        assert {c["command"] for c in commands} >= {"start", "help", "reset", "voice", "voices"}
        assert api.answered("deleteWebhook"), "polling mode must clear a webhook first"


async def test_private_text_reply(bot_factory, api):
    async with bot_factory():
        api.inject_message(501, "hello <there> & you")
        await api.wait_for(lambda: api.answered("sendMessage", 501))
        call = api.answered("sendMessage", 501)[0]
        assert call.params["parse_mode"] == "HTML"
        assert "reply_parameters" not in call.params  # no reply-to in private chats
        assert api.texts(501) == ["hello <there> & you"]
        assert not api.answered("sendChatAction", 501), "typing right before the reply is skipped"


async def test_typing_shown_while_a_slow_engine_generates(bot_factory, api):
    async with bot_factory(engine=PacedEngine(0.2), stream={"enabled": False}):
        api.inject_message(507, "slow slow words")
        await api.wait_for(lambda: api.texts(507) == ["slow slow words"])
        actions = api.answered("sendChatAction", 507)
        assert actions and actions[0].params["action"] == "typing"
        assert actions[0].at < api.answered("sendMessage", 507)[0].at


async def test_private_voice_note_is_ogg_opus_with_duration(bot_factory, api, speech):
    text = "this reply is spoken by the real voice in a few seconds"
    async with bot_factory(speech=speech, voice_by_default=True, chat_action_delay_s=0):
        api.inject_message(502, text)
        await api.wait_for(lambda: api.answered("sendVoice", 502), timeout=20)
        methods = [c.method for c in api.answered(chat_id=502)]
        assert methods.index("sendMessage") < methods.index("sendVoice"), "text goes first"
        assert "record_voice" in [c.params.get("action") for c in api.answered("sendChatAction", 502)]
        voice = api.answered("sendVoice", 502)[0]
        upload = voice.files["voice"]
    clip = await speech.voice_note(text, VoiceSettings())  # the same clip, from the service's cache
    assert clip.engine == "piper" and clip.voice == "joe"
    assert upload.data == clip.data, "the voice note is uploaded as synthesized"
    assert upload.data[:4] == b"OggS" and b"OpusHead" in upload.data[:200]
    assert 2.0 < clip.duration_s < 8.0, "12 spoken words"
    assert abs(ogg_duration(upload.data) - clip.duration_s) < 0.1
    assert abs(decode_pcm_seconds(upload.data) - clip.duration_s) < 0.1
    assert voice.params["duration"] == round(clip.duration_s)


async def test_voice_forbidden_skips_voice_and_keeps_text(bot_factory, api, caplog, speech):
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    api.voice_forbidden.add(503)
    async with bot_factory(speech=speech, voice_by_default=True) as h:
        api.inject_message(503, "short words")
        await api.wait_for(lambda: [c for c in api.calls if c.method == "sendVoice"], timeout=20)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(5)
    assert api.texts(503) == ["short words"]
    assert not api.answered("sendAudio") and not api.answered("sendDocument")
    assert "refuses voice notes" in caplog.text


async def test_voice_over_one_megabyte_goes_as_audio(bot_factory, api, speech):
    async with bot_factory(speech=speech, voice_by_default=True, voice_note_max_bytes=1000):
        api.inject_message(504, "a long enough reply to make a clip")
        await api.wait_for(lambda: api.answered("sendAudio", 504), timeout=20)
        assert not [c for c in api.calls if c.method == "sendVoice"]
        assert api.answered("sendAudio", 504)[0].files["audio"].data[:4] == b"OggS"


async def test_voice_refused_falls_back_to_document(bot_factory, api, speech):
    api.fail_next("error", 1, {"sendVoice"}, code=400, description="Bad Request: wrong file type")
    api.fail_next("error", 1, {"sendAudio"}, code=400, description="Bad Request: wrong file type")
    async with bot_factory(speech=speech, voice_by_default=True):
        api.inject_message(505, "fall back please")
        await api.wait_for(lambda: api.answered("sendDocument", 505), timeout=20)


async def test_voice_in_attachment_is_fetched_lazily(bot_factory, api):
    received = []

    from core.engine import Conversation, DialogueEngine

    class AudioEngine(DialogueEngine):
        async def reply(self, conversation: Conversation):  # type: ignore[override]
            attachment = conversation.message.attachments[0]
            received.append(attachment)
            data = await attachment.read()
            yield f"got {len(data)} bytes"

    api.add_file("VOICE1", b"OggS-fake-voice-bytes", "voice/file_1.oga")
    async with bot_factory(engine=AudioEngine()):
        api.inject_message(506, None, voice={"file_id": "VOICE1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg", "file_size": 21})
        await api.wait_for(lambda: api.answered("sendMessage", 506))
        assert api.texts(506) == ["got 21 bytes"]
        attachment = received[0]
        assert attachment.kind.value == "audio" and attachment.data is None and attachment.duration_s == 3
        assert api.answered("getFile")
