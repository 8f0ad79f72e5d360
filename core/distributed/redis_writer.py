"""The worker's writer on the Redis Streams bus: everything queued goes out in one ``MULTI``/``EXEC`` round trip, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from core.codec import encode_event
from core.distributed.redis_base import Answers, RedisBusBase, Write, _mapping, _Queued, _resolve
from core.errors import BusClosed
from core.model import ChatAction, OutgoingEvent, ReplyDelta, ReplyDone

log = logging.getLogger("core.distributed.redis_bus")

def _superseded(batch: list[_Queued]) -> list[Write]:
    """The batch's writes without the chat actions an answer to the same message follows in it.

    "typing" right before its reply is pointless to the user and costs the gateway a platform
    request (the Telegram adapter drops such an action itself): an instant engine's typing and
    reply always meet here, so they never leave the worker.
    """
    answered: set[Answers] = set()
    kept: list[Write] = []
    for q in reversed(batch):
        if q.action_for is not None and q.action_for in answered:
            continue
        if q.answers is not None:
            answered.add(q.answers)
        kept.append(q.write)
    kept.reverse()
    return kept


class BatchWriter(RedisBusBase):
    """``send`` and the writer task that batches a worker's writes (replies, chat actions, acks)."""

    # -- worker side: send ----------------------------------------------------------------------

    async def send(self, event: OutgoingEvent) -> None:
        """Queue ``event`` for the writer; an answer (not a chat action or streamed piece) waits until it is in Redis."""
        await self._send(event)

    async def _send(self, event: OutgoingEvent, extra: Sequence[Write] = (), marked: bool = True) -> None:
        """Queue ``event`` (and ``extra`` writes in its transaction); ``marked``: a final text reply sets
        its message's ``answered`` marker (not needed when the message is acknowledged in the same
        transaction: no redelivery can follow it)."""
        if self._redis is None:
            raise BusClosed("bus is stopped")
        header, blobs = encode_event(event)
        out_key = self._out_key(event.target.destination)
        fields = _mapping(header, blobs)
        maxlen = self.settings.out_maxlen
        answered = None
        if marked and isinstance(event, ReplyDone) and event.target.in_reply_to is not None:
            ref = event.target.in_reply_to
            answered = self._answered_key(f"{ref.platform}:{ref.chat_id}:{ref.message_id}")
        ttl_ms = int(self.settings.answered_ttl_s * 1000)

        def write(pipe: Any) -> None:
            pipe.xadd(out_key, fields, maxlen=maxlen, approximate=True)
            if answered is not None:
                pipe.set(answered, b"1", px=ttl_ms)
            for more in extra:
                more(pipe)

        target = event.target
        answers = (target.destination, target.chat.id, target.in_reply_to) if target.in_reply_to is not None else None
        if isinstance(event, ChatAction) and not extra:
            self._write(write, action_for=answers)  # the message's ack (or its reply) waits for it
            return
        if isinstance(event, ReplyDelta) and not extra:
            self._write(write, answers=answers)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._write(write, done, answers=answers)
        await done

    def _write(
        self, write: Write, done: asyncio.Future[None] | None = None, *, answers: Answers = None, action_for: Answers = None
    ) -> None:
        """Queue ``write`` for the writer task; ``done`` is resolved once its batch is in Redis.

        ``answers``: the message an event answers; ``action_for``: the message a chat action is about
        (left out of the batch when an answer to that message follows it there, see :func:`_superseded`).
        """
        self._writes.append(_Queued(write, done, answers, action_for))
        if done is not None and self._answer_queued is not None and not self._answer_queued.done():
            self._answer_queued.set_result(None)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"{self.bot}-bus-writer")

    async def _write_loop(self) -> None:
        """Send everything queued in one transaction, in order, until nothing is queued."""
        while self._writes:
            if self.settings.coalesce_ms > 0 and all(q.done is None for q in self._writes):
                await self._wait_for_answer()
            batch, self._writes = self._writes, []
            writes = _superseded(batch)

            async def run(writes: list[Write] = writes) -> list[Any]:
                async with asyncio.timeout(self._call_timeout_s), self.batches.pipeline(transaction=True) as pipe:
                    for write in writes:
                        write(pipe)
                    result: list[Any] = await pipe.execute(raise_on_error=False)
                    return result

            try:
                # Keep trying even while stopping: a worker holding a reply hands it back or dies trying.
                results = await self._retry(run, until_closed=False)
            except BaseException as exc:
                for q in batch:
                    if q.done is not None and not q.done.done():
                        q.done.set_exception(exc if isinstance(exc, Exception) else BusClosed("bus stopped"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.error("%s: %d writes failed: %r", self.bot, len(batch), exc)
                continue
            for failed in (r for r in results if isinstance(r, Exception)):
                log.error("%s: a write was refused by redis: %s", self.bot, failed)
            for q in batch:
                if q.done is not None and not q.done.done():
                    q.done.set_result(None)

    async def _wait_for_answer(self) -> None:
        """Only chat actions or streamed pieces queued: give an answer ``coalesce_ms`` to join them."""
        loop = asyncio.get_running_loop()
        waiter = self._answer_queued = loop.create_future()
        timer = loop.call_later(self.settings.coalesce_ms / 1000, partial(_resolve, waiter))
        try:
            await waiter
        finally:
            timer.cancel()
            self._answer_queued = None
