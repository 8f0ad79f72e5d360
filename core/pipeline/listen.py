"""Spoken messages: the transcript of a voice note or audio file becomes the message text.

:class:`Transcribe` runs before the commands, so commands, the knowledge base, the engines
and memory all work on speech; the audio attachment stays on the message for engines and
plugins. Unusable audio (silent, broken, too long, too large, not downloadable) gets one
short notice and a log line saying why; nothing else happens for that message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from core import metrics
from core.model import Attachment, AttachmentKind, ReplyDone, new_reply_id
from core.pipeline.context import Context
from core.pipeline.middleware import Handler, Middleware
from core.stt import (
    AudioTooLarge,
    AudioTooLong,
    AudioUnavailable,
    BadAudio,
    ListenSettings,
    SpeechToText,
    Transcript,
    TranscriptionError,
)

log = logging.getLogger(__name__)

#: ``ctx.state`` key of the :class:`core.stt.Transcript` of a spoken message
TRANSCRIPT = "transcript"
HEARD_PREFIX = "🎙 heard: "
DOWNLOAD_FAILED = "Sorry, I couldn't download that recording. Please try sending it again."
CANNOT_LISTEN = "Sorry, I can't listen to recordings right now. Please type your message instead."


def spoken_audio(ctx: Context) -> Attachment | None:
    """The recording to transcribe: the first audio attachment of a message without text."""
    m = ctx.message
    if m.text.strip():
        return None
    return next((a for a in m.attachments if a.kind is AttachmentKind.AUDIO), None)


def transcript_of(ctx: Context) -> Transcript | None:
    """The transcript when the message was spoken."""
    value = ctx.state.get(TRANSCRIPT)
    return value if isinstance(value, Transcript) else None


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class Transcribe(Middleware):
    """Turns a spoken message into text (does nothing without a listener or for typed messages)."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        listener = ctx.services.listener
        settings = ctx.services.config.listen
        audio = spoken_audio(ctx)
        if listener is None or not settings.enabled or audio is None:
            await handler(ctx)
            return
        bot = ctx.services.name
        try:
            transcript = await self._transcribe(listener, audio, settings)
        except BadAudio as exc:
            log.info("spoken message %s not transcribed: %s", ctx.message.key, exc)
            metrics.ERRORS.labels(bot, "stt_bad_audio").inc()
            await ctx.reply(self._bad_audio_notice(exc, audio, settings), notice=True)
            return
        except AudioUnavailable as exc:
            log.warning("spoken message %s not downloaded: %s", ctx.message.key, exc)
            metrics.ERRORS.labels(bot, "stt_download").inc()
            await ctx.reply(DOWNLOAD_FAILED, notice=True)
            return
        except TranscriptionError as exc:
            log.error("spoken message %s not transcribed: %s", ctx.message.key, exc)
            metrics.ERRORS.labels(bot, "stt").inc()
            await ctx.reply(CANNOT_LISTEN, notice=True)
            return
        metrics.STAGE.labels(bot, "stt").observe(transcript.elapsed_s)
        log.info(
            "heard %s: %.1f s of %s speech in %.0f ms (%s)",
            ctx.message.key,
            transcript.duration_s,
            transcript.language or "?",
            transcript.elapsed_s * 1000,
            transcript.engine,
        )
        ctx.state[TRANSCRIPT] = transcript
        ctx.message = replace(ctx.message, text=transcript.text, language=transcript.language or ctx.message.language)
        if settings.show_transcript:
            # Not ctx.reply: the heard line is not the answer (a failure after it still gets an apology).
            heard = ReplyDone(
                new_reply_id(), ctx.target, f"{HEARD_PREFIX}“{transcript.text}”", notice=True, heard=True,
                transcript=transcript.text,
            )
            await ctx.bus.send(heard)
        await handler(ctx)

    async def _transcribe(self, listener: SpeechToText, audio: Attachment, settings: ListenSettings) -> Transcript:
        if audio.size is not None and audio.size > settings.max_bytes:
            raise AudioTooLarge(f"{audio.size:,} bytes (limit {settings.max_bytes:,}), not downloaded")
        if audio.duration_s is not None and audio.duration_s > settings.max_duration_s + 0.5:
            raise AudioTooLong(f"{audio.duration_s:.1f} s (limit {settings.max_duration_s:g} s), not downloaded")
        try:
            data = await asyncio.wait_for(audio.read(), settings.download_timeout_s)
        except TimeoutError as exc:
            raise AudioUnavailable(f"download took over {settings.download_timeout_s:g} s") from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise AudioUnavailable(f"download failed: {type(exc).__name__}: {exc}") from exc
        if len(data) > settings.max_bytes:
            raise AudioTooLarge(f"{len(data):,} bytes (limit {settings.max_bytes:,})")
        return await listener.transcribe(data, max_duration_s=settings.max_duration_s)

    @staticmethod
    def _bad_audio_notice(exc: BadAudio, audio: Attachment, settings: ListenSettings) -> str:
        if isinstance(exc, AudioTooLong):
            return f"Sorry, {exc.reason}: the limit is {_minutes(settings.max_duration_s)} minutes. Could you send a shorter one?"
        if isinstance(exc, AudioTooLarge):
            return f"Sorry, {exc.reason}: the limit is {settings.max_bytes / 1_048_576:g} MB."
        return f"Sorry, {exc.reason}. Could you try again, or type your message?"
