"""The Redis Streams bus against a real, private redis-server: delivery, order, reclaim, restarts."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Self

import pytest
import redis.asyncio as aioredis

from core.bus import Delivery
from core.codec import decode_message
from core.distributed.redis_bus import RedisBus, RedisBusSettings, _unfields
from core.distributed.redis_stores import RedisConnection, RedisConversationStore, RedisDedupeStore, RedisSettingsStore
from core.engine import Conversation, DialogueEngine, Persona
from core.engines.chain import EngineChain
from core.model import OutgoingEvent, ReplyDone, ReplyTarget, ReplyVoice, VoiceClip
from core.pipeline.context import BotServices, Context
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryRateCounter, MemorySettingsStore
from tests.harness import message
from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


class Numbered(DialogueEngine):
    """Answers ``reply to <text>`` after a random short pause, so workers interleave."""

    name = "numbered"

    def __init__(self, max_delay_s: float = 0.005) -> None:
        self.max_delay_s = max_delay_s
        self.calls = 0

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        self.calls += 1
        await asyncio.sleep(random.uniform(0, self.max_delay_s))
        yield f"reply to {conversation.text}"


def settings(server: RedisServer, **changes: object) -> RedisBusSettings:
    base = {"url": server.url, "namespace": "t:bot", "claim_idle_s": 0.5, "block_ms": 100}
    base.update(changes)
    return RedisBusSettings(**base)  # type: ignore[arg-type]


def services(engine: DialogueEngine, dedupe: RedisDedupeStore, shared: RedisConnection | None = None) -> BotServices:
    """A worker's services; with ``shared``, its memory and settings live in redis too."""
    config = PipelineSettings(flood=FloodLimits(0, 0, 1))
    return BotServices(
        name="bot",
        persona=Persona("T", "t", "hi"),
        engine=EngineChain([engine], 10, 10),
        conversations=RedisConversationStore(shared) if shared else MemoryConversationStore(),
        settings=RedisSettingsStore(shared) if shared else MemorySettingsStore(),
        dedupe=dedupe,
        counter=MemoryRateCounter(),
        config=config,
    )


@asynccontextmanager
async def worker(
    server: RedisServer, engine: DialogueEngine, name: str, shared_state: bool = False, **changes: object
) -> AsyncIterator[Pipeline]:
    """A worker with its own connections (as a separate process would have)."""
    bus = RedisBus(settings(server, consumer=name, **changes), bot="bot")
    connection = RedisConnection(str(changes.get("url", server.url)), "t")
    dedupe = RedisDedupeStore(connection)
    svc = services(engine, dedupe, connection if shared_state else None)
    await bus.start()
    for store in (dedupe, svc.conversations, svc.settings):
        await store.start()
    pipeline = Pipeline(svc, bus)
    await pipeline.start()
    try:
        yield pipeline
    finally:
        await pipeline.stop()
        await bus.stop()
        for store in (dedupe, svc.conversations, svc.settings):
            await store.stop()


class Gateway:
    """The gateway half: publishes and collects the events for destination ``test``."""

    def __init__(self, server: RedisServer, **changes: object) -> None:
        self.bus = RedisBus(settings(server, **changes), bot="bot")
        self.events: list[OutgoingEvent] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.bus.start()
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bus.stop()
        if self._task:
            self._task.cancel()

    async def _collect(self) -> None:
        async for event in self.bus.outgoing("test"):
            self.events.append(event)

    def done(self) -> list[ReplyDone]:
        return [e for e in self.events if isinstance(e, ReplyDone)]

    async def wait_done(self, n: int, timeout_s: float = 60.0) -> list[ReplyDone]:
        async def until() -> None:
            while len(self.done()) < n:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(until(), timeout_s)
        await asyncio.sleep(0.2)  # anything extra (a duplicate) would arrive now
        return self.done()


async def eventually(condition: Callable[[], object], timeout_s: float = 30.0) -> None:
    """Wait until ``condition()`` holds; the bound is generous (a loaded CI box), never what a test measures."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def by_chat(replies: Sequence[ReplyDone]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in replies:
        out.setdefault(r.target.chat.id, []).append(r.text)
    return out


async def test_round_trip_keeps_every_field(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw, worker(redis_server, Numbered(0), "w1"):
        m = message("hello there", chat="c1")
        await gw.bus.publish(m)
        [reply] = await gw.wait_done(1)
    assert reply.text == "reply to hello there"
    assert reply.target.chat == m.chat
    assert reply.target.in_reply_to == m.ref
    assert reply.target.destination == "test"


async def test_regression_a_unix_socket_url_carries_the_bus_and_the_stores(redis_server: RedisServer) -> None:
    """A ``unix://`` URL once failed on the bus's first command: redis-py passed the TCP keepalive option on
    to its Unix socket connection (TypeError)."""
    url = redis_server.unix_url
    async with Gateway(redis_server, url=url) as gw, worker(redis_server, Numbered(0), "w1", shared_state=True, url=url):
        m = message("over the socket", chat="c1")
        await gw.bus.publish(m)
        [reply] = await gw.wait_done(1)
    assert reply.text == "reply to over the socket"
    client = aioredis.Redis.from_url(redis_server.url)  # seen over TCP
    try:
        history = await client.lrange(f"t:history:{m.chat_key}", 0, -1)
    finally:
        await client.aclose()
    assert [json.loads(item)["text"] for item in history] == ["over the socket", "reply to over the socket"]


async def test_voice_clip_crosses_the_bus_byte_for_byte(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        worker_bus = RedisBus(settings(redis_server, consumer="w"), bot="bot")
        await worker_bus.start()
        m = message("hi")
        clip = VoiceClip(bytes(range(256)) * 100, "audio/ogg", 1.25, b"\x00\x10\xff", "piper", "joe")
        target = ReplyTarget("test", m.chat, m.ref, m.addressed)
        await worker_bus.send(ReplyVoice("r1", target, clip, "hi"))
        await worker_bus.stop()
        await eventually(lambda: gw.events)
        await asyncio.sleep(0.2)  # anything extra would arrive now
    [event] = gw.events
    assert isinstance(event, ReplyVoice)
    assert event.clip == clip


async def test_two_workers_answer_each_message_once_in_order_per_chat(redis_server: RedisServer) -> None:
    e1, e2 = Numbered(0.01), Numbered(0.01)
    # one entry per read, so consecutive messages of a chat land on different workers; both live all along,
    # so the idle time is long enough (5 s) that a heartbeat late under CPU load does not hand one worker's
    # messages to the other (which answered one twice with the tests' usual 0.5 s)
    async with (
        Gateway(redis_server) as gw,
        worker(redis_server, e1, "w1", read_count=1, claim_idle_s=5),
        worker(redis_server, e2, "w2", read_count=1, claim_idle_s=5),
    ):
        sent: dict[str, list[str]] = {}
        for i in range(10):
            for c in range(3):
                text = f"c{c}-{i}"
                sent.setdefault(f"c{c}", []).append(f"reply to {text}")
                await gw.bus.publish(message(text, chat=f"c{c}"))
        replies = await gw.wait_done(30)
    assert len(replies) == 30
    assert by_chat(replies) == sent
    assert e1.calls > 0 and e2.calls > 0, "both workers should have taken messages"


async def _crash(bus: RedisBus) -> None:
    """Simulates kill -9 of the worker that owns ``bus``: its tasks stop, nothing is handed back."""
    for task in (bus._heartbeat, bus._gauges):
        if task is not None:
            task.cancel()
    bus._held.clear()
    bus._slots.release()  # the kernel drops a dead process's flock
    await bus.redis.aclose()
    bus._redis = None


async def test_messages_held_by_a_dead_worker_are_reclaimed_and_answered_once(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        dead = RedisBus(settings(redis_server, consumer="dead"), bot="bot")
        await dead.start()
        for i in range(5):
            await gw.bus.publish(message(f"m{i}", chat="c1"))
        taken: list[Delivery] = []
        async for delivery in dead.deliveries():
            taken.append(delivery)
            if len(taken) == 5:
                break
        await _crash(dead)
        survivor = Numbered(0)
        async with worker(redis_server, survivor, "w2") as pipeline:
            replies = await gw.wait_done(5)
            assert pipeline.bus.redelivered == 5  # type: ignore[attr-defined]
    assert [r.text for r in replies] == [f"reply to m{i}" for i in range(5)]


async def test_redelivered_after_its_reply_was_sent_is_not_answered_twice(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        dying = RedisBus(settings(redis_server, consumer="dying"), bot="bot")
        await dying.start()
        dedupe = RedisDedupeStore(RedisConnection(redis_server.url, "t"))
        await dedupe.start()
        pipeline = Pipeline(services(Numbered(0), dedupe), dying)
        await gw.bus.publish(message("once", chat="c1"))
        async for delivery in dying.deliveries():
            # The worker handles it fully, then dies before the acknowledgement.
            await pipeline._answer(Context(delivery.message, pipeline.services, dying))
            break
        await _crash(dying)
        survivor = Numbered(0)
        async with worker(redis_server, survivor, "w2") as p2:
            await gw.wait_done(1)
            await eventually(lambda: p2.bus.redelivered)  # type: ignore[attr-defined]  # the reclaim sweep saw it
            pending = 1
            for _ in range(3000):  # its acknowledgement follows (bounded: 30 s)
                if (pending := (await p2.bus.backlog()).pending) == 0:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # a second answer would arrive now
        await dedupe.stop()
    assert [r.text for r in gw.done()] == ["reply to once"]
    assert survivor.calls == 0
    assert pending == 0


async def test_graceful_stop_hands_back_unstarted_messages_at_once(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        leaving = RedisBus(settings(redis_server, consumer="leaving", claim_idle_s=30), bot="bot")
        await leaving.start()
        for i in range(3):
            await gw.bus.publish(message(f"m{i}", chat="c1"))
        n = 0
        async for _ in leaving.deliveries():
            n += 1
            if n == 3:
                break
        await leaving.stop()  # SIGTERM path: hands back what it holds
        started = asyncio.get_running_loop().time()
        async with worker(redis_server, Numbered(0), "w2", claim_idle_s=30):
            replies = await gw.wait_done(3)
        took = asyncio.get_running_loop().time() - started
    assert [r.text for r in replies] == ["reply to m0", "reply to m1", "reply to m2"]
    # well under the 30 s idle time (about 0.4 s unloaded; the margin is for a loaded CI box)
    assert took < 15, "handed-back messages must not wait for the 30 s idle time"


async def test_redis_restart_mid_run_loses_nothing(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw, worker(redis_server, Numbered(0), "w1"):
        for i in range(5):
            await gw.bus.publish(message(f"before{i}", chat="c1"))
        await gw.wait_done(5)
        redis_server.stop()
        for i in range(5):  # published while redis is down: kept by the gateway
            await gw.bus.publish(message(f"during{i}", chat="c1"))
        assert gw.bus.outbox_size == 5
        await asyncio.sleep(0.5)
        redis_server.start()
        replies = await gw.wait_done(10, timeout_s=30)
    assert [r.text for r in replies] == [f"reply to before{i}" for i in range(5)] + [f"reply to during{i}" for i in range(5)]


async def test_gateway_refuses_clearly_when_its_outbox_is_full(redis_server: RedisServer) -> None:
    from core.errors import BusUnavailable

    async with Gateway(redis_server, outbox_limit=2) as gw:
        redis_server.stop()
        await gw.bus.publish(message("a"))
        await gw.bus.publish(message("b"))
        with pytest.raises(BusUnavailable, match="not accepted"):
            await gw.bus.publish(message("c"))
        redis_server.start()


class Remembering(DialogueEngine):
    """Says what it heard and the previous user turn from memory."""

    name = "remembering"

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        before = [t.text for t in conversation.turns if t.role == "user"]
        yield f"heard {conversation.text}; before: {before[-1] if before else '-'}"


async def test_memory_and_settings_written_by_one_worker_are_seen_by_the_other(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        async with worker(redis_server, Remembering(), "w1", shared_state=True):
            await gw.bus.publish(message("my name is Ann", chat="c1", user="ann"))
            await gw.bus.publish(message("/voice rate 1.5", chat="c1", user="ann"))
            await gw.wait_done(2)
        # w1 is gone; w2 has never seen this chat, yet knows both
        async with worker(redis_server, Remembering(), "w2", shared_state=True):
            await gw.bus.publish(message("who am I?", chat="c1", user="ann"))
            await gw.bus.publish(message("/voice", chat="c1", user="ann"))
            replies = await gw.wait_done(4)
    assert replies[2].text == "heard who am I?; before: my name is Ann"
    assert "rate 1.5" in replies[3].text


async def test_a_message_every_worker_died_on_gets_an_apology_instead_of_another_attempt(redis_server: RedisServer) -> None:
    from core.pipeline.dialogue import APOLOGY

    async with Gateway(redis_server) as gw:
        await gw.bus.publish(message("poison", chat="c1"))
        for n in range(3):  # three workers take it and die (kill -9) before answering
            dying = RedisBus(settings(redis_server, consumer=f"dying{n}", claim_idle_s=0.2), bot="bot")
            await dying.start()
            async for delivery in dying.deliveries():
                assert delivery.attempts == n + 1
                break
            await _crash(dying)
            await asyncio.sleep(0.3)
        engine = Numbered(0)
        async with worker(redis_server, engine, "w4", claim_idle_s=0.2):
            [reply] = await gw.wait_done(1)
    assert reply.text == APOLOGY and reply.notice
    assert engine.calls == 0


async def test_handing_back_does_not_count_as_a_failed_attempt(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        await gw.bus.publish(message("hello", chat="c1"))
        for n in range(4):  # four graceful restarts while holding it
            leaving = RedisBus(settings(redis_server, consumer=f"leaving{n}"), bot="bot")
            await leaving.start()
            async for delivery in leaving.deliveries():
                assert delivery.attempts <= 2
                break
            await leaving.stop()
        async with worker(redis_server, Numbered(0), "w5"):
            [reply] = await gw.wait_done(1)
    assert reply.text == "reply to hello"


async def _send_done(server: RedisServer, texts: Sequence[str]) -> None:
    """A worker's replies for destination ``test``, sent straight on the bus."""
    bus = RedisBus(settings(server, consumer="w"), bot="bot")
    await bus.start()
    m = message("hi")
    target = ReplyTarget("test", m.chat, m.ref, m.addressed)
    for i, text in enumerate(texts):
        await bus.send(ReplyDone(f"r{i}", target, text))
    await bus.stop()


async def _events(gw: Gateway, n: int) -> None:
    await eventually(lambda: len(gw.events) >= n)
    await asyncio.sleep(0.3)  # the ack goes with the next read; anything extra would arrive now


async def _out_pending(server: RedisServer) -> tuple[int, int]:
    """(pending, length) of the gateway's outgoing stream for ``test``."""
    client = aioredis.Redis.from_url(server.url)
    try:
        pending = await client.xpending("t:bot:out:test", RedisBus.GATEWAY_GROUP)
        return int(pending["pending"]), int(await client.xlen("t:bot:out:test"))
    finally:
        await client.aclose()


async def test_batch_acks_leave_nothing_to_deliver_again_after_a_gateway_restart(redis_server: RedisServer) -> None:
    async with Gateway(redis_server) as gw:
        await _send_done(redis_server, [f"t{i}" for i in range(5)])
        await _events(gw, 5)
    assert [e.text for e in gw.done()] == [f"t{i}" for i in range(5)]
    assert await _out_pending(redis_server) == (0, 0)  # acknowledged and deleted, at the stop at the latest
    async with Gateway(redis_server) as again:  # same consumer: reads its own pending list first
        await asyncio.sleep(0.5)
    assert again.events == []


async def test_a_flushed_ack_script_neither_strands_nor_repeats_replies(redis_server: RedisServer) -> None:
    """Regression: the ack rides in the read's pipeline; a NOSCRIPT there must not lose the read batch."""
    async with Gateway(redis_server) as gw:
        await _send_done(redis_server, ["a", "b"])
        await _events(gw, 2)
        client = aioredis.Redis.from_url(redis_server.url)
        await client.script_flush()  # as after a redis restart
        await client.aclose()
        await _send_done(redis_server, ["c", "d"])
        await _events(gw, 4)
        await _send_done(redis_server, ["e"])
        await _events(gw, 5)
        during = await _out_pending(redis_server)
    assert [e.text for e in gw.done()] == ["a", "b", "c", "d", "e"]
    assert during[0] <= 1  # at most the last batch waits for the next read
    assert await _out_pending(redis_server) == (0, 0)


async def test_a_worker_answers_after_redis_lost_its_scripts(redis_server: RedisServer) -> None:
    """The scripts are loaded again after NOSCRIPT (a restart without data) and the refused calls sent again: the
    gateway's publish and reply-ack scripts and the worker's apply script."""
    async with Gateway(redis_server) as gw, worker(redis_server, Numbered(0), "w1"):
        await gw.bus.publish(message("before", chat="c1"))
        await gw.wait_done(1)
        client = aioredis.Redis.from_url(redis_server.url)
        await client.script_flush()
        await client.aclose()
        await gw.bus.publish(message("after", chat="c1"))
        replies = await gw.wait_done(2)
    assert [r.text for r in replies] == ["reply to before", "reply to after"]


def _quiet(bus: RedisBus) -> None:
    """Stop the bus's periodic gauge reads, so round trips can be counted exactly."""
    if bus._gauges is not None:
        bus._gauges.cancel()


async def test_typing_streamed_piece_and_reply_share_one_round_trip(redis_server: RedisServer) -> None:
    """Issue 15: a worker's writes are queued and sent together; the answer returns once it is in redis."""
    import redis as sync_redis

    from core.model import ChatAction, ReplyDelta

    stats = sync_redis.Redis.from_url(redis_server.url)
    bus = RedisBus(settings(redis_server, consumer="w"), bot="bot")
    await bus.start()
    _quiet(bus)
    try:
        incoming = message("hello", chat="c9")
        target = ReplyTarget("gw", incoming.chat, incoming.ref)
        await bus.send(ChatAction(target, "typing"))  # warm: the connections exist before counting
        before = int(stats.info("stats")["total_reads_processed"])
        await bus.send(ChatAction(target, "typing"))
        await bus.send(ReplyDelta("r1", target, 0, "hel"))
        await bus.send(ReplyDone("r1", target, "hello back"))
        # one read per client round trip; the second INFO is one itself
        round_trips = int(stats.info("stats")["total_reads_processed"]) - before - 1
        out = await bus.redis.xrange(bus._out_key("gw")) or []
        answered = await bus.redis.exists(bus._answered_key(incoming.key))
    finally:
        await bus.stop()
        stats.close()
    assert round_trips == 1, round_trips
    kinds = [json.loads(fields[b"h"])["type"] for _, fields in out]
    assert kinds == ["ReplyDelta", "ReplyDone"], "the typing actions their answer followed in the same write were left out"
    assert answered == 1, "the reply and its answered marker went together"


async def test_a_chat_action_stays_unless_an_answer_to_its_own_message_follows_it(redis_server: RedisServer) -> None:
    from core.model import ChatAction

    bus = RedisBus(settings(redis_server, consumer="w"), bot="bot")
    await bus.start()
    _quiet(bus)
    try:
        first, second = message("one", chat="c1"), message("two", chat="c2")
        to_first = ReplyTarget("gw", first.chat, first.ref)
        to_second = ReplyTarget("gw", second.chat, second.ref)
        # one batch: typing for both, the answer to the first only, then typing after that answer
        await bus.send(ChatAction(to_first, "typing"))
        await bus.send(ChatAction(to_second, "typing"))
        await bus.send(ReplyDone("r1", to_first, "done"))
        await bus.send(ChatAction(to_first, "record_voice"))
        await asyncio.sleep(0.3)  # the actions left go after action_hold_ms (50)
        out = await bus.redis.xrange(bus._out_key("gw")) or []
    finally:
        await bus.stop()
    events = [json.loads(fields[b"h"]) for _, fields in out]
    # c2's typing waited for its own answer past c1's reply (held, not dropped)
    assert [(e["type"], e["body"]["target"]["chat"]["id"]) for e in events] == [
        ("ReplyDone", "c1"), ("ChatAction", "c2"), ("ChatAction", "c1"),
    ]


async def test_concurrent_publishes_share_round_trips_and_keep_order(redis_server: RedisServer) -> None:
    """Issue 15: publishes that arrive together go in one pipeline, in the order they were made."""
    import redis as sync_redis

    stats = sync_redis.Redis.from_url(redis_server.url)
    bus = RedisBus(settings(redis_server), bot="bot")
    await bus.start()
    _quiet(bus)
    try:
        await bus.publish(message("warm", chat="c0"))  # the script is loaded, the connection open
        before = int(stats.info("stats")["total_reads_processed"])
        await asyncio.gather(*(bus.publish(message(f"m{i}", chat=f"c{i % 3}")) for i in range(30)))
        round_trips = int(stats.info("stats")["total_reads_processed"]) - before - 1
        entries = await bus.redis.xrange(bus.in_key) or []
        order = await bus.redis.lrange(bus._order_key(message("x", chat="c1").chat_key), 0, -1)
    finally:
        await bus.stop()
        stats.close()
    assert round_trips <= 2, round_trips  # the first alone, the other 29 queued behind it together
    decoded = [(eid, decode_message(*_unfields(raw))) for eid, raw in entries]  # type: ignore[arg-type]
    assert [m.text for _, m in decoded] == ["warm"] + [f"m{i}" for i in range(30)]
    assert order == [eid for eid, m in decoded if m.chat.id == "c1"], "each chat's order list follows the stream"


async def test_message_to_an_idle_chat_takes_its_turn_without_a_round_trip(redis_server: RedisServer) -> None:
    """Issue 15: published to an empty order list, an entry is marked as its chat's head; the next waits."""
    import redis as sync_redis

    stats = sync_redis.Redis.from_url(redis_server.url)
    gateway = RedisBus(settings(redis_server), bot="bot")
    bus = RedisBus(settings(redis_server, consumer="w"), bot="bot")
    await gateway.start()
    await bus.start()
    try:
        await gateway.publish(message("first", chat="c1"))
        await gateway.publish(message("second", chat="c1"))
        raw = [fields for _, fields in await bus.redis.xrange(bus.in_key) or []]
        taken: list[Delivery] = []
        async for delivery in bus.deliveries():
            taken.append(delivery)
            if len(taken) == 2:
                break
        before = int(stats.info("stats")["total_reads_processed"])
        await taken[0].turn()
        round_trips = int(stats.info("stats")["total_reads_processed"]) - before - 1
        second = asyncio.ensure_future(taken[1].turn())
        await asyncio.sleep(0.1)
        waited = not second.done()
        await taken[0].ack()
        await asyncio.wait_for(second, 2.0)
        await taken[1].ack()
    finally:
        await bus.stop()
        await gateway.stop()
        stats.close()
    assert [f.get(b"head") for f in raw] == [b"1", None]  # type: ignore[union-attr]
    assert round_trips == 0, round_trips
    assert waited, "the second message of the chat waits for the first one's ack"


async def test_a_worker_beyond_the_machines_slots_stands_by_and_takes_over_when_one_stops(redis_server: RedisServer) -> None:
    """Guards '4 workers never slower than 2' (issue 15): extra workers on a machine do not compete for its cores."""
    engines = [Numbered(0) for _ in range(3)]
    async with Gateway(redis_server) as gw, AsyncExitStack() as first, AsyncExitStack() as rest:
        await first.enter_async_context(worker(redis_server, engines[0], "w1", worker_slots=2))
        await rest.enter_async_context(worker(redis_server, engines[1], "w2", worker_slots=2))
        standby = await rest.enter_async_context(worker(redis_server, engines[2], "w3", worker_slots=2))
        assert isinstance(standby.bus, RedisBus)
        for i in range(20):
            await gw.bus.publish(message(f"a{i}", chat=f"c{i % 5}"))
        assert len(await gw.wait_done(20)) == 20
        assert engines[0].calls + engines[1].calls == 20 and engines[2].calls == 0, "the third worker read nothing"
        groups = await gw.bus.redis.xinfo_consumers(gw.bus.in_key, RedisBus.GROUP)
        assert "w3" not in {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}

        assert standby.bus._slots.held is None
        await first.aclose()  # w1 stops: its slot frees, and the standing-by w3 takes it
        await eventually(lambda: standby.bus._slots.held is not None, 5)  # type: ignore[attr-defined]
        engines[1].max_delay_s = 0.05  # w2 alone would otherwise answer the next twenty before w3 reads
        for i in range(20):
            await gw.bus.publish(message(f"b{i}", chat=f"c{i % 5}"))
        replies = await gw.wait_done(40)
    assert len(replies) == 40
    assert engines[2].calls > 0, "the standing-by worker took over"
    assert sum(e.calls for e in engines) == 40


async def test_an_entry_that_is_no_message_is_logged_and_acknowledged_and_the_next_one_answered(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream entry a worker cannot decode (written by hand, or by a broken gateway) is dropped with a
    clear reason, leaves nothing pending, and does not hold up the messages read with it."""
    async with Gateway(redis_server) as gw, worker(redis_server, Numbered(0), "w1") as pipeline:
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            await client.xadd(gw.bus.in_key, {"h": b"{not json"})
            await client.xadd(gw.bus.in_key, {"x": b"no header"})
            await gw.bus.publish(message("after the garbage", chat="c1"))
            [reply] = await gw.wait_done(1)
            await asyncio.wait_for(pipeline.idle(), 30)
            pending = await client.xpending(gw.bus.in_key, "workers")
            left = await client.xlen(gw.bus.in_key)
        finally:
            await client.aclose()
    assert reply.text == "reply to after the garbage"
    assert pending["pending"] == 0 and left == 0
    dropped = [r.getMessage() for r in caplog.records if "dropping undecodable incoming entry" in r.getMessage()]
    assert len(dropped) == 2 and "malformed message payload" in dropped[0] and "no header" in dropped[1], dropped
