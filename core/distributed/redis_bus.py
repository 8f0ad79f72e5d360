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
  everything queued in one ``MULTI``/``EXEC`` round trip, in the order queued: a
  message's typing and reply travel together, and under load the writes of many
  messages (their acks included) share one round trip. ``send`` of a chat action or a
  streamed piece returns once queued; ``send`` of anything that answers (a reply, a
  voice note, a skip) and ``ack`` return once their batch is in Redis, so a reply handed
  to the bus survives the worker being killed right after.
* A worker refreshes the idle time of the entries it holds (a heartbeat), so only
  entries of a worker that died or stopped grow idle; other workers take those
  with ``XAUTOCLAIM`` after ``claim_idle_s``.
* The text reply and the ``answered`` marker are written in one transaction, so a
  redelivered entry whose reply already went out is acknowledged, not answered again.
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core import metrics
from core.bus import Backlog, Bus, Delivery
from core.codec import decode_event, decode_message, encode_event, encode_message, inline_attachments
from core.distributed.backoff import Outage, redis_backoff
from core.errors import BusClosed, BusUnavailable, CodecError
from core.lifecycle import raise_if_cancelled
from core.model import ChatAction, IncomingMessage, OutgoingEvent, ReplyDelta, ReplyDone

log = logging.getLogger(__name__)

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


def _text(value: object) -> str:
    """A redis reply value (bytes with the default decoding off) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


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


def _fields(header: bytes, blobs: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = ["h", header]
    for i, blob in enumerate(blobs):
        out += [f"b{i}", blob]
    return out


def _mapping(header: bytes, blobs: list[bytes]) -> dict[bytes | str, bytes]:
    out: dict[bytes | str, bytes] = {"h": header}
    for i, blob in enumerate(blobs):
        out[f"b{i}"] = blob
    return out


Write = Callable[[Any], None]
"""Adds one write's commands to a pipeline (see :meth:`RedisBus._write`)."""


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


class RedisBus(Bus):
    """A :class:`core.bus.Bus` on Redis Streams (see the module docstring for the protocol).

    Args:
        settings: where and how.
        bot: the bot's name, for metrics and logs.
    """

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
        self._closing = asyncio.Event()
        self._outage = Outage(log, f"redis ({self._safe_url()})")
        self._outbox: deque[tuple[IncomingMessage, list[bytes | str], str]] = deque()
        self._outbox_task: asyncio.Task[None] | None = None
        self._held: dict[str, str] = {}  # entry id -> chat key
        self._held_changed = asyncio.Event()
        self._chat_done: dict[str, asyncio.Event] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._outgoing_readers = 0
        self._scripts: dict[str, Any] = {}
        self._sweep_from: bytes | str = "0-0"
        self._publishes: list[tuple[IncomingMessage, list[bytes | str], str, asyncio.Future[None]]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._writes: list[tuple[Write, asyncio.Future[None] | None]] = []
        self._writer: asyncio.Task[None] | None = None
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

    async def start(self) -> None:
        if self._redis is not None:
            return
        self._closing.clear()
        self._redis = aioredis.Redis.from_url(
            self.settings.url,
            socket_connect_timeout=2.0,
            socket_timeout=self.settings.block_ms / 1000 + 5.0,
            socket_keepalive=True,
            health_check_interval=15,
            retry_on_timeout=False,
        )
        self._scripts = {
            "publish": self._redis.register_script(_PUBLISH),
            "ack_out": self._redis.register_script(_ACK_OUT),
        }
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
        redis, self._redis = self._redis, None
        await redis.aclose()

    async def _hand_back(self) -> None:
        """Give the entries this worker still holds to whoever sweeps next (graceful shutdown)."""
        if not self._held:
            return
        ids = list(self._held)
        try:
            # Owned by a placeholder consumer and made old: the next XAUTOCLAIM anywhere takes them.
            # The delivery count goes back one, so a handed-back message is not taken for a poison one.
            idle_ms = int(self.settings.claim_idle_s * 1000) * 10 + 1
            owned = await self.redis.xpending_range(self.in_key, self.GROUP, "-", "+", len(ids) * 2 + 64, consumername=self.consumer)
            counts = {_text(row["message_id"]): int(row["times_delivered"]) for row in owned}
            async with self.redis.pipeline(transaction=False) as pipe:
                for eid in ids:
                    retries = max(0, counts.get(eid, 1) - 1)
                    pipe.xclaim(self.in_key, self.GROUP, self.HANDED_BACK, 0, [eid], idle=idle_ms, retrycount=retries, justid=True)
                await pipe.execute()
            log.info("%s: handed back %d unfinished messages to the other workers", self.bot, len(ids))
        except _UNREACHABLE as exc:
            log.warning("%s: could not hand back %d messages (%s); they are reclaimed after %.0fs idle", self.bot, len(ids), exc, self.settings.claim_idle_s)
        self._held.clear()

    # -- retrying ---------------------------------------------------------------------------

    async def _retry(self, call: Callable[[], Awaitable[T]], *, until_closed: bool = True) -> T:
        """Run ``call`` until it succeeds; on connection errors back off (bus stopping: BusClosed)."""
        backoff = redis_backoff()
        while True:
            try:
                result = await call()
            except _UNREACHABLE as exc:
                if until_closed and self._closing.is_set():
                    raise BusClosed(f"bus stopped while redis was unreachable: {exc}") from None
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            self._outage.ok()
            return result

    # -- gateway side: publish ----------------------------------------------------------------

    async def publish(self, message: IncomingMessage) -> None:
        """Append ``message`` (concurrent publishes share one round trip); returns once it is in Redis or the outbox."""
        if self._redis is None or self._closing.is_set():
            raise BusClosed("bus is stopped")
        message = await inline_attachments(message, self.settings.max_attachment_bytes)
        header, blobs = encode_message(message)
        fields = _fields(header, blobs)
        order_key = self._order_key(message.chat_key)
        metrics.MESSAGES_IN.labels(self.bot, message.platform).inc()
        accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._publishes.append((message, fields, order_key, accepted))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_loop(), name=f"{self.bot}-publisher")
        await accepted

    async def _publish_loop(self) -> None:
        """Append queued messages in order: one pipeline per batch, or the outbox while Redis is away."""
        while self._publishes:
            batch, self._publishes = self._publishes, []
            if not self._outbox:
                try:
                    await self._append_many([(fields, order_key) for _, fields, order_key, _ in batch])
                    self._outage.ok()
                    for *_, accepted in batch:
                        if not accepted.done():
                            accepted.set_result(None)
                    continue
                except _UNREACHABLE as exc:
                    self._outage.failed(exc, 0.0)
                except Exception as exc:  # noqa: BLE001 - each publisher hears of it
                    for *_, accepted in batch:
                        if not accepted.done():
                            accepted.set_exception(exc)
                    continue
            # Redis is away, or messages from an outage are still waiting: keep them behind those.
            for message, fields, order_key, accepted in batch:
                if accepted.done():
                    continue
                if len(self._outbox) >= self.settings.outbox_limit:
                    metrics.ERRORS.labels(self.bot, "outbox_full").inc()
                    accepted.set_exception(BusUnavailable(
                        f"redis unreachable and {len(self._outbox)} messages already waiting; {message.key} not accepted"
                    ))
                    continue
                self._outbox.append((message, fields, order_key))
                accepted.set_result(None)
            metrics.OUTBOX.labels(self.bot).set(len(self._outbox))
            if self._outbox and (self._outbox_task is None or self._outbox_task.done()):
                self._outbox_task = asyncio.create_task(self._flush_outbox(), name=f"{self.bot}-outbox")

    async def _append_many(self, items: list[tuple[list[bytes | str], str]]) -> None:
        """Append messages with the publish script, all in one round trip (one by one if the script is missing)."""
        if len(items) == 1:
            await self._append(*items[0])
            return
        ttl_ms = int(self.settings.answered_ttl_s * 1000)
        sha = self._scripts["publish"].sha
        async with self.redis.pipeline(transaction=False) as pipe:
            for fields, order_key in items:
                pipe.evalsha(sha, 2, self.in_key, order_key, ttl_ms, *fields)
            results = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):  # redis restarted: none of them ran
            for fields, order_key in items:
                await self._append(fields, order_key)
            return
        for failed in (r for r in results if isinstance(r, Exception)):
            raise failed

    async def _append(self, fields: list[bytes | str], order_key: str) -> None:
        ttl_ms = int(self.settings.answered_ttl_s * 1000)
        await self._scripts["publish"](keys=[self.in_key, order_key], args=[ttl_ms, *fields])

    async def _flush_outbox(self) -> None:
        """Append buffered messages in order, backing off while redis is unreachable."""
        backoff = redis_backoff()
        while self._outbox:
            message, fields, order_key = self._outbox[0]
            try:
                await self._append(fields, order_key)
            except _UNREACHABLE as exc:
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            self._outage.ok()
            backoff.reset()
            self._outbox.popleft()
            metrics.OUTBOX.labels(self.bot).set(len(self._outbox))
            log.debug("%s appended after the outage", message.key)

    @property
    def outbox_size(self) -> int:
        """Messages waiting for redis to come back."""
        return len(self._outbox)

    # -- gateway side: outgoing ----------------------------------------------------------------

    async def outgoing(self, destination: str) -> AsyncIterator[OutgoingEvent]:
        key = self._out_key(destination)
        self._outgoing_readers += 1
        # Entries delivered and not acknowledged yet: the ack travels with the next read (one round
        # trip per batch). A gateway that dies meanwhile delivers that batch again when it restarts.
        delivered: list[bytes] = []
        try:
            await self._retry(lambda: self._ensure_group(key, self.GATEWAY_GROUP))
            pending_first = True  # after a gateway restart, events read but not delivered come first
            while True:
                raise_if_cancelled()  # a cancel redis-py's send lost (Python 3.11) still ends the loop
                last = self._closing.is_set()
                block = None if last else self.settings.block_ms
                start_id = "0" if pending_first else ">"
                try:
                    batch = await self._retry(
                        partial(self._read_out, key, destination, start_id, block, delivered), until_closed=True
                    )
                except BusClosed:
                    return
                except ResponseError as exc:
                    if "NOGROUP" in str(exc):  # redis came back empty: nothing left to acknowledge
                        delivered = []
                        await self._retry(lambda: self._ensure_group(key, self.GATEWAY_GROUP))
                        continue
                    raise
                delivered = []
                entries = batch[0][1] if batch else []
                if pending_first and not entries:
                    pending_first = False
                    continue
                for entry_id, raw in entries:
                    delivered.append(entry_id)
                    if not raw:  # pending entry deleted meanwhile
                        continue
                    try:
                        event = decode_event(*_unfields(raw))
                    except CodecError as exc:
                        log.error("%s: dropping undecodable outgoing entry %s: %s", destination, entry_id, exc)
                        continue
                    yield event
                if last and not entries:
                    return
        finally:
            self._outgoing_readers -= 1
            if delivered and self._redis is not None:
                with contextlib.suppress(*_UNREACHABLE, ResponseError):
                    await self._ack_out(key, delivered)

    async def _read_out(
        self, key: str, consumer: str, start_id: str, block: int | None, delivered: list[bytes]
    ) -> Any:
        """Acknowledge ``delivered`` (if any) and read the next batch, in one round trip."""
        if not delivered:
            return await self.redis.xreadgroup(self.GATEWAY_GROUP, consumer, {key: start_id}, count=64, block=block)
        # evalsha by hand: a pipeline given the script object asks SCRIPT EXISTS first, a round trip more
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(self._scripts["ack_out"].sha, 1, key, self.GATEWAY_GROUP, *delivered)
            pipe.xreadgroup(self.GATEWAY_GROUP, consumer, {key: start_id}, count=64, block=block)
            acked, batch = await pipe.execute(raise_on_error=False)
        if isinstance(batch, Exception):
            raise batch
        if isinstance(acked, Exception):  # NOSCRIPT after a redis restart: the script object loads it
            await self._ack_out(key, delivered)
        return batch

    async def _ack_out(self, key: str, entry_ids: list[bytes]) -> None:
        await self._scripts["ack_out"](keys=[key], args=[self.GATEWAY_GROUP, *entry_ids])

    # -- worker side: send ----------------------------------------------------------------------

    async def send(self, event: OutgoingEvent) -> None:
        """Queue ``event`` for the writer; an answer (not a chat action or streamed piece) waits until it is in Redis."""
        if self._redis is None:
            raise BusClosed("bus is stopped")
        header, blobs = encode_event(event)
        out_key = self._out_key(event.target.destination)
        fields = _mapping(header, blobs)
        maxlen = self.settings.out_maxlen
        answered = None
        if isinstance(event, ReplyDone) and event.target.in_reply_to is not None:
            ref = event.target.in_reply_to
            answered = self._answered_key(f"{ref.platform}:{ref.chat_id}:{ref.message_id}")
        ttl_ms = int(self.settings.answered_ttl_s * 1000)

        def write(pipe: Any) -> None:
            pipe.xadd(out_key, fields, maxlen=maxlen, approximate=True)
            if answered is not None:
                pipe.set(answered, b"1", px=ttl_ms)

        if isinstance(event, ChatAction | ReplyDelta):
            self._write(write)  # the message's ack (or its reply) waits for it
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._write(write, done)
        await done

    def _write(self, write: Write, done: asyncio.Future[None] | None = None) -> None:
        """Queue ``write`` for the writer task; ``done`` is resolved once its batch is in Redis."""
        self._writes.append((write, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"{self.bot}-bus-writer")

    async def _write_loop(self) -> None:
        """Send everything queued in one transaction, in order, until nothing is queued."""
        while self._writes:
            batch, self._writes = self._writes, []

            async def run(batch: list[tuple[Write, asyncio.Future[None] | None]] = batch) -> list[Any]:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for write, _ in batch:
                        write(pipe)
                    result: list[Any] = await pipe.execute(raise_on_error=False)
                    return result

            try:
                # Keep trying even while stopping: a worker holding a reply hands it back or dies trying.
                results = await self._retry(run, until_closed=False)
            except BaseException as exc:
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else BusClosed("bus stopped"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.error("%s: %d writes failed: %r", self.bot, len(batch), exc)
                continue
            for failed in (r for r in results if isinstance(r, Exception)):
                log.error("%s: a write was refused by redis: %s", self.bot, failed)
            for _, done in batch:
                if done is not None and not done.done():
                    done.set_result(None)

    # -- worker side: deliveries -----------------------------------------------------------------

    async def deliveries(self) -> AsyncIterator[Delivery]:
        await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name=f"{self.bot}-bus-heartbeat")
        sweep_every = max(0.05, self.settings.claim_idle_s / 4)
        next_sweep = 0.0
        while not self._closing.is_set():
            raise_if_cancelled()  # a cancel redis-py's send lost (Python 3.11) still ends the loop
            now = time.monotonic()
            entries: list[tuple[bytes, dict[bytes, bytes]]] = []
            reclaimed = False
            try:
                if now >= next_sweep:
                    entries = await self._retry(self._reclaim)
                    reclaimed = bool(entries)
                    # more may be waiting: sweep again at once while the sweep comes back full
                    next_sweep = now if self._sweep_from not in ("0-0", b"0-0") else now + sweep_every
                if not entries:
                    room = self.settings.max_held - len(self._held)
                    # Few slots free: wait for more rather than read a few entries per round trip.
                    enough = max(1, min(self.settings.read_count, self.settings.max_held) // 2)
                    if room <= 0 or (room < enough and self._held):
                        self._held_changed.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._held_changed.wait(), sweep_every)
                        continue
                    block = max(1, min(self.settings.block_ms, int((next_sweep - time.monotonic()) * 1000)))
                    read = partial(self._read_in, min(room, self.settings.read_count), block)
                    batch = await self._retry(read)
                    entries = batch[0][1] if batch else []
            except BusClosed:
                return
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # redis came back without our data
                    log.warning("%s: consumer group missing (redis restarted empty?); recreating it", self.bot)
                    await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
                    continue
                raise
            decoded = [(eid, message) for eid, raw in entries if (message := await self._decode(eid, raw)) is not None]
            heads: set[bytes] = set()
            if not reclaimed:
                heads = {eid for eid, raw in entries if raw.get(b"head") == b"1"}  # headed an empty list when published
                unknown = [(eid, message) for eid, message in decoded if eid not in heads]
                if unknown:
                    heads |= await self._retry(partial(self._heads, unknown))
            for eid, message in decoded:
                delivery = await self._to_delivery(eid, message, reclaimed, eid in heads)
                if delivery is not None:
                    yield delivery

    async def _read_in(self, count: int, block: int) -> Any:
        return await self.redis.xreadgroup(self.GROUP, self.consumer, {self.in_key: ">"}, count=count, block=block)

    async def _decode(self, entry_id: bytes, raw: dict[bytes, bytes]) -> IncomingMessage | None:
        """The entry's message; an undecodable entry is logged and acknowledged (None)."""
        try:
            return decode_message(*_unfields(raw))
        except CodecError as exc:
            eid = entry_id.decode()
            log.error("%s: dropping undecodable incoming entry %s: %s", self.bot, eid, exc)
            metrics.ERRORS.labels(self.bot, "codec").inc()
            await self._ack_in(eid, None)
            return None

    async def _heads(self, decoded: list[tuple[bytes, IncomingMessage]]) -> set[bytes]:
        """The entries that head their chat's order list now (their turn needs no round trip), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, message in decoded:
                pipe.lindex(self._order_key(message.chat_key), 0)
            heads = await pipe.execute()
        return {eid for (eid, _), head in zip(decoded, heads, strict=True) if head == eid}

    async def _reclaim(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Entries idle longer than ``claim_idle_s`` (their worker died or stopped), now ours."""
        idle_ms = int(self.settings.claim_idle_s * 1000)
        # Not bounded by max_held: held messages may be waiting for exactly these (older ones of their chats).
        result = await self.redis.xautoclaim(
            self.in_key, self.GROUP, self.consumer, idle_ms, self._sweep_from, count=self.settings.read_count
        )
        # The scan resumes where it stopped, so a long list of live entries cannot hide idle ones.
        self._sweep_from = result[0] if result[0] not in (b"0-0", "0-0") else "0-0"
        claimed = result[1]
        for deleted in result[2] if len(result) > 2 else ():
            log.warning("%s: pending entry %s was deleted before it was handled", self.bot, deleted)
        # Our own held entries grow idle too when the heartbeat is late (a loaded machine): claiming them
        # back refreshed them, and handing them out again would answer them twice.
        return [(eid, raw) for eid, raw in claimed if raw and _text(eid) not in self._held]

    async def _to_delivery(self, entry_id: bytes, message: IncomingMessage, reclaimed: bool, at_head: bool) -> Delivery | None:
        eid = entry_id.decode()
        if reclaimed:
            self.redelivered += 1
            metrics.REDELIVERIES.labels(self.bot).inc()
            answered = await self._retry(lambda: self.redis.exists(self._answered_key(message.key)))
            if answered:
                log.info("%s: redelivered %s was answered already; acknowledged without answering again", self.bot, message.key)
                metrics.DUPLICATES_SKIPPED.labels(self.bot).inc()
                await self._ack_in(eid, message.chat_key)
                return None
            log.info("%s: %s reclaimed from a worker that stopped or died", self.bot, message.key)
        attempts = await self._retry(lambda: self._attempts(eid)) if reclaimed else 1
        self._held[eid] = message.chat_key

        async def ack() -> None:
            await self._ack_in(eid, message.chat_key)

        first_turn = at_head  # it headed its chat when read, and only its own ack changes that

        async def turn() -> None:
            nonlocal first_turn
            if first_turn:
                first_turn = False
                return
            await self._turn(eid, message.chat_key)

        return Delivery(message, ack=ack, turn=turn, redelivered=reclaimed, delivery_id=eid, attempts=attempts)

    async def _attempts(self, eid: str) -> int:
        """How many times the entry has been handed out (XAUTOCLAIM counts each claim)."""
        rows = await self.redis.xpending_range(self.in_key, self.GROUP, eid, eid, 1)
        return int(rows[0]["times_delivered"]) if rows else 1

    async def _ack_in(self, eid: str, chat_key: str | None) -> None:
        """Acknowledge ``eid`` after every write queued before it (one transaction with them); retries until done."""
        order_key = self._order_key(chat_key) if chat_key else f"{self.settings.namespace}:order:?"
        in_key, group = self.in_key, self.GROUP

        def write(pipe: Any) -> None:
            pipe.xack(in_key, group, eid)
            pipe.xdel(in_key, eid)
            pipe.lrem(order_key, 1, eid)

        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._write(write, done)
        await done
        if self._held.pop(eid, None) is not None:
            self._held_changed.set()
        if chat_key and (event := self._chat_done.get(chat_key)) is not None:
            event.set()  # wakes a held message of the same chat at once
            if chat_key not in self._held.values():
                del self._chat_done[chat_key]

    async def _turn(self, eid: str, chat_key: str) -> None:
        """Wait until ``eid`` heads its chat's order list (every earlier message was acknowledged)."""
        order_key = self._order_key(chat_key)
        delay = 0.002
        while True:
            raise_if_cancelled()
            head = await self._retry(lambda: self.redis.lindex(order_key, 0), until_closed=False)
            if head is None or _text(head) == eid:
                return
            # A head whose entry is gone (deleted, or trimmed by hand) would block the chat forever.
            exists = await self._retry(partial(self._entry_exists, head), until_closed=False)
            if not exists:
                log.warning("%s: dropping stale order entry %s of %s", self.bot, _text(head), chat_key)
                await self._retry(partial(self._drop_order_entry, order_key, head), until_closed=False)
                continue
            event = self._chat_done.setdefault(chat_key, asyncio.Event())
            event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), delay)  # woken at once when we acked that chat here
            delay = min(0.02, delay * 1.5)

    async def _entry_exists(self, eid: bytes | str) -> bool:
        return bool(await self.redis.xrange(self.in_key, eid, eid, count=1))

    async def _drop_order_entry(self, order_key: str, eid: Any) -> None:
        await self.redis.lrem(order_key, 1, eid)

    async def _beat(self) -> None:
        """Keep the idle time of held entries low so no other worker takes them from a live one."""
        every = max(0.05, self.settings.claim_idle_s / 3)
        while True:
            raise_if_cancelled()  # stop() awaits this task: a lost cancel would hold it for ever
            await asyncio.sleep(every)
            if not self._held:
                continue
            try:
                # Only entries still ours: one another worker took (we stalled too long) stays theirs.
                owned = await self.redis.xpending_range(
                    self.in_key, self.GROUP, "-", "+", max(len(self._held) * 2, 64), consumername=self.consumer
                )
                ids: list[Any] = [p["message_id"] for p in owned if _text(p["message_id"]) in self._held]
                if ids:
                    await self.redis.xclaim(self.in_key, self.GROUP, self.consumer, 0, ids, justid=True)
            except _UNREACHABLE as exc:
                self._outage.failed(exc, every)
            except ResponseError as exc:
                log.warning("%s: heartbeat failed: %s", self.bot, exc)

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
