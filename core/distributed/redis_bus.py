"""The Redis Streams bus: gateways and workers in separate processes, on separate machines.

Keys, under one namespace per bot (``{ns}`` is e.g. ``bots:companion``)::

    {ns}:in                  stream of incoming messages; consumer group ``workers``
    {ns}:order:{chat}        list of the chat's unacknowledged entry ids, oldest first
    {ns}:out:{destination}   stream of outgoing events for one adapter; consumer group ``gateway``
    {ns}:answered:{message}  set (with a TTL) once a message's text reply was handed back

Delivery is at-least-once with answers exactly once:

* A gateway appends a message and its id to the chat's order list in one script;
  concurrent publishes share one round trip (a pipeline of those scripts), in order.
* Workers read through the consumer group. An entry is acknowledged (``XACK``,
  ``XDEL``, and removed from the order list) only after its replies were appended to
  the gateway's stream.
* A worker's writes (replies, chat actions, acks) go through one writer that sends
  everything queued in one call of an apply script (atomic, like ``MULTI``/``EXEC``),
  in the order queued: under load the writes of many messages (their acks included)
  share one round trip. A chat action waits up to ``action_hold_ms`` for an answer to
  its message and is left out when one follows it (typing right before its reply
  shows nothing; an instant engine's typing never leaves the worker). ``send`` of a chat action or a
  streamed piece returns once queued; ``send`` of anything that answers (a reply, a
  voice note, a skip) and ``ack`` return once their batch is in Redis, so a reply handed
  to the bus survives the worker being killed right after.
* A worker refreshes the idle time of the entries it holds (a heartbeat), so only
  entries of a worker that died or stopped grow idle; other workers take those
  with ``XAUTOCLAIM`` after ``claim_idle_s``.
* The text reply and the ``answered`` marker are written in one transaction, so a
  redelivered entry whose reply already went out is acknowledged, not answered again.
  When the stores use the same Redis, the reply's history write joins that transaction
  too (:meth:`RedisBus.send_with`), and so does the message's ack when nothing can follow
  the reply: the answer, its memory and the end of the message land together (no
  ``answered`` marker is needed then: no redelivery can follow).
* Per-chat order: a worker starts an entry only when it is the head of its chat's
  order list (see :meth:`RedisBus._turn`); the head is released by the ack, after the
  replies were appended. An entry published to an empty order list carries ``head``
  (it stays the head until its own ack), and the heads of the rest of a batch just
  read are checked in one round trip, so ``turn()`` usually costs nothing. Replies of one chat therefore leave in order whichever
  worker handles them, and chats never wait for each other.

While Redis is unreachable a gateway keeps incoming messages in a bounded outbox
and appends them, in order, once it is back (beyond the bound, ``publish``
raises :class:`BusUnavailable` so the adapter can say so). Workers retry every
call with exponential backoff and never drop what they hold.

The code: shared state, connection, retries and keys in :mod:`core.distributed.redis_base`;
publish, outbox and reading replies in :mod:`core.distributed.redis_gateway`; the batched
writes in :mod:`core.distributed.redis_writer`; the redis-py client of the rare calls (consumer
groups, reclaiming, heartbeats, handing back, monitoring) in :mod:`core.distributed.redis_client`, and
the lean pipe of the per-batch round trips (the gateway's publishes and reads of replies, the writer's
apply script, the worker's reads, the stores) in :mod:`core.distributed.resp_pipe`; deliveries, reclaim,
heartbeat, turns and acks in :mod:`core.distributed.redis_worker`, which reads only while it holds one
of the machine's :mod:`core.distributed.worker_slots`; :class:`RedisBus` (start, stop, monitoring) composes them here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import ResponseError

from core import metrics
from core.bus import Backlog
from core.distributed.redis_base import (
    _ACK_OUT,
    _PUBLISH,
    _UNREACHABLE,
    RedisBusBase,
    RedisBusSettings,
    Write,
    _fields,
    _text,
    _unfields,
    default_consumer_name,
)
from core.distributed.redis_client import client
from core.distributed.redis_gateway import GatewaySide
from core.distributed.redis_worker import WorkerSide
from core.distributed.redis_writer import BatchWriter
from core.distributed.resp_pipe import RespPipe
from core.errors import BusClosed
from core.lifecycle import raise_if_cancelled

__all__ = [
    "_ACK_OUT",
    "_PUBLISH",
    "_UNREACHABLE",
    "BatchWriter",
    "GatewaySide",
    "RedisBus",
    "RedisBusBase",
    "RedisBusSettings",
    "WorkerSide",
    "Write",
    "_fields",
    "_text",
    "_unfields",
    "default_consumer_name",
]

log = logging.getLogger(__name__)


class RedisBus(GatewaySide, WorkerSide):
    """A :class:`core.bus.Bus` on Redis Streams (see the module docstring for the protocol).

    Args:
        settings: where and how.
        bot: the bot's name, for metrics and logs.
    """

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._redis is not None:
            return
        self._closing.clear()
        self._redis = client(
            self.settings.url,
            socket_connect_timeout=2.0,
            socket_timeout=self.settings.block_ms / 1000 + self.settings.call_timeout_s,
            socket_keepalive=True,
            health_check_interval=15,
            retry_on_timeout=False,
        )
        self._writes_pipe = RespPipe(self.settings.url, connect_timeout_s=2.0)
        self._read_pipe = RespPipe(self.settings.url, connect_timeout_s=2.0)
        self._publish_pipe = RespPipe(self.settings.url, connect_timeout_s=2.0)
        try:
            await self._redis.ping()
            self._outage.ok()
        except _UNREACHABLE as exc:  # start anyway: every call retries, and the gateway buffers
            self._outage.failed(exc, 0.0)
        self._gauges = asyncio.create_task(self._watch_gauges(), name=f"{self.bot}-bus-gauges")

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Flush the gateway's outbox, let outgoing readers finish, hand back held entries, close."""
        if self._redis is None:
            return
        self._closing.set()
        if self._publisher is not None and not self._publisher.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._publisher), drain_timeout_s)
        if self._outbox_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._outbox_task), drain_timeout_s)
            if self._outbox:
                log.error("%s: %d incoming messages could not be handed to redis before stopping", self.bot, len(self._outbox))
            self._outbox_task.cancel()
        deadline = time.monotonic() + drain_timeout_s
        while self._outgoing_readers and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._writer is not None and not self._writer.done():
            # replies queued by messages still finishing: they go out (or the messages are handed back)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), max(0.0, deadline - time.monotonic()))
            self._writer.cancel()
        for task in (self._heartbeat, self._gauges):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._hand_back()
        self._slots.release()
        redis, self._redis = self._redis, None
        await redis.aclose()
        for pipe in (self._writes_pipe, self._read_pipe, self._publish_pipe):
            if pipe is not None:
                await pipe.close()
        self._writes_pipe = self._read_pipe = self._publish_pipe = None

    # -- monitoring ---------------------------------------------------------------------------

    async def backlog(self) -> Backlog:
        """``lag`` (entries no worker has read) and ``pending`` (read, not acknowledged)."""
        groups = await self.redis.xinfo_groups(self.in_key)
        for group in groups:
            name = group.get("name")
            if name in (self.GROUP, self.GROUP.encode()):
                return Backlog(int(group.get("lag") or 0), int(group.get("pending") or 0))
        return Backlog(int(await self.redis.xlen(self.in_key)))

    async def ping(self) -> bool:
        """True when redis answers now."""
        try:
            return bool(await self.redis.ping())
        except (*_UNREACHABLE, BusClosed):
            return False

    async def _watch_gauges(self) -> None:
        while True:
            raise_if_cancelled()  # stop() awaits this task: a lost cancel would hold it for ever
            await asyncio.sleep(2.0)
            try:
                backlog = await self.backlog()
            except (*_UNREACHABLE, ResponseError):
                continue
            metrics.STREAM_LAG.labels(self.bot).set(backlog.lag)
            metrics.PENDING.labels(self.bot).set(backlog.pending)
