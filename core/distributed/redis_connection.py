"""The Redis client the stores of one process share: calls made together travel in one round trip.

Every store call queues its commands; one flusher sends everything queued by then as one
pipeline (no transaction), so calls issued in the same turn of the event loop (the first
reads of a message, or the store calls of many messages handled at once) share a round
trip, and each caller gets its own replies. Connection errors are retried with backoff
for up to ``retry_for_s`` (the whole batch again: each call's commands are idempotent or,
like the dedupe claim, were so before batching); after that, and for any error Redis
returns, the call raises :class:`core.errors.StoreError` with the reason.

A write can also be prepared without being sent (:meth:`RedisConnection.write`): a
:class:`RedisWrite`, which the Redis bus puts in the same transaction as a reply when both
use the same server (see :meth:`core.bus.Bus.send_with`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.distributed.backoff import Outage, redis_backoff
from core.distributed.resp_pipe import Recorder, RespPipe, Scripts
from core.errors import StoreError
from core.stores.base import StoreWrite

log = logging.getLogger(__name__)

Commands = Callable[[Any], None]
"""Adds one call's commands to a :class:`~core.distributed.resp_pipe.Recorder`
(``pipe.execute_command("LRANGE", key, -20, -1)``, or redis-py's command methods). Their replies come back
as Redis sent them (see :class:`~core.distributed.resp_pipe.RespPipe`)."""

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)  # OSError includes TimeoutError

HISTORY_APPEND = "@history-append"
"""The pseudo-command of a history append: ``HISTORY_APPEND, list, version key, step, max turns, values...``
(``RPUSH list values...``, ``LTRIM list -max_turns -1``, ``INCRBY version_key step``). A store call's
recorder sends those three commands; the Redis bus's apply script runs it as one of its shorthands,
with fewer arguments to pack."""


class _StoreRecorder(Recorder):
    """Records a store call's commands, pseudo-commands as the commands they stand for."""

    def execute_command(self, *args: Any, **options: Any) -> _StoreRecorder:
        if args[0] == HISTORY_APPEND:
            _, key, version_key, step, max_turns, *values = args
            self.commands += [("RPUSH", key, *values), ("LTRIM", key, -max_turns, -1), ("INCRBY", version_key, step)]
        else:
            self.commands.append(args)
        return self


Shape = Callable[[list[Any]], Any]
"""Turns a call's replies into its result (``(raw,) -> turns``), in the flusher, when they arrive."""


@dataclass(slots=True)
class _Call:
    what: str
    commands: Commands
    replies: asyncio.Future[Any]
    shape: Shape | None = None
    count: int = field(default=0)


@dataclass(frozen=True, slots=True)
class RedisWrite(StoreWrite):
    """A store write prepared on ``connection``: sent alone by :meth:`run`, or added to a transaction.

    Attributes:
        connection: the stores' connection (its ``url`` tells which server the write is for).
        what: what it does, for errors.
        commands: adds its commands to a pipeline or transaction.
    """

    connection: RedisConnection
    what: str
    commands: Commands

    async def run(self) -> None:
        await self.connection.run(self.what, self.commands)


class RedisConnection:
    """One client shared by the stores of a process; calls made together share a round trip.

    Args:
        url: ``redis://host:port/db``.
        namespace: key prefix.
        retry_for_s: how long a call keeps retrying while redis is unreachable.
    """

    def __init__(self, url: str, namespace: str = "bots", retry_for_s: float = 30.0) -> None:
        self.url = url
        self.namespace = namespace
        self.retry_for_s = retry_for_s
        self._client: RespPipe | None = None
        #: one deadline per round trip (redis-py's socket_timeout would start one per reply)
        self.call_timeout_s = 5.0
        self._users = 0
        self._outage = Outage(log, "redis store")
        self._queued: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        #: round trips made (one per batch sent, retries included): for tests and benchmarks
        self.round_trips = 0
        self._scripts = Scripts()  # the Lua scripts the stores call by EVALSHA

    async def acquire(self) -> None:
        if self._client is None:
            self._client = RespPipe(self.url, connect_timeout_s=2.0)
        self._users += 1

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if not self._users and self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def script(self, body: str) -> str:
        """Register a Lua script; its SHA1, for ``EVALSHA`` in a call's commands (loaded as
        :class:`~core.distributed.resp_pipe.Scripts` loads them: a call never sees ``NOSCRIPT``)."""
        return self._scripts.add(body)

    def write(self, what: str, commands: Commands) -> RedisWrite:
        """A write to send later (``run()``) or inside a transaction with other commands."""
        return RedisWrite(self, what, commands)

    async def run(self, what: str, commands: Commands) -> list[Any]:
        """Send ``commands`` with whatever else is queued now, in one round trip; their replies, in order."""
        result: list[Any] = await self.submit(what, commands)
        return result

    def submit(self, what: str, commands: Commands, shape: Shape | None = None) -> asyncio.Future[Any]:
        """Queue ``commands`` for the next round trip now and return the future of their replies
        (``shape(replies)`` with ``shape``), for a caller that awaits it later or not at all: a read started
        ahead costs no task. A future cancelled before its batch is sent is left out of it. Every failure,
        a store not started included, comes as :class:`StoreError` from the future, never from this call.
        """
        replies: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._client is None:
            replies.set_exception(StoreError(f"{what}: the redis store is not started"))
            return replies
        self._queued.append(_Call(what, commands, replies, shape))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-store-flusher")
        return replies

    async def _flush(self) -> None:
        """Send what is queued, one pipeline per batch, until nothing is queued."""
        while self._queued:
            batch = [call for call in self._queued if not call.replies.done()]  # a cancelled caller's call is not sent
            self._queued = []
            if not batch:
                continue
            try:
                results = await self._send(batch)
            except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
                reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
                for call in batch:
                    if not call.replies.done():
                        call.replies.set_exception(StoreError(f"{call.what}: {reason}"))
                continue
            start = 0
            for call in batch:
                replies, start = results[start:start + call.count], start + call.count
                if call.replies.done():
                    continue
                failed = None
                for reply in replies:  # a loop, not next() over a generator: it runs for every call
                    if isinstance(reply, Exception):
                        failed = reply
                        break
                if failed is not None:
                    call.replies.set_exception(StoreError(f"{call.what}: {type(failed).__name__}: {failed}"))
                elif call.shape is None:
                    call.replies.set_result(replies)
                else:
                    try:
                        call.replies.set_result(call.shape(replies))
                    except Exception as exc:  # noqa: BLE001 - a reply it could not read: that caller's error
                        call.replies.set_exception(StoreError(f"{call.what}: unreadable reply: {type(exc).__name__}: {exc}"))

    async def _send(self, batch: list[_Call]) -> list[Any]:
        backoff = None  # made on the first failure, like the deadline: nothing to build on the common path
        deadline = 0.0
        while True:
            client = self._client
            if client is None:
                raise StoreError("the redis store was stopped")
            try:
                self.round_trips += 1
                recorder = _StoreRecorder()
                for call in batch:
                    before = len(recorder.commands)
                    call.commands(recorder)
                    call.count = len(recorder.commands) - before
                # past the deadline the pipe drops that connection (no reply left behind)
                reloads = self._scripts.reloads
                results = await self._scripts.execute(client, recorder.commands, self.call_timeout_s)
                self.round_trips += self._scripts.reloads - reloads
            except _UNREACHABLE as exc:
                if backoff is None:
                    backoff, deadline = redis_backoff(), time.monotonic() + self.retry_for_s
                elif time.monotonic() >= deadline:
                    raise StoreError(f"redis unreachable for {self.retry_for_s:.0f}s: {exc}") from None
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            except RedisError as exc:
                raise StoreError(f"{type(exc).__name__}: {exc}") from None
            if self._outage.since is not None:
                self._outage.ok()
            return results
