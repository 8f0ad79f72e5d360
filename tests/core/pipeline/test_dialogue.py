"""The dialogue handler's metrics: engine and voice-note stages, and their failures by kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from core.errors import NoAnswer, SpeechError
from core.model import ChatAction, ReplyDone, ReplyVoice, ReplyVoiceFailed, VoiceClip
from core.pipeline.dialogue import APOLOGY, NO_ANSWER
from core.speech import Speech, VoiceSettings
from tests.harness import Harness, ScriptedEngine, message, metric, with_settings


class FakeSpeech(Speech):
    """Speaks every reply as a tiny clip, or fails, or hangs: a fake that subclasses the contract."""

    def __init__(self, error: Exception | None = None, hang: bool = False) -> None:
        self.error = error
        self.hang = hang

    async def voice_note(self, text: str, settings: VoiceSettings) -> VoiceClip:
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        return VoiceClip(b"OggS", "audio/ogg", 0.5)

    async def voice_channel_frames(self, text: AsyncIterator[str], settings: VoiceSettings) -> AsyncIterator[bytes]:
        raise SpeechError("not used here")
        yield b""  # pragma: no cover


def errors(kind: str) -> float:
    return metric("bot_errors_total", bot="testbot", kind=kind)


def stage_count(stage: str) -> float:
    return metric("bot_stage_seconds_count", bot="testbot", stage=stage)


async def test_engine_stage_is_timed_for_the_whole_stream() -> None:
    count = stage_count("engine")
    total = metric("bot_stage_seconds_sum", bot="testbot", stage="engine")
    async with Harness([ScriptedEngine(["a ", "b ", "c"], delay_s=0.05)]) as h:
        await h.send(message("go"))
    assert h.texts() == ["a b c"]
    assert stage_count("engine") == count + 1
    assert metric("bot_stage_seconds_sum", bot="testbot", stage="engine") - total >= 0.14


async def test_engine_failures_are_counted_by_kind() -> None:
    before = {kind: errors(kind) for kind in ("engine", "no_answer", "engine_timeout")}
    count = stage_count("engine")
    async with Harness([ScriptedEngine([], error=RuntimeError("boom"))]) as h:
        await h.send(message("x"))
    async with Harness([ScriptedEngine([], error=NoAnswer("nothing"))]) as h2:
        await h2.send(message("y"))
    async with Harness([ScriptedEngine(hang=True)], settings=with_settings(engine_timeout_s=0.2)) as h3:
        await h3.send(message("z"))
    assert (h.texts(), h2.texts(), h3.texts()) == ([APOLOGY], [NO_ANSWER], [APOLOGY])
    assert errors("engine") == before["engine"] + 1
    assert errors("no_answer") == before["no_answer"] + 1
    assert errors("engine_timeout") == before["engine_timeout"] + 1
    assert stage_count("engine") == count + 3


async def test_voice_note_is_timed_as_the_tts_stage() -> None:
    count, failed = stage_count("tts"), errors("tts")
    voice_on = with_settings(voice_by_default=True)
    async with Harness([ScriptedEngine(["spoken"])], speech=FakeSpeech(), settings=voice_on) as h:
        await h.send(message("talk"))
    assert any(isinstance(e, ReplyVoice) for e in h.events)
    assert stage_count("tts") == count + 1
    assert errors("tts") == failed


async def test_voice_note_failure_and_timeout_count_as_tts_errors() -> None:
    count, failed = stage_count("tts"), errors("tts")
    voice_on = with_settings(voice_by_default=True, voice_timeout_s=0.1)
    failing = FakeSpeech(error=SpeechError("no voice"))
    async with Harness([ScriptedEngine(["a"])], speech=failing, settings=voice_on) as h:
        await h.send(message("one"))
    async with Harness([ScriptedEngine(["b"])], speech=FakeSpeech(hang=True), settings=voice_on) as h2:
        await h2.send(message("two"))
    assert (h.texts(), h2.texts()) == (["a"], ["b"])
    assert not any(isinstance(e, ReplyVoice) for e in h.events + h2.events)
    assert errors("tts") == failed + 2
    assert stage_count("tts") == count + 2


async def test_failed_or_timed_out_voice_note_sends_reply_voice_failed_after_the_text() -> None:
    voice_on = with_settings(voice_by_default=True, voice_timeout_s=0.1)
    async with Harness([ScriptedEngine(["a"])], speech=FakeSpeech(error=SpeechError("no voice")), settings=voice_on) as h:
        await h.send(message("one"))
    async with Harness([ScriptedEngine(["b"])], speech=FakeSpeech(hang=True), settings=voice_on) as h2:
        await h2.send(message("two"))
    for harness, reason in ((h, "error"), (h2, "timeout")):
        kinds = [type(e).__name__ for e in harness.events if not isinstance(e, ChatAction)]
        assert kinds[-2:] == ["ReplyDone", "ReplyVoiceFailed"], kinds
        done, failed = [e for e in harness.events if isinstance(e, ReplyDone | ReplyVoiceFailed)][-2:]
        assert isinstance(failed, ReplyVoiceFailed) and failed.reply_id == done.reply_id and failed.reason == reason
