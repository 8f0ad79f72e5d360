"""Voice in on Telegram: real Piper voice notes through the fake Bot API, real faster-whisper, real answers."""

from __future__ import annotations

from pathlib import Path

from core.engines.faq import FaqEngine
from tests.spoken import video_note, voice_note, wer

FAQ = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"
HOURS = "Support is staffed Monday to Friday, 9:00 to 18:00 (UTC). Outside those hours this bot answers."


def voice_json(file_id: str, data: bytes, seconds: int = 2) -> dict[str, object]:
    return {"file_id": file_id, "file_unique_id": f"u{file_id}", "duration": seconds, "mime_type": "audio/ogg",
            "file_size": len(data)}


async def test_spoken_question_is_answered_from_the_knowledge_base_with_a_voice_note(bot_factory, api, speech, listener) -> None:
    note = await voice_note(speech, "What are your opening hours?")
    api.add_file("Q1", note, "voice/file_1.oga")
    faq = FaqEngine(FAQ, threshold=0.45)
    await faq.start()  # the factory starts the pipeline, not the engine
    async with bot_factory(engine=faq, speech=speech, listener=listener):
        api.inject_message(601, None, voice=voice_json("Q1", note))
        await api.wait_for(lambda: api.answered("sendVoice", 601), timeout=30)
    texts = api.texts(601)
    assert len(texts) == 2, texts
    assert texts[0].startswith("🎙 heard: ") and wer("What are your opening hours?", texts[0].removeprefix("🎙 heard: ")) <= 0.25
    assert texts[1] == HOURS, "the answer comes from the knowledge base, not 'I'm not sure'"
    voice = api.answered("sendVoice", 601)[0].files["voice"].data
    assert voice[:4] == b"OggS", "voice in -> voice out"


async def test_audio_file_and_video_note_are_heard(bot_factory, api, speech, listener) -> None:
    note = await voice_note(speech, "How do I reset my password?")
    mp4 = video_note(note)
    api.add_file("A1", note, "music/file_2.ogg")
    api.add_file("V1", mp4, "video_notes/file_3.mp4")
    async with bot_factory(speech=speech, listener=listener):
        api.inject_message(602, None, audio={**voice_json("A1", note), "file_name": "question.ogg"})
        api.inject_message(603, None, video_note={"file_id": "V1", "file_unique_id": "uV1", "length": 240,
                                                  "duration": 2, "file_size": len(mp4)})
        await api.wait_for(lambda: len(api.texts(602)) >= 2 and len(api.texts(603)) >= 2, timeout=40)
    for chat in (602, 603):
        heard, answer = api.texts(chat)[:2]
        assert wer("How do I reset my password?", heard.removeprefix("🎙 heard: ")) <= 0.25, heard
        assert "password" in answer.lower()  # the echo engine repeats the transcript


async def test_bad_audio_and_a_failed_download_get_short_notices(bot_factory, api, listener) -> None:
    api.add_file("BAD", b"\x00garbage, not a voice note" * 20, "voice/file_4.oga")
    async with bot_factory(listener=listener):
        api.inject_message(604, None, voice=voice_json("BAD", b"x" * 540))
        api.inject_message(605, None, voice=voice_json("MISSING", b"x" * 540))  # getFile answers 400
        api.inject_message(606, None, voice={**voice_json("LONG", b"x" * 540), "duration": 600})
        await api.wait_for(lambda: all(api.texts(c) for c in (604, 605, 606)), timeout=20)
    assert api.texts(604) == [
        "Sorry, I couldn't read that audio (broken file or unsupported format). Could you try again, or type your message?"
    ]
    assert api.texts(605) == ["Sorry, I couldn't download that recording. Please try sending it again."]
    assert "too long" in api.texts(606)[0]
    assert not [c for c in api.answered("getFile") if c.params.get("file_id") == "LONG"], "not downloaded"
