"""Issue 15: what one message costs in Redis round trips, and what lands together.

A real, private redis-server; round trips are the socket reads redis-server counts
(``total_reads_processed``: one per client round trip) or the store connection's own count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis as sync_redis

from core.distributed.redis_bus import RedisBus, RedisBusSettings
from core.distributed.redis_stores import (
    RedisConnection,
    RedisConversationStore,
    RedisDedupeStore,
    RedisRateCounter,
    RedisSettingsStore,
)
from core.engine import Conversation, DialogueEngine, Persona
from core.engines.chain import EngineChain
from core.errors import StoreError
from core.model import ChatAction, ReplyDone, ReplyTarget, Turn
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from tests.harness import message
from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


class Echo(DialogueEngine):
    """Answers at once."""

    name = "echo"

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        yield f"reply to {conversation.text}"


def reads(stats: sync_redis.Redis) -> int:
    return int(stats.info("stats")["total_reads_processed"])


def command_calls(stats: sync_redis.Redis, name: str) -> int:
    return int(stats.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


async def test_store_calls_made_together_share_one_round_trip(redis_server: RedisServer) -> None:
    connection = RedisConnection(redis_server.url, "t")
    history, settings = RedisConversationStore(connection), RedisSettingsStore(connection)
    dedupe, counter = RedisDedupeStore(connection), RedisRateCounter(connection)
    stats = sync_redis.Redis.from_url(redis_server.url)
    await connection.acquire()
    try:
        await history.append("web:c1", Turn("user", "hi", 1.0, "Ann"))
        await settings.update("facts:web:c1", {"name": "Ann"})
        before, sent = reads(stats), connection.round_trips
        claimed, turns, facts, count = await asyncio.gather(
            dedupe.claim("m1", 60), history.recent("web:c1"), settings.get("facts:web:c1"), counter.hit("u1", 60)
        )
        round_trips = reads(stats) - before - 1  # the INFO itself is one
    finally:
        await connection.release()
        stats.close()
    assert (claimed, [t.text for t in turns], facts, count) == (True, ["hi"], {"name": "Ann"}, 1)
    assert round_trips == 1, round_trips
    assert connection.round_trips - sent == 1


async def test_a_refused_call_fails_alone_in_its_shared_round_trip(redis_server: RedisServer) -> None:
    connection = RedisConnection(redis_server.url, "t")
    history, dedupe = RedisConversationStore(connection), RedisDedupeStore(connection)
    await connection.acquire()
    try:
        await RedisSettingsStore(connection).update("x", {"a": 1})
        wrong = history.recent("x")  # a list read of a hash key: WRONGTYPE
        wrong_key = connection.key("history", "x")
        await connection.run("make it a hash", lambda pipe: pipe.rename(connection.key("settings", "x"), wrong_key))
        results = await asyncio.gather(wrong, dedupe.claim("m1", 60), return_exceptions=True)
    finally:
        await connection.release()
    assert isinstance(results[0], StoreError) and "WRONGTYPE" in str(results[0])
    assert results[1] is True


def worker_services(connection: RedisConnection) -> BotServices:
    return BotServices(
        name="bot",
        persona=Persona("T", "t", "hi"),
        engine=EngineChain([Echo()], 10, 10),
        conversations=RedisConversationStore(connection),
        settings=RedisSettingsStore(connection),
        dedupe=RedisDedupeStore(connection),
        counter=RedisRateCounter(connection),
        config=PipelineSettings(flood=FloodLimits(0, 0, 1)),
    )


async def test_a_message_reads_its_claim_history_and_facts_in_one_round_trip_and_writes_none_of_its_own(
    redis_server: RedisServer,
) -> None:
    """The dedupe claim, history and facts share the first round trip; the memory of the answer goes
    in the bus's transaction with the reply and the ack. A chat with no facts reads them once."""
    base = RedisBusSettings(url=redis_server.url, namespace="t:bot", claim_idle_s=5, block_ms=100)
    gateway = RedisBus(base, bot="bot")
    bus = RedisBus(replace(base, consumer="w"), bot="bot")
    connection = RedisConnection(redis_server.url, "t")
    services = worker_services(connection)
    stats = sync_redis.Redis.from_url(redis_server.url)
    await gateway.start()
    await bus.start()
    await connection.acquire()
    pipeline = Pipeline(services, bus)
    await pipeline.start()
    replies: list[ReplyDone] = []
    states: list[tuple[int, int, int]] = []
    order_key, history_key = bus._order_key("test:c1"), connection.key("history", "test:c1")

    async def collect() -> None:
        async for event in gateway.outgoing("test"):
            if isinstance(event, ReplyDone):
                # what Redis holds the moment the reply can be read: its memory, and the message acknowledged
                states.append((stats.llen(history_key), stats.llen(order_key), stats.xlen(bus.in_key)))  # type: ignore[arg-type]
                replies.append(event)

    reader = asyncio.create_task(collect())
    try:
        for i in range(3):
            sent, hgetall = connection.round_trips, command_calls(stats, "hgetall")
            await gateway.publish(message(f"m{i}", chat="c1"))
            while len(replies) < i + 1:
                await asyncio.sleep(0.005)
            assert connection.round_trips - sent == 1, "claim, history and facts in one round trip; no write of its own"
            assert command_calls(stats, "hgetall") - hgetall == 1, "facts read once: read ahead, used by RememberFacts and the dialogue"
    finally:
        await pipeline.stop()
        await bus.stop()
        await gateway.stop()
        reader.cancel()
        await connection.release()
        stats.close()
    assert [r.text for r in replies] == ["reply to m0", "reply to m1", "reply to m2"]
    assert states == [(2, 0, 0), (4, 0, 0), (6, 0, 0)], "reply, memory and ack land together"


async def test_typing_waits_briefly_for_the_reply_and_goes_alone_when_none_comes(redis_server: RedisServer) -> None:
    stats = sync_redis.Redis.from_url(redis_server.url)
    bus = RedisBus(RedisBusSettings(url=redis_server.url, namespace="t:bot", consumer="w", coalesce_ms=20), bot="bot")
    await bus.start()
    if bus._gauges is not None:
        bus._gauges.cancel()
    try:
        incoming = message("hello", chat="c9")
        target = ReplyTarget("gw", incoming.chat, incoming.ref)
        await bus.send(ReplyDone("r0", target, "warm"))  # connections open before counting
        before = reads(stats)
        await bus.send(ChatAction(target, "typing"))
        await asyncio.sleep(0.005)  # an instant engine answers well within coalesce_ms
        await bus.send(ReplyDone("r1", target, "hello back"))
        together = reads(stats) - before - 1
        await bus.send(ChatAction(target, "typing"))  # a slow engine: typing goes out after coalesce_ms
        await asyncio.sleep(0.3)
        out = await bus.redis.xlen(bus._out_key("gw"))
    finally:
        await bus.stop()
        stats.close()
    assert together == 1, together
    assert out == 3, "the first typing was left out (its reply followed in the same write), the second went alone"


async def test_history_read_in_one_parse_still_skips_malformed_entries(redis_server: RedisServer) -> None:
    connection = RedisConnection(redis_server.url, "t")
    history = RedisConversationStore(connection)
    await connection.acquire()
    try:
        await history.append("web:c1", Turn("user", "hi", 1.0, "Ann"))
        key = connection.key("history", "web:c1")
        await connection.run("spoil", lambda pipe: pipe.rpush(key, b"{not json", b"7", b'{"role": "bot"}'))
        await history.append("web:c1", Turn("bot", "hello", 2.0, "Bot"))
        spoiled = await history.recent("web:c1")
        await connection.run("unspoil", lambda pipe: pipe.lrem(key, 1, b"{not json"))
        partly = await history.recent("web:c1")  # every entry is JSON now: one parse, two rows skipped
    finally:
        await connection.release()
    assert [t.text for t in spoiled] == ["hi", "hello"]
    assert [t.text for t in partly] == ["hi", "hello"]


async def test_a_redis_that_stops_answering_gives_a_store_error_and_the_connection_recovers(redis_server: RedisServer) -> None:
    """One deadline per round trip (not redis-py's per reply): a frozen server still times out."""
    import os
    import signal
    import time

    connection = RedisConnection(redis_server.url, "t", retry_for_s=0.6)
    connection.call_timeout_s = 0.2
    settings = RedisSettingsStore(connection)
    await connection.acquire()
    pid = redis_server.pid
    assert pid is not None
    try:
        await settings.update("s", {"a": 1})
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            with pytest.raises(StoreError, match="unreachable"):
                await settings.get("s")
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await settings.get("s") == {"a": 1}, "a timed-out connection leaves no stale reply behind"
    finally:
        await connection.release()
    assert waited < 3.0, waited


async def test_a_reply_written_while_redis_is_frozen_goes_out_once_it_answers_again(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's round trip has one deadline (not one per reply): past it, the connection is
    dropped and the write retried, and ``send`` returns once the reply is in Redis."""
    import os
    import signal

    bus = RedisBus(
        RedisBusSettings(url=redis_server.url, namespace="t:bot", consumer="w", block_ms=100, call_timeout_s=0.2), bot="bot"
    )
    await bus.start()
    pid = redis_server.pid
    assert pid is not None
    try:
        incoming = message("hello", chat="c9")
        target = ReplyTarget("gw", incoming.chat, incoming.ref)
        os.kill(pid, signal.SIGSTOP)
        try:
            sending = asyncio.ensure_future(bus.send(ReplyDone("r1", target, "hello back")))
            await asyncio.sleep(1.0)  # several deadlines pass
            waiting = not sending.done()
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.wait_for(sending, 10)
        out = [fields for _, fields in await bus.redis.xrange(bus._out_key("gw")) or []]
    finally:
        await bus.stop()
    assert waiting, "send waits while the reply is not in redis"
    assert out, "the reply went out once redis answered again"
    assert "unreachable" in caplog.text, "the round trip's deadline passed, and the write was retried"


async def stop_reader(reader: asyncio.Task[None], bus: RedisBus, gateway: RedisBus) -> None:
    """Teardown of the reader tests: a reader still running (the defect) is ended by closing the bus."""
    if not reader.done():
        bus._closing.set()
        await asyncio.wait({reader}, timeout=3.0)
    await bus.stop()
    await gateway.stop()


async def test_a_reader_waiting_for_free_slots_stops_when_cancelled_as_a_slot_frees(redis_server: RedisServer) -> None:
    """Regression: a worker hung on SIGTERM. Its reader, waiting for free slots, was cancelled just as an
    ack freed one; ``asyncio.wait_for`` (Python 3.11) returned instead of raising, and it read on forever."""
    gateway = RedisBus(RedisBusSettings(url=redis_server.url, namespace="t:bot"), bot="bot")
    bus = RedisBus(
        RedisBusSettings(url=redis_server.url, namespace="t:bot", consumer="w", max_held=2, read_count=4, block_ms=100),
        bot="bot",
    )
    await gateway.start()
    await bus.start()
    taken = []

    async def consume() -> None:
        async for delivery in bus.deliveries():
            taken.append(delivery)

    reader = asyncio.create_task(consume())
    try:
        for i in range(3):
            await gateway.publish(message(f"m{i}", chat=f"c{i}"))
        for _ in range(200):
            if len(taken) == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the reader now waits for a free slot
        bus._held_changed.set()  # a slot frees (an ack) ...
        reader.cancel()  # ... as the worker stops
        await asyncio.wait({reader}, timeout=2.0)
        stopped = reader.done()
    finally:
        await stop_reader(reader, bus, gateway)
    assert len(taken) == 2
    assert stopped, "the reader went on reading after it was cancelled"


async def test_a_reader_whose_cancellation_was_swallowed_below_it_still_stops(redis_server: RedisServer) -> None:
    """Regression: redis-py sends through ``asyncio.wait_for``, which (Python 3.11) can swallow a
    cancellation that arrives as the send completes; the reader must stop all the same."""
    gateway = RedisBus(RedisBusSettings(url=redis_server.url, namespace="t:bot"), bot="bot")
    bus = RedisBus(RedisBusSettings(url=redis_server.url, namespace="t:bot", consumer="w", block_ms=100), bot="bot")
    await gateway.start()
    await bus.start()
    taken = []

    async def consume() -> None:
        async for delivery in bus.deliveries():
            taken.append(delivery)
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            try:
                await asyncio.sleep(0)  # the cancellation lands here ...
            except asyncio.CancelledError:
                pass  # ... and is swallowed, as wait_for does below the bus

    reader = asyncio.create_task(consume())
    try:
        await gateway.publish(message("m0", chat="c0"))
        await asyncio.wait({reader}, timeout=3.0)
        stopped = reader.done()
    finally:
        await stop_reader(reader, bus, gateway)
    assert len(taken) == 1
    assert stopped and reader.cancelled(), "the reader went on reading after it was cancelled"


async def test_the_apply_scripts_shorthands_write_what_the_commands_they_stand_for_write(redis_server: RedisServer) -> None:
    """A reply and its history carried in a worker's transaction (the apply script's ``@event`` and
    ``@history-append`` shorthands) land as the store's own write and a plain XADD do: the same
    entry, the same trimmed list, a changed version that another worker's read notices."""
    base = RedisBusSettings(url=redis_server.url, namespace="t:bot", out_maxlen=1000)
    bus = RedisBus(replace(base, consumer="w"), bot="bot")
    carried, alone, reader = (RedisConnection(redis_server.url, ns) for ns in ("carried", "alone", "carried"))
    stores = [RedisConversationStore(c, max_turns=3) for c in (carried, alone, reader)]
    stats = sync_redis.Redis.from_url(redis_server.url)
    await bus.start()
    for c in (carried, alone, reader):
        await c.acquire()
    target = ReplyTarget("test", message("x").chat)
    try:
        assert await stores[2].recent("test:c1") == []  # the reader keeps an (empty) window of the chat
        for i in range(3):  # five turns into a list of three
            turns = [Turn("user", f"q{i}", float(i), "Ann"), Turn("bot", f"a{i}", float(i), "Bot")][: 1 + (i > 0)]
            assert await bus.send_with(ReplyDone(f"r{i}", target, f"a{i}", streamed=False), stores[0].appending("test:c1", *turns))
            await stores[1].appending("test:c1", *turns).run()
        lists = [stats.lrange(f"{ns}:history:test:c1", 0, -1) for ns in ("carried", "alone")]
        versions = [stats.get(f"{ns}:history-version:test:c1") for ns in ("carried", "alone")]
        entries = stats.xrange(bus._out_key("test"))  # type: ignore[arg-type]
        read = await stores[2].recent("test:c1")
    finally:
        await bus.stop()
        for c in (carried, alone, reader):
            await c.release()
        stats.close()
    assert lists[0] == lists[1] and len(lists[0]) == 3, lists
    assert versions[0] is not None and versions[1] is not None
    assert [t.text for t in read] == ["a1", "q2", "a2"], "the carried write changed the version: read again"
    assert [sorted(fields) for _, fields in entries] == [[b"h"]] * 3
    assert [b'"text":"a%d"' % i in fields[b"h"] for i, (_, fields) in enumerate(entries)] == [True] * 3
