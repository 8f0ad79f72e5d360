"""What every side of the Redis Streams bus shares: settings, scripts, helpers, the connection, retries, key names.

See :mod:`core.distributed.redis_bus` for the protocol; the gateway side is in
:mod:`core.distributed.redis_gateway`, the worker side in :mod:`core.distributed.redis_worker`,
the batched writes in :mod:`core.distributed.redis_writer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.bus import Bus
from core.distributed.backoff import Outage, redis_backoff
from core.distributed.resp_pipe import RespPipe, Scripts
from core.distributed.worker_slots import WorkerSlots, machine_cores
from core.errors import BusClosed, CodecError
from core.lifecycle import raise_if_cancelled
from core.model import IncomingMessage, MessageRef

log = logging.getLogger("core.distributed.redis_bus")

T = TypeVar("T")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

# An entry appended to an empty order list is marked "head": it heads its chat until its own ack,
# so the worker that reads it needs no round trip to check its turn.
_PUBLISH = """
local id
if redis.call('LLEN', KEYS[2]) == 0 then
  id = redis.call('XADD', KEYS[1], '*', 'head', '1', unpack(ARGV, 2))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
end
redis.call('RPUSH', KEYS[2], id)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return id
"""
_ACK_OUT = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return 1
"""

# A worker's batched writes in one call. ARGV[1] is the consumer group, ARGV[2] the outgoing streams'
# approximate bound; then the writes, each ``count, command, args...`` (any command), or one of the
# shorthands for the writes every message makes, with fewer arguments to pack (a third of the
# arguments a message's writes had, and each argument cost the worker its packing):
#   ``0, entry id, order list``: the ack of an entry of the incoming stream KEYS[1] (XACK, XDEL, LREM);
#   ``-1, stream, header``: XADD of an event without blobs (``MAXLEN ~ ARGV[2] * h header``);
#   ``-2, n, list, version key, step, max turns, n values``: a history append (RPUSH, LTRIM, INCRBY).
# Atomic like MULTI/EXEC (a failing command does not stop the others, as in EXEC), but one command
# to pack and one reply to parse instead of a QUEUED reply per command plus EXEC's array: a third
# of the client CPU of the transaction it replaces. The errors come back as strings.
_APPLY = """
local errors = {}
local stream, group, maxlen = KEYS[1], ARGV[1], ARGV[2]
local function ack(id, order)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  redis.call('LREM', order, 1, id)
end
local function history(i, n)
  local list = ARGV[i + 2]
  redis.call('RPUSH', list, unpack(ARGV, i + 6, i + 5 + n))
  redis.call('LTRIM', list, -tonumber(ARGV[i + 5]), -1)
  redis.call('INCRBY', ARGV[i + 3], ARGV[i + 4])
end
local i, n = 3, #ARGV
while i <= n do
  local count = tonumber(ARGV[i])
  local ok, err
  if count == 0 then
    ok, err = pcall(ack, ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif count == -1 then
    ok, err = pcall(redis.call, 'XADD', ARGV[i + 1], 'MAXLEN', '~', maxlen, '*', 'h', ARGV[i + 2])
    i = i + 3
  elseif count == -2 then
    local values = tonumber(ARGV[i + 1])
    ok, err = pcall(history, i, values)
    i = i + 6 + values
  else
    ok, err = pcall(redis.call, unpack(ARGV, i + 1, i + count))
    i = i + count + 1
  end
  if not ok then errors[#errors + 1] = tostring(err) end
end
return errors
"""

ACK = "@ack"
"""The pseudo-command a worker's writes record for an ack (``ACK, entry id, order list``): the apply script acks it."""

EVENT = "@event"
"""The pseudo-command of an event without blobs (``EVENT, stream, header``): the apply script adds it to ``stream``."""


def _text(value: object) -> str:
    """A redis reply value (bytes with the default decoding off) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``event`` is set or ``timeout_s`` has passed.

    Not ``asyncio.wait_for``: before Python 3.12 it swallows a cancellation that arrives as the event is
    set, and a reader that lost its cancellation never stops (a worker then hangs on SIGTERM).
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def default_consumer_name() -> str:
    """``host:pid``: unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RedisBusSettings:
    """Tuning of one bot's Redis bus.

    Attributes:
        url: ``redis://host:port/db``.
        namespace: key prefix, one per bot.
        consumer: this worker's name in the consumer group (default ``host:pid``).
        claim_idle_s: an entry unacknowledged and untouched this long belongs to a dead worker.
        read_count: entries read per call.
        max_held: entries a worker holds at once (read and not acknowledged).
        block_ms: how long a read waits for new entries.
        answered_ttl_s: how long the ``answered`` markers (and order lists) live.
        outbox_limit: messages a gateway keeps while Redis is unreachable.
        out_maxlen: approximate bound of each outgoing stream.
        max_attachment_bytes: larger attachments are left out of a message.
        coalesce_ms: a chat action or streamed piece waits this long for an answer to share its
            round trip (an instant engine's typing and reply then travel, and are read, together).
        call_timeout_s: how long a round trip may take (on top of ``block_ms``) before its
            connection is dropped and the call retried.
        worker_slots: how many workers of this bus read it at once on one machine (see
            :mod:`core.distributed.worker_slots`): ``None`` one per core, ``0`` no limit.
        read_pause_ms: a worker that held at least a quarter of ``read_count`` messages when its
            last read returned fewer than half of ``read_count`` waits this long before the next,
            so entries gather into larger reads when several workers share a busy stream (a
            worker with little in hand reads at once: low-load latency is untouched).
        action_hold_ms: a chat action (``typing``) waits this long in the worker for an answer
            to its message, which makes it pointless: it is then left out. Platforms show
            typing seconds long, and the Telegram adapter holds one 0.3 s itself.
    """

    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "bots"
    consumer: str = ""
    claim_idle_s: float = 30.0
    read_count: int = 16
    max_held: int = 64
    block_ms: int = 1000
    answered_ttl_s: float = 24 * 3600
    outbox_limit: int = 10_000
    out_maxlen: int = 100_000
    max_attachment_bytes: int = 20 * 1024 * 1024
    coalesce_ms: float = 2.0
    call_timeout_s: float = 5.0
    action_hold_ms: float = 50.0
    read_pause_ms: float = 5.0
    worker_slots: int | None = None


def _fields(header: bytes, blobs: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = ["h", header]
    for i, blob in enumerate(blobs):
        out += [f"b{i}", blob]
    return out


Write = Callable[[Any], None]
"""Adds one write's commands to a pipeline (see :meth:`RedisBus._write`)."""

Answers = tuple[str, str, MessageRef] | None
"""The message an outgoing event answers: destination, chat id, message reference."""


@dataclass(frozen=True, slots=True)
class _Queued:
    """One write waiting for the writer: its commands, who waits for it, what it answers."""

    write: Write
    done: asyncio.Future[None] | None
    answers: Answers = None
    action_for: Answers = None
    at: float = 0.0  # when a chat action was queued (loop time)


def _unfields(raw: dict[bytes, bytes]) -> tuple[bytes, list[bytes]]:
    header = raw.get(b"h")
    if header is None:
        raise CodecError("stream entry has no header field")
    blobs = []
    i = 0
    while (blob := raw.get(f"b{i}".encode())) is not None:
        blobs.append(blob)
        i += 1
    return header, blobs


class RedisBusBase(Bus):
    """State, connection, retries and key names shared by the gateway side, the worker side and the writer."""

    GROUP = "workers"
    GATEWAY_GROUP = "gateway"
    HANDED_BACK = "handed-back"

    def __init__(self, settings: RedisBusSettings, bot: str = "") -> None:
        self.settings = settings
        self.bot = bot or settings.namespace
        self.consumer = settings.consumer or default_consumer_name()
        ns = settings.namespace
        self.in_key = f"{ns}:in"
        self._redis: aioredis.Redis | None = None
        self._writes_pipe: RespPipe | None = None  # a worker's writer: one call of the apply script per batch
        self._read_pipe: RespPipe | None = None  # a worker's blocking reads of new messages
        slots = settings.worker_slots if settings.worker_slots is not None else machine_cores()
        self._slots = WorkerSlots(f"{settings.url}|{settings.namespace}", slots)
        self._closing = asyncio.Event()
        self._outage = Outage(log, f"redis ({self._safe_url()})")
        self._outbox: deque[tuple[IncomingMessage, list[bytes | str], str]] = deque()
        self._outbox_task: asyncio.Task[None] | None = None
        self._held: dict[str, str] = {}  # entry id -> chat key
        self._settled: set[str] = set()  # held entries acknowledged with their answer (send_with)
        self._held_changed = asyncio.Event()
        self._chat_done: dict[str, asyncio.Event] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._outgoing_readers = 0
        self._lua = Scripts()  # the scripts called through the lean pipes (apply, publish, ack of replies)
        self._apply_sha = self._lua.add(_APPLY)
        self._publish_sha = self._lua.add(_PUBLISH)
        self._ack_out_sha = self._lua.add(_ACK_OUT)
        self._publish_pipe: RespPipe | None = None  # a gateway's publishes: a pipeline of publish scripts per batch
        self._sweep_from: bytes | str = "0-0"
        self._publishes: list[tuple[IncomingMessage, list[bytes | str], str, asyncio.Future[None]]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._writes: list[_Queued] = []
        self._writer: asyncio.Task[None] | None = None
        self._answer_queued: asyncio.Future[None] | None = None
        self.redelivered = 0

    def _safe_url(self) -> str:
        """The URL without its password, for logs."""
        url = self.settings.url
        if "@" in url:
            scheme, _, rest = url.partition("://")
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return url

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BusClosed("bus is not started")
        return self._redis

    @property
    def _call_timeout_s(self) -> float:
        return self.settings.block_ms / 1000 + self.settings.call_timeout_s

    # -- retrying ---------------------------------------------------------------------------

    async def _retry(self, call: Callable[[], Awaitable[T]], *, until_closed: bool = True) -> T:
        """Run ``call`` until it succeeds; on connection errors back off (bus stopping: BusClosed)."""
        backoff = None  # made on the first failure: nothing to build on the common path
        while True:
            raise_if_cancelled()
            try:
                result = await call()
            except _UNREACHABLE as exc:
                if until_closed and self._closing.is_set():
                    raise BusClosed(f"bus stopped while redis was unreachable: {exc}") from None
                if backoff is None:
                    backoff = redis_backoff()
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            if self._outage.since is not None:
                self._outage.ok()
            return result

    # -- keys and groups ----------------------------------------------------------------------------

    def _order_key(self, chat_key: str) -> str:
        return f"{self.settings.namespace}:order:{chat_key}"

    def _out_key(self, destination: str) -> str:
        return f"{self.settings.namespace}:out:{destination}"

    def _answered_key(self, message_key: str) -> str:
        return f"{self.settings.namespace}:answered:{message_key}"

    async def _ensure_group(self, key: str, group: str) -> None:
        try:
            await self.redis.xgroup_create(key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
