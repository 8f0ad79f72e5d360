"""Stopping the Redis bus's loops always ends, also when the cancel lands as redis-py sends a command.

Regression: on Python 3.11 redis-py sends each command through ``asyncio.wait_for`` (the socket
timeout), which loses a cancellation landing just as the send ends (see :mod:`tests.late_cancel`).
The worker's read loop, the gateway's reader and the bus's gauge loop then went on, and
``Pipeline.stop``, ``Adapter.stop`` and ``RedisBus.stop``, which wait for them, waited for ever: the
test suite hung under CPU load.
"""

from __future__ import annotations

import asyncio

import pytest

from core.distributed.redis_bus import RedisBus, RedisBusSettings
from core.distributed.redis_stores import RedisConnection, RedisDedupeStore
from core.engine import Persona
from core.engines.chain import EngineChain
from core.engines.echo import EchoEngine
from core.lifecycle import cancel_and_wait
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryRateCounter, MemorySettingsStore
from tests.harness import message
from tests.late_cancel import ends_within, started_within, stop_as_a_subtask_ends
from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


def _bus(server: RedisServer, consumer: str = "") -> RedisBus:
    return RedisBus(RedisBusSettings(url=server.url, namespace="t:stop", consumer=consumer, claim_idle_s=0.5, block_ms=100), bot="bot")


async def test_worker_stop_ends_when_its_cancel_lands_as_a_redis_command_is_sent(redis_server: RedisServer) -> None:
    bus = _bus(redis_server, "w1")
    dedupe = RedisDedupeStore(RedisConnection(redis_server.url, "t"))
    await bus.start()
    await dedupe.start()
    services = BotServices(
        name="bot",
        persona=Persona("T", "t", "hi"),
        engine=EngineChain([EchoEngine()], 10, 10),
        conversations=MemoryConversationStore(),
        settings=MemorySettingsStore(),
        dedupe=dedupe,
        counter=MemoryRateCounter(),
        config=PipelineSettings(),
    )
    pipeline = Pipeline(services, bus)
    await pipeline.start()  # its read loop runs in the task named pipeline-bot
    try:
        with stop_as_a_subtask_ends("pipeline-bot", pipeline.stop) as started:
            stopping = await started_within(started)
        ended = await ends_within(stopping)
    finally:
        await bus.stop()  # ends a read loop that went on (old code), so the test fails instead of hanging
        await pipeline.stop()
        await dedupe.stop()
    assert ended, "Pipeline.stop() waited for a read loop that lost its cancellation"


async def test_gateway_reader_stops_when_its_cancel_lands_as_a_redis_command_is_sent(redis_server: RedisServer) -> None:
    bus = _bus(redis_server)
    await bus.start()

    async def read() -> None:
        async for _ in bus.outgoing("test"):
            pass

    reader = asyncio.create_task(read(), name="gateway-reader")
    try:
        with stop_as_a_subtask_ends("gateway-reader", lambda: cancel_and_wait(reader)) as started:  # as Adapter.stop
            stopping = await started_within(started)
        ended = await ends_within(stopping)
    finally:
        await bus.stop()
    assert ended, "the gateway's reader lost its cancellation and read on"


async def test_bus_stop_ends_when_it_lands_as_the_gauge_read_is_sent(redis_server: RedisServer) -> None:
    bus = _bus(redis_server)
    await bus.start()  # the gauge loop (task bot-bus-gauges) reads the backlog every 2 s
    try:
        with stop_as_a_subtask_ends("bot-bus-gauges", bus.stop) as started:
            stopping = await started_within(started)
        ended = await ends_within(stopping)
    finally:
        if bus._gauges is not None:
            bus._gauges.cancel()  # a loop that went on (old code) ends here, so the test fails instead of hanging
    assert ended, "RedisBus.stop() waited for a gauge loop that lost its cancellation"


async def test_a_worker_whose_heartbeat_is_late_does_not_take_its_own_held_message_again(redis_server: RedisServer) -> None:
    """Regression (scale-out kill test answered messages twice under load): a loaded worker's heartbeat came
    late, its own sweep found the entries it was still handling idle and handed them out a second time."""
    gateway, bus = _bus(redis_server), RedisBus(
        RedisBusSettings(url=redis_server.url, namespace="t:stop", consumer="w", claim_idle_s=0.2, block_ms=50), bot="bot"
    )
    await gateway.start()
    await bus.start()
    try:
        await gateway.publish(message("once"))
        deliveries = bus.deliveries()
        first = await asyncio.wait_for(anext(deliveries), 30)  # held: read, not acknowledged
        assert bus._heartbeat is not None
        bus._heartbeat.cancel()  # the heartbeat is late (a loaded machine): the entry grows idle
        again: list[str] = []

        async def read_on() -> None:
            async for delivery in deliveries:
                again.append(delivery.message.text)

        reader = asyncio.create_task(read_on())
        await asyncio.sleep(1.5)  # seven idle times: the sweep ran several times
        reader.cancel()
        await first.ack()
        assert again == [], "the worker took the message it still held a second time"
    finally:
        await bus.stop()
        await gateway.stop()
