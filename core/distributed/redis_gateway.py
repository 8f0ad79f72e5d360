"""The gateway side of the Redis Streams bus: incoming messages in (batched, with an outbox while redis is away), replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from redis.exceptions import ResponseError

from core import metrics
from core.codec import decode_event, encode_message, inline_attachments
from core.distributed.backoff import redis_backoff
from core.distributed.redis_base import _UNREACHABLE, RedisBusBase, _fields, _unfields
from core.distributed.resp_pipe import RespPipe, hash_reply
from core.errors import BusClosed, BusUnavailable, CodecError
from core.lifecycle import raise_if_cancelled
from core.model import IncomingMessage, OutgoingEvent

log = logging.getLogger("core.distributed.redis_bus")


class GatewaySide(RedisBusBase):
    """``publish`` and ``outgoing``: what the adapters' process uses."""

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
        """Append messages with the publish script, all in one round trip, in order (on the lean pipe: a
        command tuple each, no redis-py pipeline; a script Redis lost is loaded again and those sent again)."""
        if self._publish_pipe is None:
            raise BusClosed("bus is not started")
        ttl_ms = int(self.settings.answered_ttl_s * 1000)
        sha, in_key = self._publish_sha, self.in_key
        commands = [("EVALSHA", sha, 2, in_key, order_key, ttl_ms, *fields) for fields, order_key in items]
        for result in await self._lua.execute(self._publish_pipe, commands, self._call_timeout_s):
            if isinstance(result, Exception):
                raise result

    async def _flush_outbox(self) -> None:
        """Append buffered messages in order, backing off while redis is unreachable."""
        backoff = redis_backoff()
        while self._outbox:
            message, fields, order_key = self._outbox[0]
            try:
                await self._append_many([(fields, order_key)])
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
        pipe = RespPipe(self.settings.url, connect_timeout_s=2.0)  # its own: a blocking read holds it
        try:
            await self._retry(lambda: self._ensure_group(key, self.GATEWAY_GROUP))
            pending_first = True  # after a gateway restart, events read but not delivered come first
            while True:
                raise_if_cancelled()
                last = self._closing.is_set()
                block = None if last else self.settings.block_ms
                start_id = "0" if pending_first else ">"
                try:
                    entries = await self._retry(
                        partial(self._read_out, pipe, key, destination, start_id, block, delivered), until_closed=True
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
                if pending_first and not entries:
                    pending_first = False
                    continue
                for entry_id, raw in entries:
                    delivered.append(entry_id)
                    if not raw:  # pending entry deleted meanwhile
                        continue
                    try:
                        event = decode_event(*_unfields(hash_reply(raw)))
                    except (CodecError, ValueError) as exc:
                        log.error("%s: dropping undecodable outgoing entry %s: %s", destination, entry_id, exc)
                        continue
                    yield event
                if last and not entries:
                    return
        finally:
            self._outgoing_readers -= 1
            if delivered and self._redis is not None:
                with contextlib.suppress(*_UNREACHABLE, ResponseError):
                    await self._ack_out(pipe, key, delivered)
            await pipe.close()

    async def _read_out(
        self, pipe: RespPipe, key: str, consumer: str, start_id: str, block: int | None, delivered: list[bytes]
    ) -> list[tuple[bytes, list[bytes] | None]]:
        """Acknowledge ``delivered`` (if any) and read the next batch, in one round trip: the entries
        as Redis sends them (id, flat field list, or None for a pending entry deleted meanwhile)."""
        read: tuple[Any, ...] = ("XREADGROUP", "GROUP", self.GATEWAY_GROUP, consumer, "COUNT", 64)
        if block is not None:
            read += ("BLOCK", block)
        read += ("STREAMS", key, start_id)
        commands: list[tuple[Any, ...]] = [read]
        if delivered:
            commands.insert(0, ("EVALSHA", self._ack_out_sha, 1, key, self.GATEWAY_GROUP, *delivered))
        timeout_s = self._call_timeout_s if block is not None else self.settings.call_timeout_s
        *acked, batch = await self._lua.execute(pipe, commands, timeout_s)
        for reply in (batch, *acked):
            if isinstance(reply, Exception):  # NOGROUP: see outgoing
                raise reply
        return batch[0][1] if batch else []

    async def _ack_out(self, pipe: RespPipe, key: str, entry_ids: list[bytes]) -> None:
        command = ("EVALSHA", self._ack_out_sha, 1, key, self.GATEWAY_GROUP, *entry_ids)
        (acked,) = await self._lua.execute(pipe, [command], self.settings.call_timeout_s)
        if isinstance(acked, Exception):
            raise acked
