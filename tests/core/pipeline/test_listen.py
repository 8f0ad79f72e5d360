"""Spoken messages through a real pipeline: real Piper speech in, real faster-whisper transcription.

The transcript becomes the message text (commands and engines see it), the user is told what
was heard, a spoken message gets a spoken reply, and every kind of bad audio gets one short
notice and a logged reason while the engine is never asked.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from core.model import Attachment, AttachmentKind, IncomingMessage, ReplyVoice
from core.pipeline.listen import CANNOT_LISTEN, DOWNLOAD_FAILED, HEARD_PREFIX
from core.stt import ListenSettings
from tests.harness import Harness, ScriptedEngine, message, with_settings
from tests.spoken import noise_ogg, silence_ogg, voice_note, wer


def spoken(data: bytes | None = None, *, fetch=None, size: int | None = None, duration_s: float | None = None,  # type: ignore[no-untyped-def]
           mime: str = "audio/ogg") -> IncomingMessage:
    audio = Attachment(AttachmentKind.AUDIO, mime, data=data, fetch=fetch, size=size, duration_s=duration_s)
    return replace(message(""), attachments=(audio,))


class EchoingEngine(ScriptedEngine):
    """Answers with what it was told, so the test sees the text the engine got."""

    async def reply(self, conversation):  # type: ignore[no-untyped-def, override]
        self.seen.append(conversation)
        yield f"you said: {conversation.text}"


def listen(**changes: object):  # type: ignore[no-untyped-def]
    return with_settings(listen=replace(ListenSettings(), **changes))  # type: ignore[arg-type]


async def test_transcript_becomes_the_message_text_and_is_shown_and_spoken(speech, listener) -> None:
    note = await voice_note(speech, "How do I reset my password?")
    engine = EchoingEngine()
    async with Harness([engine], speech=speech, listener=listener) as h:
        await h.send(spoken(note))
    heard = [d for d in h.done() if d.heard]
    assert len(heard) == 1 and heard[0].text.startswith(HEARD_PREFIX) and heard[0].notice
    assert wer("How do I reset my password?", heard[0].transcript) <= 0.2
    seen = engine.seen[0]
    assert seen.text == heard[0].transcript and seen.language == "en"
    assert seen.message.attachments[0].data == note, "the recording stays available to engines"
    answer = [d for d in h.done() if not d.heard]
    assert answer[0].text == f"you said: {seen.text}" and not answer[0].notice
    voices = [e for e in h.events if isinstance(e, ReplyVoice)]
    assert len(voices) == 1 and voices[0].reply_id == answer[0].reply_id, "voice in -> voice out, /voice being off"


async def test_spoken_command_is_not_run_but_a_typed_message_is_untouched(speech, listener) -> None:
    engine = EchoingEngine()
    async with Harness([engine], speech=speech, listener=listener) as h:
        await h.send(message("typed words"))
    assert [d.text for d in h.done()] == ["you said: typed words"]
    assert not [e for e in h.events if isinstance(e, ReplyVoice)], "typed in, text out (voice off)"


async def test_voice_reply_and_heard_line_can_be_switched_off(speech, listener) -> None:
    note = await voice_note(speech, "What are your opening hours?")
    async with Harness([EchoingEngine()], settings=listen(show_transcript=False, voice_reply=False),
                       speech=speech, listener=listener) as h:
        await h.send(spoken(note))
    assert len(h.done()) == 1 and not h.done()[0].heard and "open" in h.done()[0].text.lower()
    assert not [e for e in h.events if isinstance(e, ReplyVoice)]


async def test_listening_disabled_passes_the_audio_on_untranscribed(speech, listener) -> None:
    note = await voice_note(speech, "Hello there.")
    engine = EchoingEngine()
    async with Harness([engine], settings=listen(enabled=False), listener=listener) as h:
        await h.send(spoken(note))
    assert engine.seen[0].text == "" and engine.seen[0].message.attachments


async def _bad(listener, msg: IncomingMessage, caplog, settings=None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    engine = EchoingEngine()
    caplog.set_level(logging.INFO, logger="core.pipeline.listen")
    async with Harness([engine], settings=settings, listener=listener) as h:
        await h.send(msg)
    assert engine.seen == [], "bad audio never reaches the engine"
    assert len(h.done()) == 1 and h.done()[0].notice and not h.done()[0].heard
    return h.done()[0].text, caplog.text


async def test_empty_recording_gets_a_notice(listener, caplog) -> None:
    text, logged = await _bad(listener, spoken(b""), caplog)
    assert "couldn't hear any speech" in text and "empty (0 bytes)" in logged


async def test_silent_recording_gets_a_notice(listener, caplog) -> None:
    text, logged = await _bad(listener, spoken(silence_ogg(4)), caplog)
    assert "couldn't hear any speech" in text and "silence" in logged


async def test_noise_without_speech_gives_no_invented_words(listener, caplog) -> None:
    text, logged = await _bad(listener, spoken(noise_ogg(6)), caplog)
    assert "couldn't hear any speech" in text and "heard no words" in logged


async def test_garbage_bytes_get_a_notice(listener, caplog) -> None:
    text, logged = await _bad(listener, spoken(b"\x00\x01not audio at all" * 50), caplog)
    assert "couldn't read that audio" in text and "cannot decode" in logged


async def test_unsupported_codec_gets_a_notice(listener, caplog) -> None:
    import struct

    # A well-formed WAV header naming a codec (format tag 0x7777) that no decoder knows.
    body = bytes(range(256)) * 64
    fmt = struct.pack("<HHIIHH", 0x7777, 1, 16000, 32000, 2, 16)
    wav = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    wav += b"data" + struct.pack("<I", len(body)) + body
    text, logged = await _bad(listener, spoken(wav, mime="audio/wav"), caplog)
    assert "couldn't read that audio" in text and "cannot decode" in logged


async def test_too_long_by_metadata_is_refused_before_downloading(listener, caplog) -> None:
    fetched: list[int] = []

    async def fetch() -> bytes:
        fetched.append(1)
        return b""

    text, logged = await _bad(listener, spoken(fetch=fetch, duration_s=600.0), caplog)
    assert "too long" in text and "2:00 minutes" in text and "not downloaded" in logged
    assert fetched == []


async def test_too_long_by_content_is_refused(speech, listener, caplog) -> None:
    note = await voice_note(speech, "This sentence takes a few seconds to say out loud.")
    text, logged = await _bad(listener, spoken(note), caplog, settings=listen(max_duration_s=1.0))
    assert "too long" in text and "0:01" in text and "longer than the 1 s limit" in logged


async def test_too_large_is_refused_by_size_and_by_content(listener, caplog) -> None:
    text, logged = await _bad(listener, spoken(fetch=None, data=b"x", size=50_000_000), caplog)
    assert "too large" in text and "20 MB" in text and "not downloaded" in logged
    text, _ = await _bad(listener, spoken(b"x" * 2000), caplog, settings=listen(max_bytes=1000))
    assert "too large" in text


async def test_failed_and_slow_downloads_get_a_notice(listener, caplog) -> None:
    async def broken() -> bytes:
        raise ConnectionError("platform said 502")

    text, logged = await _bad(listener, spoken(fetch=broken), caplog)
    assert text == DOWNLOAD_FAILED and "platform said 502" in logged

    async def slow() -> bytes:
        await asyncio.sleep(30)
        return b""

    text, logged = await _bad(listener, spoken(fetch=slow), caplog, settings=listen(download_timeout_s=0.2))
    assert text == DOWNLOAD_FAILED and "over 0.2 s" in logged


async def test_every_engine_down_gets_a_notice(speech, caplog) -> None:
    from voice.stt.config import OpenAISttConfig, SttConfig
    from voice.stt.service import build_listener

    note = await voice_note(speech, "Hello there.")
    down = build_listener(SttConfig(engines=[OpenAISttConfig(base_url="http://127.0.0.1:9/v1", retries=0, timeout_s=2)]))
    async with down:
        text, logged = await _bad(down, spoken(note), caplog)
    assert text == CANNOT_LISTEN and "every speech-to-text engine failed" in logged


async def test_spoken_answer_comes_from_the_knowledge_base(speech, listener) -> None:
    from pathlib import Path

    from core.engines.faq import FaqEngine

    faq = FaqEngine(Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml", threshold=0.45)
    note = await voice_note(speech, "What are your opening hours?")
    async with Harness([faq], speech=speech, listener=listener) as h:
        await h.send(spoken(note))
    answers = [d.text for d in h.done() if not d.heard]
    assert answers == ["Support is staffed Monday to Friday, 9:00 to 18:00 (UTC). Outside those hours this bot answers."]



def test_heard_line_survives_the_bus_codec() -> None:
    from core.codec import decode_event, encode_event
    from core.model import Chat, ChatKind, ReplyDone, ReplyTarget

    event = ReplyDone("r1", ReplyTarget("tg", Chat("1", ChatKind.PRIVATE)), "🎙 heard: “hi”", notice=True, heard=True,
                      transcript="hi")
    assert decode_event(*encode_event(event)) == event
