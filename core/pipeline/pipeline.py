"""The pipeline runner: one task per incoming message, in order per chat, behind an error boundary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from core import metrics
from core.bus import Bus, Delivery
from core.lifecycle import Resource, cancel_and_wait
from core.logcontext import message_context
from core.model import IncomingMessage, ReplySkipped, SkipReason
from core.pipeline.commands import CommandRouter
from core.pipeline.context import BotServices, Context, ReadAhead
from core.pipeline.dialogue import APOLOGY, answer
from core.pipeline.facts import RememberFacts
from core.pipeline.listen import Transcribe
from core.pipeline.middleware import Handler, Middleware, compose
from core.pipeline.middlewares import AccessControl, AddressedOnly, Dedupe, FloodControl, Validate
from core.pipeline.moves import move_chat

log = logging.getLogger(__name__)


def default_middlewares(router: CommandRouter | None = None) -> list[Middleware]:
    """Addressing, dedupe, validation, flood control, access, transcription of speech, commands, then
    the memory of what users say about themselves."""
    return [
        AddressedOnly(),
        Dedupe(),
        Validate(),
        FloodControl(),
        AccessControl(),
        Transcribe(),
        router or CommandRouter(),
        RememberFacts(),
    ]


class ChatSerializer:
    """FIFO locks per chat, so one chat's messages are handled in arrival order.

    A chat's lock exists only while a message of that chat is held or waiting.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the duration of the ``async with`` block."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


class Pipeline(Resource):
    """Consumes deliveries from the bus and answers each in its own task.

    Args:
        services: the bot's engine, stores and settings.
        bus: where messages come from and replies go.
        middlewares: defaults to :func:`default_middlewares`.
        max_in_flight: how many messages are handled at once (back-pressure on the bus).
    """

    def __init__(
        self,
        services: BotServices,
        bus: Bus,
        middlewares: Sequence[Middleware] | None = None,
        max_in_flight: int = 256,
    ) -> None:
        self.services = services
        self.bus = bus
        chain = list(middlewares) if middlewares is not None else default_middlewares()
        self.handler: Handler = compose(chain, answer)
        #: the dialogue answer is a message's last event (no middleware sends after its handler)
        self._answer_ends = not any(m.sends_after_handler for m in chain)
        self._serializer = ChatSerializer()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.handled = 0
        self.failed = 0

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"pipeline-{self.services.name}")

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop taking new messages and wait (bounded) for those in flight."""
        await cancel_and_wait(self._runner)
        self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
            for task in pending:
                task.cancel()

    async def _run(self) -> None:
        async for delivery in self.bus.deliveries():
            await self._slots.acquire()
            task = asyncio.create_task(self._handle(delivery), name=f"msg-{delivery.message.key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def running(self) -> bool:
        """True while the pipeline takes messages from the bus."""
        return self._runner is not None and not self._runner.done()

    async def idle(self) -> None:
        """Wait until no message is in flight (tests and benchmarks)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _handle(self, delivery: Delivery) -> None:
        message = delivery.message
        ctx = Context(message, self.services, self.bus, redelivered=delivery.redelivered)
        if self._answer_ends:
            ctx.ends = delivery
        started = time.perf_counter()
        # This task's own context: every log line written while handling the message
        # (middlewares, engines, speech, the ack) carries its key.
        with message_context(message.key):
            try:
                # The chat's turn first, then its local lock: an older message of the chat that
                # reaches this worker later (reclaimed from a dead worker) must be able to pass.
                await delivery.turn()
                async with self._serializer.hold(message.chat_key):
                    if message.moved is not None:
                        await self._move(message)
                    if delivery.attempts > self.services.config.max_deliveries:
                        await self._give_up(ctx, delivery.attempts)
                    else:
                        await self._answer(ctx)
                    # Acknowledged inside the chat's lock: the next message of this chat, here or on
                    # another worker, starts only after this one's replies were handed back.
                    try:
                        await delivery.ack()
                    except Exception:
                        log.exception("ack of %s failed", message.key)
            finally:
                self._slots.release()
                log.debug("%s handled in %.2f ms", message.key, (time.perf_counter() - started) * 1000)

    async def _move(self, message: IncomingMessage) -> None:
        """The message's chat goes on under a new id: move the old chat's state here first.

        The old chat's lock is held too, so a message of the old chat still in flight finishes
        (and writes its memory) before its state moves. A failed move is logged; the message goes on.
        """
        moved = message.moved
        assert moved is not None
        if moved.new_key != message.chat_key:
            log.error("%s: chat move %s -> %s is not about this chat; ignored", message.key, moved.old_key, moved.new_key)
            return
        if moved.old_key == moved.new_key:
            return  # nothing to move (and the chat's lock is held already)
        try:
            async with self._serializer.hold(moved.old_key):
                await move_chat(self.services, moved)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.ERRORS.labels(self.services.name, "handler").inc()
            log.exception("moving chat %s to %s failed", moved.old_key, moved.new_key)

    async def _give_up(self, ctx: Context, attempts: int) -> None:
        """A message every earlier worker died on: apologize instead of handling it once more."""
        self.failed += 1
        metrics.HANDLED.labels(self.services.name, "failed").inc()
        metrics.ERRORS.labels(self.services.name, "poison").inc()
        log.error(
            "%s was handed out %d times and each worker stopped before answering; not handling it again",
            ctx.message.key,
            attempts - 1,
        )
        if ctx.message.is_addressed:
            await ctx.reply(APOLOGY, notice=True)

    async def _answer(self, ctx: Context) -> None:
        message = ctx.message
        bot = self.services.name
        started = time.perf_counter()
        try:
            if message.is_addressed:
                # history and facts, read beside the dedupe claim (one round trip on redis)
                ctx.read_ahead = ReadAhead.start(self.services, message.chat_key)
            await self.handler(ctx)
            self.handled += 1
            if message.is_addressed and not ctx.answered:
                await self.bus.send(ReplySkipped(ctx.target, ctx.skipped or SkipReason.UNANSWERED))
            metrics.HANDLED.labels(bot, "answered" if ctx.answered else "skipped").inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failed += 1
            metrics.HANDLED.labels(bot, "failed").inc()
            metrics.ERRORS.labels(bot, "handler").inc()
            log.exception("handling %s failed", message.key)
            if not ctx.answered and message.is_addressed:
                try:
                    await ctx.reply(APOLOGY, notice=True)
                except Exception:
                    log.exception("could not even apologize for %s", message.key)
        finally:
            if ctx.read_ahead is not None:
                ctx.read_ahead.close()
        # Not observed for a cancelled message (shutdown): its time says nothing about the handler.
        metrics.STAGE.labels(bot, "handle").observe(time.perf_counter() - started)
