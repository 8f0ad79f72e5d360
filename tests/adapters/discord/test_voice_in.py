"""Voice in on Discord: a real Piper voice message through the fake Discord, real faster-whisper, real answers."""

from __future__ import annotations

import base64
from pathlib import Path

from adapters.discord.voice_message import IS_VOICE_MESSAGE
from core.engines.faq import FaqEngine
from tests.adapters.discord.conftest import ALICE, DM, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.spoken import voice_note, wer

FAQ = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"
HOURS = "Support is staffed Monday to Friday, 9:00 to 18:00 (UTC). Outside those hours this bot answers."


def contents(fake: FakeDiscord, channel: int) -> list[str]:
    return [s.json["content"] for s in fake.messages(channel) if s.json and s.json.get("content")]


async def test_voice_message_question_is_answered_from_the_knowledge_base_by_voice(fake, speech, listener) -> None:
    note = await voice_note(speech, "What are your opening hours?")
    faq = FaqEngine(FAQ, threshold=0.45)
    await faq.start()
    bot = await start_bot(fake, engine=faq, speech=speech, listener=listener)
    try:
        voice = fake.attachment("voice-message.ogg", note, "audio/ogg", duration_secs=1.6,
                                waveform=base64.b64encode(bytes(16)).decode())
        await fake.message(DM, ALICE, "", attachments=[voice], flags=IS_VOICE_MESSAGE)
        await fake.wait_for(lambda: any(s.json and s.json.get("flags") == IS_VOICE_MESSAGE for s in fake.messages(DM)),
                            timeout=30)
    finally:
        await bot.stop()
    heard, answer = contents(fake, DM)[:2]
    assert heard.startswith("🎙 heard: ") and wer("What are your opening hours?", heard.removeprefix("🎙 heard: ")) <= 0.25
    assert answer == HOURS


async def test_audio_attachment_is_heard_and_garbage_gets_a_notice(fake, speech, listener) -> None:
    note = await voice_note(speech, "How do I cancel my subscription?")
    bot = await start_bot(fake, listener=listener)
    try:
        await fake.message(DM, ALICE, "", attachments=[fake.attachment("question.ogg", note, "audio/ogg")])
        await fake.wait_for(lambda: len(contents(fake, DM)) >= 2, timeout=30)
        await fake.message(DM, ALICE, "", attachments=[fake.attachment("broken.mp3", b"ID3 not really" * 30, "audio/mpeg")])
        await fake.wait_for(lambda: len(contents(fake, DM)) >= 3, timeout=30)
    finally:
        await bot.stop()
    heard, echoed, notice = contents(fake, DM)[:3]
    assert wer("How do I cancel my subscription?", heard.removeprefix("🎙 heard: ")) <= 0.25
    assert "subscription" in echoed.lower()
    assert notice.startswith("Sorry, I couldn't read that audio")
