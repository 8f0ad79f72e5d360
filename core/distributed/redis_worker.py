"""The worker side of the Redis Streams bus: deliveries in chat order, heartbeats, reclaiming, replies sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from functools import partial

from redis.exceptions import ResponseError
from redis.typing import StreamIdT

from core import metrics
from core.bus import Delivery
from core.codec import decode_message, encode_event
from core.distributed.redis_base import _UNREACHABLE, RedisBusBase, _fields, _stream_entries, _text, _unfields
from core.errors import BusClosed, CodecError
from core.model import OutgoingEvent, ReplyDone

log = logging.getLogger("core.distributed.redis_bus")


class WorkerSide(RedisBusBase):
    """``deliveries`` and ``send``: what the pipeline's process uses."""

    # -- worker side: send ----------------------------------------------------------------------

    async def send(self, event: OutgoingEvent) -> None:
        if self._redis is None:
            raise BusClosed("bus is stopped")
        header, blobs = encode_event(event)
        keys = [self._out_key(event.target.destination)]
        if isinstance(event, ReplyDone) and event.target.in_reply_to is not None:
            ref = event.target.in_reply_to
            keys.append(self._answered_key(f"{ref.platform}:{ref.chat_id}:{ref.message_id}"))
        args = [self.settings.out_maxlen, int(self.settings.answered_ttl_s * 1000), *_fields(header, blobs)]
        # Keep trying even while stopping: a worker holding a reply hands it back or dies trying.
        await self._retry(lambda: self._scripts["send"](keys=keys, args=args), until_closed=False)

    # -- worker side: deliveries -----------------------------------------------------------------

    async def deliveries(self) -> AsyncIterator[Delivery]:
        await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name=f"{self.bot}-bus-heartbeat")
        sweep_every = max(0.05, self.settings.claim_idle_s / 4)
        next_sweep = 0.0
        while not self._closing.is_set():
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
                    if room <= 0:
                        self._held_changed.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._held_changed.wait(), sweep_every)
                        continue
                    block = max(1, min(self.settings.block_ms, int((next_sweep - time.monotonic()) * 1000)))
                    batch = await self._retry(
                        partial(
                            self.redis.xreadgroup,
                            self.GROUP, self.consumer, {self.in_key: ">"}, count=min(room, self.settings.read_count), block=block
                        )
                    )
                    entries = _stream_entries(batch)
            except BusClosed:
                return
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # redis came back without our data
                    log.warning("%s: consumer group missing (redis restarted empty?); recreating it", self.bot)
                    await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
                    continue
                raise
            for entry_id, raw in entries:
                delivery = await self._to_delivery(entry_id, raw, reclaimed)
                if delivery is not None:
                    yield delivery

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
        return [(eid, raw) for eid, raw in claimed if raw]

    async def _to_delivery(self, entry_id: bytes, raw: dict[bytes, bytes], reclaimed: bool) -> Delivery | None:
        eid = entry_id.decode()
        try:
            message = decode_message(*_unfields(raw))
        except CodecError as exc:
            log.error("%s: dropping undecodable incoming entry %s: %s", self.bot, eid, exc)
            metrics.ERRORS.labels(self.bot, "codec").inc()
            await self._retry(lambda: self._ack_in(eid, None), until_closed=False)
            return None
        if reclaimed:
            self.redelivered += 1
            metrics.REDELIVERIES.labels(self.bot).inc()
            answered = await self._retry(lambda: self.redis.exists(self._answered_key(message.key)))
            if answered:
                log.info("%s: redelivered %s was answered already; acknowledged without answering again", self.bot, message.key)
                metrics.DUPLICATES_SKIPPED.labels(self.bot).inc()
                await self._retry(lambda: self._ack_in(eid, message.chat_key), until_closed=False)
                return None
            log.info("%s: %s reclaimed from a worker that stopped or died", self.bot, message.key)
        attempts = await self._retry(lambda: self._attempts(eid)) if reclaimed else 1
        self._held[eid] = message.chat_key

        async def ack() -> None:
            await self._retry(lambda: self._ack_in(eid, message.chat_key), until_closed=False)

        async def turn() -> None:
            await self._turn(eid, message.chat_key)

        return Delivery(message, ack=ack, turn=turn, redelivered=reclaimed, delivery_id=eid, attempts=attempts)

    async def _attempts(self, eid: str) -> int:
        """How many times the entry has been handed out (XAUTOCLAIM counts each claim)."""
        rows = await self.redis.xpending_range(self.in_key, self.GROUP, eid, eid, 1)
        return int(rows[0]["times_delivered"]) if rows else 1

    async def _ack_in(self, eid: str, chat_key: str | None) -> None:
        order_key = self._order_key(chat_key) if chat_key else f"{self.settings.namespace}:order:?"
        await self._scripts["ack"](keys=[self.in_key, order_key], args=[self.GROUP, eid])
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
            head = await self._retry(lambda: self.redis.lindex(order_key, 0), until_closed=False)
            if head is None or _text(head) == eid:
                return
            # A head whose entry is gone (deleted, or trimmed by hand) would block the chat forever.
            exists = await self._retry(partial(self.redis.xrange, self.in_key, head, head, count=1), until_closed=False)
            if not exists:
                log.warning("%s: dropping stale order entry %s of %s", self.bot, _text(head), chat_key)
                await self._retry(partial(self.redis.lrem, order_key, 1, _text(head)), until_closed=False)
                continue
            event = self._chat_done.setdefault(chat_key, asyncio.Event())
            event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), delay)  # woken at once when we acked that chat here
            delay = min(0.02, delay * 1.5)

    async def _beat(self) -> None:
        """Keep the idle time of held entries low so no other worker takes them from a live one."""
        every = max(0.05, self.settings.claim_idle_s / 3)
        while True:
            await asyncio.sleep(every)
            if not self._held:
                continue
            try:
                # Only entries still ours: one another worker took (we stalled too long) stays theirs.
                owned = await self.redis.xpending_range(
                    self.in_key, self.GROUP, "-", "+", max(len(self._held) * 2, 64), consumername=self.consumer
                )
                ids: list[StreamIdT] = [_text(p["message_id"]) for p in owned if _text(p["message_id"]) in self._held]
                if ids:
                    await self.redis.xclaim(self.in_key, self.GROUP, self.consumer, 0, ids, justid=True)
            except _UNREACHABLE as exc:
                self._outage.failed(exc, every)
            except ResponseError as exc:
                log.warning("%s: heartbeat failed: %s", self.bot, exc)

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
