"""The final handler: ask the engine, stream the answer, remember it, speak it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

from core import metrics
from core.engine import Conversation
from core.errors import EngineError, EngineTimeout, NoAnswer, SpeechError
from core.language import guess_language
from core.model import ReplyDelta, ReplyDone, ReplyVoice, ReplyVoiceFailed, Turn, VoiceClip, new_reply_id
from core.pipeline.context import Context
from core.pipeline.listen import transcript_of
from core.pipeline.voiceprefs import resolve as voice_settings
from core.speech import VoiceSettings

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side and I couldn't answer. Please try again."
NO_ANSWER = "I'm not sure what to say to that. Could you put it another way?"
CUT_SHORT = " … (sorry, I lost my train of thought)"


async def _timed(stream: AsyncIterator[str], timeout_s: float) -> AsyncIterator[str]:
    """Yield from ``stream`` but raise TimeoutError once ``timeout_s`` has passed in total."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aclosing(stream):  # type: ignore[type-var]
        while True:
            try:
                # not asyncio.wait_for: it runs each step in a task of its own, and the StopAsyncIteration
                # ending the stream then leaves a reference cycle (task, exception, traceback, frames) per reply
                async with asyncio.timeout_at(deadline):
                    piece = await anext(stream)
            except StopAsyncIteration:
                return
            yield piece


async def answer(ctx: Context) -> None:
    """Answer ``ctx.message`` with the bot's engine."""
    services = ctx.services
    message = ctx.message
    language = message.language or guess_language(message.text, services.persona.language)
    history = await ctx.history()
    conversation = Conversation(
        text=message.text,
        turns=tuple(history),
        persona=services.persona,
        language=language,
        chat_key=message.chat_key,
        message=message,
        # "facts" may be {} (none known): read again only when no middleware put them there
        facts=ctx.state["facts"] if "facts" in ctx.state else await ctx.facts(),
    )
    await ctx.action("typing")
    target = ctx.target
    reply_id = new_reply_id()
    parts: list[str] = []
    # Pieces not sent yet. The first piece waits for a second before we call it a stream; after the
    # first delta, pieces are coalesced to one delta per ``stream_interval_s`` (a model yielding a
    # token every 2 ms would otherwise cost a bus event, and across processes a Redis round trip, each).
    unsent: list[str] = []
    interval = services.config.stream_interval_s
    last_sent = 0.0
    seq = 0
    failure = ""
    bot = services.name
    started = time.perf_counter()
    try:
        stream = services.engine.reply(conversation)
        async for piece in _timed(stream, services.config.engine_timeout_s):
            if not piece:
                continue
            parts.append(piece)
            unsent.append(piece)
            now = time.perf_counter()
            if len(parts) >= 2 and (seq == 0 or now - last_sent >= interval):
                await ctx.bus.send(ReplyDelta(reply_id, target, seq, "".join(unsent)))
                seq += 1
                unsent.clear()
                last_sent = now
    except NoAnswer as exc:
        log.info("no engine could answer %s: %s", message.key, exc)
        failure = "no-answer"
        metrics.ERRORS.labels(bot, "no_answer").inc()
    except (TimeoutError, EngineError) as exc:
        log.exception("engine failed on %s", message.key)
        failure = "error"
        timed_out = isinstance(exc, (TimeoutError, EngineTimeout))
        metrics.ERRORS.labels(bot, "engine_timeout" if timed_out else "engine").inc()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("engine crashed on %s", message.key)
        failure = "error"
        metrics.ERRORS.labels(bot, "engine").inc()
    metrics.STAGE.labels(bot, "engine").observe(time.perf_counter() - started)
    if seq and unsent:  # the deltas of a streamed reply add up to its text (a voice channel speaks them)
        await ctx.bus.send(ReplyDelta(reply_id, target, seq, "".join(unsent)))
        seq += 1

    text = "".join(parts).strip()
    notice = False
    if not text:
        text = NO_ANSWER if failure == "no-answer" else APOLOGY
        notice = True
    elif failure:
        text += CUT_SHORT
    sources = tuple(dict.fromkeys(conversation.citations)) if not notice else ()
    if sources:
        log.info("reply to %s cites %s", message.key, ", ".join(sources))
    done = ReplyDone(reply_id, target, text, streamed=seq > 0, notice=notice, sources=sources)
    if notice:
        await ctx.bus.send(done)
        ctx.answered = True
    else:
        remember = services.conversations.appending(
            message.chat_key,
            Turn("user", message.text, at=message.timestamp, author=message.author.display_name),
            Turn("bot", text, author=services.persona.name),
        )
        # A bus that can (Redis, stores on the same server) lands the reply and its memory together,
        # and the end of the message too when no voice note can follow.
        ends = ctx.ends if services.speech is None else None
        carried = await ctx.bus.send_with(done, remember, ends)
        ctx.answered = True
        if not carried:
            await remember.run()
    if services.speech is not None and not notice:
        settings = await voice_settings(ctx, language)
        if not settings.enabled and transcript_of(ctx) is not None and services.config.listen.voice_reply:
            settings = replace(settings, enabled=True)  # voice in, voice out
        if settings.enabled:
            await speak(ctx, reply_id, text, settings)


async def speak(ctx: Context, reply_id: str, text: str, settings: VoiceSettings) -> None:
    """Send a voice note of ``text``; on failure log the reason (the text was already sent)."""
    assert ctx.services.speech is not None
    await ctx.action("record_voice")
    bot = ctx.services.name
    started = time.perf_counter()
    clip: VoiceClip | None = None
    failure = "error"
    try:
        clip = await asyncio.wait_for(
            ctx.services.speech.voice_note(text, settings), ctx.services.config.voice_timeout_s
        )
    except TimeoutError:
        failure = "timeout"
        log.warning("voice note for %s timed out after %.0fs; text only", ctx.message.key, ctx.services.config.voice_timeout_s)
    except SpeechError as exc:
        log.warning("voice note for %s failed: %s; text only", ctx.message.key, exc)
    metrics.STAGE.labels(bot, "tts").observe(time.perf_counter() - started)
    if clip is None:
        metrics.ERRORS.labels(bot, "tts").inc()
        await ctx.bus.send(ReplyVoiceFailed(reply_id, ctx.target, failure))
        return
    await ctx.bus.send(ReplyVoice(reply_id, ctx.target, clip, text))
