"""The worker side of the Redis Streams bus: deliveries in chat order, reclaiming, heartbeats, acks, handing back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from redis.exceptions import ResponseError

from core import metrics
from core.bus import Delivery
from core.codec import decode_message
from core.distributed.redis_base import _UNREACHABLE, ACK, Write, _text, _unfields, _wait
from core.distributed.redis_connection import RedisWrite
from core.distributed.redis_writer import BatchWriter
from core.distributed.resp_pipe import hash_reply
from core.errors import BusClosed, CodecError
from core.lifecycle import raise_if_cancelled
from core.model import IncomingMessage, OutgoingEvent
from core.stores.base import StoreWrite

log = logging.getLogger("core.distributed.redis_bus")


class WorkerSide(BatchWriter):
    """``deliveries``, ``send_with`` and the entries a worker holds: what the pipeline's process uses."""

    # -- worker side: send with a store write and the ack ----------------------------------------

    async def send_with(self, event: OutgoingEvent, write: StoreWrite, ack: Delivery | None = None) -> bool:
        """One transaction: ``event``, a Redis store write for the same server (the reply and its memory),
        and with ``ack`` the acknowledgement of that delivery, so the answer, its memory and the end of the
        message land together (a redelivery then never sees one without the others)."""
        carried = isinstance(write, RedisWrite) and write.connection.url == self.settings.url
        eid = ack.delivery_id if ack is not None and ack.delivery_id in self._held else None
        chat_key = self._held[eid] if eid is not None else None
        extra: list[Write] = []
        if carried:
            assert isinstance(write, RedisWrite)
            extra.append(write.commands)
        if eid is not None:
            extra.append(self._ack_commands(eid, chat_key))
        await self._send(event, extra, marked=eid is None)
        if eid is not None:
            self._settled.add(eid)  # the pipeline's ack() of it returns at once
            self._acked(eid, chat_key)
        return carried

    # -- worker side: deliveries -----------------------------------------------------------------

    async def deliveries(self) -> AsyncIterator[Delivery]:
        if not await self._slots.take(self._closing):  # all of this machine's slots taken: stand by until one frees
            return
        await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name=f"{self.bot}-bus-heartbeat")
        sweep_every = max(0.05, self.settings.claim_idle_s / 4)
        next_sweep = 0.0
        small_read = False  # the last read returned few entries while this worker was busy
        pause_s = self.settings.read_pause_ms / 1000
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
                        await _wait(self._held_changed, sweep_every)
                        continue
                    if small_read and self._held and pause_s > 0:
                        # Busy, and the last read was small (several workers share the stream, each woken
                        # by single entries): let entries gather. A worker with little in hand reads at once:
                        # at low load its messages end before the next arrives, and a pause would only add
                        # latency.
                        await asyncio.sleep(pause_s)
                        room = self.settings.max_held - len(self._held)
                    block = max(1, min(self.settings.block_ms, int((next_sweep - time.monotonic()) * 1000)))
                    read = partial(self._read_in, min(room, self.settings.read_count), block)
                    batch = await self._retry(read)
                    entries = batch[0][1] if batch else []
                    small_read = len(entries) < enough and len(self._held) >= max(2, enough // 2)
            except BusClosed:
                return
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # redis came back without our data
                    log.warning("%s: consumer group missing (redis restarted empty?); recreating it", self.bot)
                    await self._retry(lambda: self._ensure_group(self.in_key, self.GROUP))
                    continue
                raise
            decoded: list[tuple[bytes, IncomingMessage]] = []
            for eid, raw in entries:
                try:
                    decoded.append((eid, decode_message(*_unfields(raw))))
                except CodecError as exc:
                    await self._drop_undecodable(eid, exc)
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

    async def _read_in(self, count: int, block: int) -> list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]:
        """``XREADGROUP`` on the worker's own pipe (a blocking read holds its connection), shaped as redis-py shapes it."""
        if self._read_pipe is None:
            raise BusClosed("bus is not started")
        command = ("XREADGROUP", "GROUP", self.GROUP, self.consumer, "COUNT", count, "BLOCK", block, "STREAMS", self.in_key, ">")
        (reply,) = await self._read_pipe.execute([command], self._call_timeout_s)
        if isinstance(reply, ResponseError):  # NOGROUP after redis restarted empty: see deliveries
            raise reply
        return [(stream, [(eid, hash_reply(fields)) for eid, fields in entries]) for stream, entries in reply or ()]

    async def _drop_undecodable(self, entry_id: bytes, exc: CodecError) -> None:
        """An entry that is no message is logged and acknowledged."""
        eid = entry_id.decode()
        log.error("%s: dropping undecodable incoming entry %s: %s", self.bot, eid, exc)
        metrics.ERRORS.labels(self.bot, "codec").inc()
        await self._ack_in(eid, None)

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
        if eid in self._settled:  # acknowledged with its answer already (see send_with)
            self._settled.discard(eid)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._write(self._ack_commands(eid, chat_key), done)
        await done
        self._acked(eid, chat_key)

    def _ack_commands(self, eid: str, chat_key: str | None) -> Write:
        """``XACK``, ``XDEL`` and ``LREM`` of ``eid``, as one pseudo-command of the writer's apply script."""
        order_key = self._order_key(chat_key) if chat_key else f"{self.settings.namespace}:order:?"

        def write(pipe: Any) -> None:
            pipe.execute_command(ACK, eid, order_key)

        return write

    def _acked(self, eid: str, chat_key: str | None) -> None:
        """``eid`` is acknowledged in Redis: no longer held; a message of its chat waiting here goes on at once."""
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
            await _wait(event, delay)  # woken at once when we acked that chat here
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

    # -- worker side: handing back ---------------------------------------------------------------

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
