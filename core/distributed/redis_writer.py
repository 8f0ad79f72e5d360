"""The worker's writer on the Redis Streams bus: everything queued goes out in one call of the apply script, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from redis.exceptions import ResponseError

from core.codec import encode_event
from core.distributed.redis_base import ACK, EVENT, Answers, RedisBusBase, Write, _fields, _Queued, _resolve, _text
from core.distributed.redis_connection import HISTORY_APPEND
from core.distributed.resp_pipe import Recorder
from core.errors import BusClosed
from core.model import ChatAction, OutgoingEvent, ReplyDelta, ReplyDone

log = logging.getLogger("core.distributed.redis_bus")

def _superseded(batch: list[_Queued]) -> list[_Queued]:
    """The batch without the chat actions an answer to the same message follows in it.

    "typing" right before its reply is pointless to the user and costs the gateway a platform
    request (the Telegram adapter drops such an action itself): an instant engine's typing and
    reply then never leave the worker.
    """
    answered: set[Answers] = set()
    kept: list[_Queued] = []
    for q in reversed(batch):
        if q.action_for is not None and q.action_for in answered:
            continue
        if q.answers is not None:
            answered.add(q.answers)
        kept.append(q)
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
        target = event.target
        answers = (target.destination, target.chat.id, target.in_reply_to) if target.in_reply_to is not None else None
        out_key = self._out_key(target.destination)
        maxlen = self.settings.out_maxlen
        if isinstance(event, ChatAction) and not extra:

            def act(pipe: Any) -> None:  # encoded only when written: an answer that follows it leaves it out
                pipe.execute_command(EVENT, out_key, encode_event(event)[0])  # a chat action has no blobs

            self._write(act, action_for=answers)  # the message's ack (or its reply) waits for it
            return
        header, blobs = encode_event(event)
        answered = None
        if marked and isinstance(event, ReplyDone) and event.target.in_reply_to is not None:
            ref = event.target.in_reply_to
            answered = self._answered_key(f"{ref.platform}:{ref.chat_id}:{ref.message_id}")
        ttl_ms = int(self.settings.answered_ttl_s * 1000)

        def write(pipe: Any) -> None:
            # raw commands, not redis-py's methods: their argument handling cost more than the packing
            if blobs:
                pipe.execute_command("XADD", out_key, "MAXLEN", "~", maxlen, "*", *_fields(header, blobs))
            else:
                pipe.execute_command(EVENT, out_key, header)  # the apply script's shorthand
            if answered is not None:
                pipe.execute_command("SET", answered, b"1", "PX", ttl_ms)
            for more in extra:
                more(pipe)

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
        at = asyncio.get_running_loop().time() if action_for is not None else 0.0
        self._writes.append(_Queued(write, done, answers, action_for, at))
        if done is not None and self._answer_queued is not None and not self._answer_queued.done():
            self._answer_queued.set_result(None)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"{self.bot}-bus-writer")

    async def _write_loop(self) -> None:
        """Send everything queued in one transaction, in order, until nothing is queued."""
        while self._writes:
            if all(q.done is None for q in self._writes) and (wait_s := self._wait_s()) > 0:
                await self._wait_for_answer(wait_s)
            batch, self._writes = self._writes, []
            kept = _superseded(batch)
            hold_s = self.settings.action_hold_ms / 1000
            if hold_s > 0 and any(q.done is not None for q in kept):
                # Chat actions queued lately wait for a later write, which their answer may join
                # (under load a batch is cut between many messages' typing and their replies).
                young = asyncio.get_running_loop().time() - hold_s
                carried = [q for q in kept if q.action_for is not None and q.at > young]
                if carried:
                    kept = [q for q in kept if q.action_for is None or q.at <= young]
                    self._writes[:0] = carried
            writes = [q.write for q in kept]

            async def run(writes: list[Write] = writes) -> list[Any]:
                return await self._apply(writes, self._call_timeout_s)

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

    async def _apply(self, writes: list[Write], timeout_s: float) -> list[Exception]:
        """Run ``writes`` in one call of the apply script (atomic, in order); the commands Redis refused.

        Each round trip may take ``timeout_s`` (then TimeoutError, retried by the caller)."""
        if self._redis is None or self._writes_pipe is None:  # a bus stopped (or killed) writes nothing more
            raise BusClosed("bus is not started")
        recorder = Recorder()
        for write in writes:
            write(recorder)
        args: list[Any] = [self.GROUP, self.settings.out_maxlen]
        for command in recorder.commands:  # the shorthands of the apply script for the frequent writes
            tag = command[0]
            if tag == ACK:
                args += (0, command[1], command[2])
            elif tag == EVENT:
                args += (-1, command[1], command[2])
            elif tag == HISTORY_APPEND:
                args += (-2, len(command) - 5, *command[1:])
            else:
                args.append(len(command))
                args += command
        # the script is loaded in the first call's round trip, and again after redis restarted empty
        (errors,) = await self._lua.execute(self._writes_pipe, [("EVALSHA", self._apply_sha, 1, self.in_key, *args)], timeout_s)
        if isinstance(errors, ResponseError):
            raise errors
        return [ResponseError(_text(error)) for error in errors]

    def _wait_s(self) -> float:
        """Only chat actions or streamed pieces queued: how long an answer may still join them.

        A streamed piece waits ``coalesce_ms``; chat actions alone wait until the oldest is
        ``action_hold_ms`` old (an answer to their message makes them pointless).
        """
        coalesce_s = self.settings.coalesce_ms / 1000
        if any(q.action_for is None for q in self._writes):
            return coalesce_s
        oldest = min(q.at for q in self._writes)
        hold_s = self.settings.action_hold_ms / 1000 - (asyncio.get_running_loop().time() - oldest)
        return max(coalesce_s, hold_s)

    async def _wait_for_answer(self, wait_s: float) -> None:
        """Give an answer ``wait_s`` to join what is queued (see :meth:`_wait_s`)."""
        loop = asyncio.get_running_loop()
        waiter = self._answer_queued = loop.create_future()
        timer = loop.call_later(wait_s, partial(_resolve, waiter))
        try:
            await waiter
        finally:
            timer.cancel()
            self._answer_queued = None
