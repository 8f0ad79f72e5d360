"""The gateway side of the Redis Streams bus: incoming messages in (batched, with an outbox while redis is away), replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from core import metrics
from core.codec import decode_event, encode_message, inline_attachments
from core.distributed.backoff import redis_backoff
from core.distributed.redis_base import _UNREACHABLE, RedisBusBase, _fields, _unfields
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
        """Append messages with the publish script, all in one round trip (one by one if the script is missing)."""
        if len(items) == 1:
            await self._append(*items[0])
            return
        ttl_ms = int(self.settings.answered_ttl_s * 1000)
        sha = self._scripts["publish"].sha
        async with asyncio.timeout(self._call_timeout_s), self.batches.pipeline(transaction=False) as pipe:
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
