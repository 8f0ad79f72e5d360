"""The gateway side of the Redis Streams bus: incoming messages in (with an outbox while redis is away), replies out."""

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
from core.distributed.redis_base import _UNREACHABLE, RedisBusBase, _fields, _stream_entries, _unfields
from core.errors import BusClosed, BusUnavailable, CodecError
from core.model import IncomingMessage, OutgoingEvent

log = logging.getLogger("core.distributed.redis_bus")


class GatewaySide(RedisBusBase):
    """``publish`` and ``outgoing``: what the adapters' process uses."""

    # -- gateway side: publish ----------------------------------------------------------------

    async def publish(self, message: IncomingMessage) -> None:
        if self._redis is None or self._closing.is_set():
            raise BusClosed("bus is stopped")
        message = await inline_attachments(message, self.settings.max_attachment_bytes)
        header, blobs = encode_message(message)
        fields = _fields(header, blobs)
        order_key = self._order_key(message.chat_key)
        metrics.MESSAGES_IN.labels(self.bot, message.platform).inc()
        if not self._outbox:
            try:
                await self._append(fields, order_key)
                self._outage.ok()
                return
            except _UNREACHABLE as exc:
                self._outage.failed(exc, 0.0)
        if len(self._outbox) >= self.settings.outbox_limit:
            metrics.ERRORS.labels(self.bot, "outbox_full").inc()
            raise BusUnavailable(
                f"redis unreachable and {len(self._outbox)} messages already waiting; {message.key} not accepted"
            )
        self._outbox.append((message, fields, order_key))
        metrics.OUTBOX.labels(self.bot).set(len(self._outbox))
        if self._outbox_task is None or self._outbox_task.done():
            self._outbox_task = asyncio.create_task(self._flush_outbox(), name=f"{self.bot}-outbox")

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
                entries = _stream_entries(batch)
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
